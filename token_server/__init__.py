"""The CometChat token server as a Flask app: ``create_app(config=None)``, which reads as a table
of contents (settings, the one client, the request pipeline, the side routes, the dev tools)."""

from __future__ import annotations

import logging
import os
from typing import Mapping

from flask import Flask, Response, jsonify
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, register_emulator

from . import caller, errors, limits, requestid, routes, sameorigin
from .auth import Authenticator
from .config import Settings, load_dotenv_file, load_settings
from .dev import devguard, devjwt, devtrace, selfwebhooks, webhooktrace
from .dev.demo import create_demo_blueprint
from .ops import metrics, openapi, readiness
from .ops.logformat import configure_logging
from .ops.redaction import install_redaction
from .pipeline import URL_PREFIX
from .webhooks import build as build_webhooks
from .webhooks import flask_route as webhook_route
from .wiring import EMULATOR_BASE_URL, build_client, build_deprovisioned, build_device_tokens, store_gates

__all__ = ["EMULATOR_BASE_URL", "build_deprovisioned", "build_device_tokens", "configure_logging", "create_app"]

log = logging.getLogger("token_server")

SETTINGS = "token_server.settings"
EMULATOR = "token_server.emulator"
EMULATOR_MOUNT = "/emulator"


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
    # (The embedded default's webhook pair is generated here, before the log filter learns the secrets.)
    settings = _load_settings(config).with_dev_credentials()
    app = TokenServerFlask(__name__, static_folder=None)
    _configure_flask(app, settings)
    configure_logging(settings.log_format)
    install_redaction(settings.secrets)
    # The stores on one server (rate limits, upstream budget, device tokens) skip it together.
    gates = store_gates(app)
    client, emulator_state = build_client(
        settings, metrics.upstream_observers(settings.metrics_token), with_budget=True, gates=gates
    )
    app.extensions[EMULATOR] = emulator_state

    dev_jwt = devjwt.issuer_for(settings)
    authenticator = Authenticator(settings, dev_jwt)
    rate_limits = _init_request_pipeline(app, settings, client, authenticator)

    metrics.init_app(app, settings.metrics_token)
    app.add_url_rule("/healthz", "healthz", _healthz, methods=["GET"])
    _init_readiness(app, settings, client, authenticator, rate_limits)
    openapi.init_app(app)
    if settings.dev:
        devtrace.init_app(app, settings, client)  # each answer tells the demo page its upstream calls
        _init_dev_tools(app, settings, emulator_state)
    if dev_jwt is not None:
        devjwt.init_app(app, dev_jwt)
    if announce:
        _announce(settings)
    return app


def _init_request_pipeline(
    app: Flask, settings: Settings, client: CometChatClient, authenticator: Authenticator
) -> limits.RateLimits:
    """The request pipeline's steps, in the order :mod:`token_server.pipeline` tells."""
    requestid.init_app(app, settings.secrets)  # step 1
    devguard.init_app(app, settings)  # app-wide: runs before every step
    _init_cors(app, settings)  # app-wide (CORS_ORIGINS)
    sameorigin.init_app(app, settings.cors_origins)  # step 2
    caller.init_app(app, authenticator)  # step 3
    rate_limits = limits.init_app(app, settings)  # step 4
    gates = store_gates(app)
    routes.init_app(  # step 5: the core's rules, with the device logins' store and deleted users' tombstones
        app,
        client,
        device_tokens=build_device_tokens(settings, gates),
        deprovisioned=build_deprovisioned(settings, gates),
    )
    # CometChat's webhooks: on the app, outside the routes' steps 2-4 (Basic Auth of their own).
    webhook_route.init_app(app, build_webhooks(settings, settings.session_store_uri))
    errors.init_app(app)  # step 6
    return rate_limits


def _init_readiness(
    app: Flask,
    settings: Settings,
    client: CometChatClient,
    authenticator: Authenticator,
    rate_limits: limits.RateLimits,
) -> None:
    readiness.init_app(app)
    readiness.add_check(app, "configuration", readiness.configuration_check(settings))
    readiness.add_check(app, "upstream", readiness.UpstreamCheck(client))
    # The stores are helpers: logins go on without them (degraded, never 503), each probed
    # behind the breaker its login path uses.
    store = rate_limits.store
    limit_check = readiness.store_check(store.reachable, "rate-limit", breaker=store.breaker)
    readiness.add_check(app, "rate_limit_store", limit_check, helper=True)
    budget = client.transport.budget
    if budget is not None:
        budget_store = budget.store
        readiness.add_check(
            app,
            "budget_store",
            readiness.store_check(
                lambda: readiness.budget_store_reachable(budget_store),
                "budget",
                breaker=getattr(budget_store, "breaker", None),
            ),
            helper=True,
        )
    device_tokens = routes.device_tokens_of(app)

    def session_store_answers() -> bool:
        device_tokens.ping()  # raises when the store does not answer
        return True

    session_check = readiness.store_check(session_store_answers, "session", breaker=device_tokens.breaker)
    readiness.add_check(app, "session_store", session_check, helper=True)
    if authenticator.jwks is not None:
        readiness.add_check(app, "jwks", readiness.jwks_check(authenticator.jwks))


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


def _init_cors(app: Flask, settings: Settings) -> None:
    if not settings.cors_origins:
        return
    # Bearer credentials, no cookies: never Allow-Credentials, never a wildcard.
    CORS(
        app,
        resources={f"{URL_PREFIX}/*": {"origins": list(settings.cors_origins)}},
        supports_credentials=False,
        # A front end may send its own X-Request-ID to find its login in our logs (docs/operations.md).
        allow_headers=["Authorization", "Content-Type", requestid.REQUEST_ID_HEADER],
        expose_headers=[requestid.REQUEST_ID_HEADER],  # a front end can quote it in a bug report
        methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        max_age=600,
        vary_header=True,
    )


def _healthz() -> Response:
    return jsonify({"status": "ok"})


def _init_dev_tools(app: Flask, settings: Settings, emulator_state: EmulatorState | None) -> None:
    if emulator_state is not None:
        register_emulator(app, emulator_state, url_prefix=EMULATOR_MOUNT)
        selfwebhooks.init_app(app, settings, emulator_state)  # its webhooks reach this app's receiver
    trace = webhooktrace.init_app(app, settings)  # the demo page hears what the receiver got
    app.register_blueprint(
        create_demo_blueprint(settings, emulator_url=EMULATOR_MOUNT + "/v3.0", webhook_trace=trace)
    )
