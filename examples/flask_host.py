"""The smallest real Flask host of the routes: ``gunicorn --workers 2 --bind 127.0.0.1:$PORT
examples.flask_host:app`` from the repository root.

It reads the stand-alone server's variables under their own names, builds the client, the
device tokens and the rate limits through the server's public wiring, and identifies callers
as the server does (service keys, end users' JWTs standing in for your own login: pass your
``identify(request) -> Caller`` instead). Without any ``COMETCHAT_*`` credentials it runs on
the embedded emulator, offline (one per worker: for several workers sharing one, run
``python -m cometchat.emulator`` and set ``COMETCHAT_BASE_URL`` and ``COMETCHAT_API_KEY``).
Device tokens: ``SESSION_STORE_URI``, else the Redis of ``RATELIMIT_STORAGE_URI``, else the
SQLite file every worker of this host shares, as the server's. CometChat's webhooks: with
``WEBHOOK_CREDENTIALS`` set, ``POST /api/cometchat/webhooks`` and the presence route, the events
in that same store (``WEBHOOK_HANDLER`` names a handler, as for the server).
"""

from __future__ import annotations

import sys

from flask import Flask, jsonify
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from token_server import configure_logging, errors, limits, requestid, routes
from token_server.auth import Authenticator
from token_server.config import ConfigError
from token_server.hosting import host_settings
from token_server.ops import metrics
from token_server.ops.gc_freeze import freeze_loaded_objects
from token_server.webhooks import flask_route as webhook_route
from token_server.wiring import build_client, host_deprovisioned, host_device_tokens, host_webhooks, store_gates

try:
    settings = host_settings()
except ConfigError as exc:
    print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None

configure_logging(settings.log_format)
app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = settings.max_body
if settings.trusted_proxies:
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
requestid.init_app(app, settings.secrets)
if settings.cors_origins:
    CORS(app, resources={f"{routes.URL_PREFIX}/*": {"origins": list(settings.cors_origins)}}, max_age=600)

gates = store_gates(app)  # the client's budget, the limits and the device tokens skip a hung store together
observers = metrics.upstream_observers(settings.metrics_token)
client, _emulator = build_client(settings, observers, with_budget=True, gates=gates)
routes.init_app(
    app,
    client,
    Authenticator(settings),  # your own login here: identify(request) -> Caller
    allowed_origins=settings.cors_origins,
    device_tokens=host_device_tokens(gates=gates),
    deprovisioned=host_deprovisioned(gates=gates),
)
limits.init_app(app, settings)
errors.init_app(app)
webhook_route.init_app(app, host_webhooks(settings))  # POST /webhooks with WEBHOOK_CREDENTIALS set


@app.get("/host/ping")
def ping():  # the host's own route
    return jsonify({"pong": True})


freeze_loaded_objects()  # the app is built: full GC passes skip it (token_server/ops/gc_freeze.py)
