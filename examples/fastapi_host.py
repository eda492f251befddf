"""The smallest real FastAPI host of the routes: ``uvicorn examples.fastapi_host:app --workers 2
--port $PORT`` from the repository root.

It reads the stand-alone server's variables under their own names, builds the async client, the
device tokens and the rate limits through the server's public wiring, and identifies callers
as the server does (service keys, end users' JWTs standing in for your own login: pass your
``identify`` callable, or ``Depends(current_user)``, returning a ``Caller``). Without any
``COMETCHAT_*`` credentials it runs on the embedded emulator, offline (one per worker: for
several workers sharing one, run ``python -m cometchat.emulator`` and set ``COMETCHAT_BASE_URL``
and ``COMETCHAT_API_KEY``). Device tokens: ``SESSION_STORE_URI``, else the Redis of
``RATELIMIT_STORAGE_URI``, else the SQLite file every worker of this host shares, as the server's.
CometChat's webhooks: with ``WEBHOOK_CREDENTIALS`` set, ``POST /api/cometchat/webhooks`` and the
presence route, the events in that same store (``WEBHOOK_HANDLER`` names a handler, as for the server).
"""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from token_server import configure_logging
from token_server.auth import Authenticator, Caller
from token_server.config import ConfigError
from token_server.fastapi import build_async_client, cometchat_router, install_error_answers
from token_server.fastapi.nodelay import no_delay_on_listeners
from token_server.hosting import host_settings
from token_server.ops import metrics
from token_server.ops.gc_freeze import freeze_loaded_objects
from token_server.stores.breaker import StoreGates
from token_server.wiring import build_rate_limits, host_deprovisioned, host_device_tokens, host_webhooks

try:
    settings = host_settings()
except ConfigError as exc:
    print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None

configure_logging(settings.log_format)
no_delay_on_listeners()  # uvicorn --workers N leaves Nagle on: +44 ms an answer (token_server/fastapi/nodelay.py)
gates = StoreGates()  # the client's budget, the limits and the device tokens skip a hung store together
client, _emulator = build_async_client(settings, metrics.upstream_observers(settings.metrics_token), gates=gates)
authenticator = Authenticator(settings)  # your own login here: identify(request) -> Caller, or Depends(...)
if authenticator.jwks is None:

    async def identify(request: Request) -> Caller:
        """Service keys and HS256 JWTs: microseconds of CPU and no I/O, checked on the loop
        (a thread hop would cost more); with AUTH_JWKS_URL, which may fetch keys, the router's
        threads run the authenticator instead."""
        return authenticator(request)

else:
    identify = authenticator

router = cometchat_router(
    client,
    identify,
    device_tokens=host_device_tokens(gates=gates),
    deprovisioned=host_deprovisioned(gates=gates),
    limits=build_rate_limits(settings, gates),
    allowed_origins=settings.cors_origins,
    trusted_proxies=settings.trusted_proxies,
    max_body=settings.max_body,
    secrets=settings.secrets,
    webhooks=host_webhooks(settings),  # POST /webhooks with WEBHOOK_CREDENTIALS set; its worker starts with the app
)

app = FastAPI()
app.include_router(router, prefix="/api/cometchat")
install_error_answers(app)
if settings.cors_origins:
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
        max_age=600,
    )


@app.get("/host/ping")
async def ping() -> dict[str, bool]:  # the host's own route
    return {"pong": True}


freeze_loaded_objects()  # the app is built: full GC passes skip it (token_server/ops/gc_freeze.py)
