"""The CometChat token server as a Flask app: ``create_app(config=None)``.

The factory reads the settings, builds the one CometChat client, then wires each
extension in its own small step: logging, request ids, metrics, the rate limits, the
dev-mode guard, CORS, the routes, the dev tools (emulator + demo page), the JSON errors.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any, Mapping

from flask import Flask, Response, jsonify
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from cometchat import CometChatClient
from cometchat.budget import UpstreamBudget, budget_store_for
from cometchat.emulator import EmulatorState, create_emulator_app, register_emulator
from cometchat.inprocess import WSGIAdapter

from . import devguard, devjwt, errors, limits, metrics, openapi, requestid, routes
from .auth import Authenticator
from .config import Settings, load_dotenv_file, load_settings
from .demo import create_demo_blueprint
from .logformat import configure_logging
from .redaction import install_redaction

__all__ = ["configure_logging", "create_app"]

log = logging.getLogger("token_server")

SETTINGS = "token_server.settings"
EMULATOR = "token_server.emulator"
EMULATOR_MOUNT = "/emulator"
# The in-process emulator answers at this address; ".invalid" can never resolve, so a
# mistake in wiring fails loudly instead of reaching the network.
EMULATOR_BASE_URL = "http://cometchat-emulator.invalid/v3"


class TokenServerFlask(Flask):
    """Flask, with its automatic ``OPTIONS`` answer made an empty 204 carrying ``Allow``
    instead of a 200 ``text/html`` with nothing in it: every answer of this server is JSON or
    has no body at all. flask-cors adds its headers to this answer, so a preflight still passes
    (browsers take any 2xx)."""

    def make_default_options_response(self) -> Response:
        response = super().make_default_options_response()
        response.status_code = 204
        response.headers.pop("Content-Type", None)
        return response


def create_app(config: Settings | Mapping[str, str] | None = None, *, announce: bool = True) -> Flask:
    """The app factory. ``config``: Settings, or a mapping of the environment variable names
    (tests pass one and never read a developer's ``.env``), or None to read the environment.
    ``announce=False`` leaves out the start-up log lines (``python server.py`` prints its own block)."""
    settings = _load_settings(config)
    app = TokenServerFlask(__name__, static_folder=None)
    _configure_flask(app, settings)
    configure_logging(settings.log_format)
    install_redaction(settings.secrets)
    client, emulator_state = _build_client(settings)
    client.transport.budget = UpstreamBudget(
        budget_store_for(settings.ratelimit_storage_uri), client.base_url, window_seconds=settings.upstream_quota_window
    )
    app.extensions[EMULATOR] = emulator_state

    requestid.init_app(app, settings.secrets)
    metrics.init_app(app, client, settings.metrics_token)

    devguard.init_app(app, settings)  # first: a foreign Host or Origin gets nothing else
    limits.init_app(app, settings)
    _init_cors(app, settings)
    dev_jwt = devjwt.issuer_for(settings)
    routes.init_app(app, client, Authenticator(settings, dev_jwt))
    app.add_url_rule("/healthz", "healthz", _healthz, methods=["GET"])
    openapi.init_app(app)
    if settings.dev:
        _init_dev_tools(app, settings, emulator_state)
    if dev_jwt is not None:
        devjwt.init_app(app, dev_jwt)
    errors.init_app(app)
    if announce:
        _announce(settings)
    return app


def _announce(settings: Settings) -> None:
    if settings.dev:
        log.warning(
            "DEV MODE (%s): callers are NOT authenticated and the demo page is on. Never expose this server.",
            settings.dev_reason,
        )
    log.info("token server ready: upstream is %s", settings.backend_label)


def _load_settings(config: Settings | Mapping[str, str] | None) -> Settings:
    if isinstance(config, Settings):
        return config
    if config is None:
        load_dotenv_file()
        return load_settings(os.environ)
    return load_settings(config)


def _configure_flask(app: Flask, settings: Settings) -> None:
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # "//" must not become a redirect (an HTML answer): it is just a bad path.
    app.url_map.merge_slashes = False
    app.extensions[SETTINGS] = settings
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )


def _build_client(settings: Settings) -> tuple[CometChatClient, EmulatorState | None]:
    timeouts: dict[str, Any] = {
        "connect_timeout": settings.upstream_connect_timeout,
        "read_timeout": settings.upstream_read_timeout,
        "total_deadline": settings.upstream_deadline,
    }
    if not settings.emulator:
        client = CometChatClient(
            settings.app_id,
            settings.region,
            settings.api_key or "",
            base_url=settings.base_url,
            proxy=settings.proxy,
            ca_bundle=settings.ca_bundle,
            **timeouts,
        )
        return client, None
    key = secrets.token_urlsafe(24)  # the embedded emulator's own REST key, never shown
    state = EmulatorState(api_keys=[key])
    emulator_app = create_emulator_app(state)
    client = CometChatClient(
        base_url=EMULATOR_BASE_URL, api_key=key, adapter_factory=lambda: WSGIAdapter(emulator_app), **timeouts
    )
    return client, state


def _init_cors(app: Flask, settings: Settings) -> None:
    if not settings.cors_origins:
        return
    # Bearer credentials, no cookies: never Allow-Credentials, never a wildcard.
    CORS(
        app,
        resources={f"{routes.URL_PREFIX}/*": {"origins": list(settings.cors_origins)}},
        supports_credentials=False,
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=[requestid.REQUEST_ID_HEADER],  # a front end can quote it in a bug report
        methods=["GET", "POST", "PATCH", "OPTIONS"],
        max_age=600,
        vary_header=True,
    )


def _healthz() -> Response:
    return jsonify({"status": "ok"})


def _init_dev_tools(app: Flask, settings: Settings, emulator_state: EmulatorState | None) -> None:
    if emulator_state is not None:
        register_emulator(app, emulator_state, url_prefix=EMULATOR_MOUNT)
    app.register_blueprint(create_demo_blueprint(settings, emulator_url=EMULATOR_MOUNT + "/v3.0"))
