"""The CometChat token server.

Two ways to start it:

* ``python server.py``: the embedded default. Without CometChat credentials it runs on
  the built-in emulator, in dev mode, on ``$PORT`` or 3000, bound to 127.0.0.1.
* ``gunicorn server:app`` (the Procfile): production. It refuses to start without
  CometChat credentials (or ``COMETCHAT_EMULATOR=1``) and a caller-auth method (or
  ``TOKEN_SERVER_DEV=1``).
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from typing import Any, Mapping

from flask import Flask, Response, jsonify
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, create_emulator_app, register_emulator
from cometchat.inprocess import WSGIAdapter
from token_server.auth import Authenticator
from token_server.config import ConfigError, Settings, load_dotenv_file, load_settings
from token_server.demo import create_demo_blueprint
from token_server.errors import register_error_handlers
from token_server.redaction import install_redaction
from token_server.routes import URL_PREFIX, create_token_blueprint

log = logging.getLogger("token_server")

EMULATOR_MOUNT = "/emulator"
# The in-process emulator answers at this address; ".invalid" can never resolve, so a
# mistake in wiring fails loudly instead of reaching the network.
EMULATOR_BASE_URL = "http://cometchat-emulator.invalid/v3"


def build_client(settings: Settings) -> tuple[CometChatClient, EmulatorState | None]:
    timeouts: dict[str, Any] = {
        "connect_timeout": settings.upstream_connect_timeout,
        "read_timeout": settings.upstream_read_timeout,
        "total_deadline": settings.upstream_deadline,
    }
    if settings.emulator:
        key = secrets.token_urlsafe(24)  # the embedded emulator's own REST key, never shown
        state = EmulatorState(api_keys=[key])
        emulator_app = create_emulator_app(state)
        client = CometChatClient(
            base_url=EMULATOR_BASE_URL, api_key=key, adapter_factory=lambda: WSGIAdapter(emulator_app), **timeouts
        )
        return client, state
    client = CometChatClient(
        settings.app_id, settings.region, settings.api_key or "", base_url=settings.base_url, **timeouts
    )
    return client, None


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """The app factory. ``config``: Settings, or a mapping of the environment variable names
    (tests pass one and never read a developer's ``.env``), or None to read the environment."""
    if config is None:
        load_dotenv_file()
        settings = load_settings(os.environ)
    elif isinstance(config, Settings):
        settings = config
    else:
        settings = load_settings(config)

    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # "//" must not become a redirect (an HTML answer): it is just a bad path.
    app.url_map.merge_slashes = False
    app.extensions["token_server.settings"] = settings
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )

    if not logging.getLogger().handlers:  # under gunicorn: our loggers need a handler too
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction([settings.api_key or "", settings.jwt_secret or "", *settings.service_keys])
    client, emulator_state = build_client(settings)
    app.extensions["token_server.client"] = client
    app.extensions["token_server.emulator"] = emulator_state

    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=settings.ratelimit_storage_uri,
        strategy="moving-window",
        headers_enabled=True,
        # A shared rate-limit store (Redis) that is down must not take minting down with it.
        in_memory_fallback_enabled=not settings.ratelimit_storage_uri.startswith("memory://"),
        key_prefix="cometchat-token-server",
    )
    app.extensions["token_server.limiter"] = limiter
    identify = app.extensions["token_server.authenticator"] = Authenticator(settings)
    tokens = create_token_blueprint(
        client,
        identify,
        limiter=limiter,
        per_user_limit=settings.rate_limit_per_user,
        per_address_limit=settings.rate_limit_per_address,
    )
    app.register_blueprint(tokens, url_prefix=URL_PREFIX)
    if settings.cors_origins:
        # Bearer credentials, no cookies: never Allow-Credentials, never a wildcard.
        CORS(
            app,
            resources={f"{URL_PREFIX}/*": {"origins": list(settings.cors_origins)}},
            supports_credentials=False,
            allow_headers=["Authorization", "Content-Type"],
            methods=["GET", "POST", "OPTIONS"],
            max_age=600,
            vary_header=True,
        )

    @app.get("/healthz")
    @limiter.exempt
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    if settings.dev:
        if emulator_state is not None:
            register_emulator(app, emulator_state, url_prefix=EMULATOR_MOUNT)
        app.register_blueprint(create_demo_blueprint(settings, emulator_url=EMULATOR_MOUNT + "/v3.0"))
        log.warning(
            "DEV MODE (%s): callers are NOT authenticated and the demo page is on. Never expose this server.",
            settings.dev_reason,
        )
    register_error_handlers(app)
    log.info("token server ready: upstream is %s", settings.backend_label)
    return app


def __getattr__(name: str) -> Any:
    # ``app`` is built on first use (gunicorn's ``server:app``), so importing this module
    # for create_app never needs a configured environment.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)


def main() -> None:
    load_dotenv_file()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(os.environ, mode="embedded")
    except ConfigError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        sys.exit(2)
    port = int(os.environ.get("PORT") or 3000)
    application = create_app(settings)
    mode = "dev mode (no caller auth), demo page on" if settings.dev else "caller auth on"
    print(
        f"CometChat token server on http://127.0.0.1:{port} (local only): upstream is {settings.backend_label}, {mode}",
        flush=True,
    )
    application.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False, debug=False)


if __name__ == "__main__":
    main()
