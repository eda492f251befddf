"""Dev mode is a local tool: it answers only requests addressed to a loopback name, and
never one sent by a page from another origin.

Dev mode mints tokens for anyone who asks, so a web page must not be able to reach it:
DNS rebinding points a foreign name at 127.0.0.1 (the Host header still names the
foreign site), and a cross-site form or ``text/plain`` post needs no CORS preflight
(the browser still sends its ``Origin``).
"""

from __future__ import annotations

from flask import Flask, request

from .config import Settings
from .errors import ApiError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def _hostname(host: str) -> str:
    """``host[:port]`` without the port (``[::1]:3000`` -> ``[::1]``), lowercased."""
    host = host.lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def init_app(app: Flask, settings: Settings) -> None:
    if not settings.dev:
        return
    allowed_origins = frozenset(settings.cors_origins)

    @app.before_request
    def local_only() -> None:
        # 400, as Flask's TRUSTED_HOSTS and Django's ALLOWED_HOSTS answer: the request
        # names a site this server is not; it is not a question of who may do what.
        if _hostname(request.host) not in LOOPBACK_HOSTS:
            raise ApiError(400, "ERR_BAD_HOST", "This development server answers only on localhost.")
        origin = request.headers.get("Origin")
        if origin is not None and origin != request.host_url.rstrip("/") and origin not in allowed_origins:
            raise ApiError(403, "ERR_FOREIGN_ORIGIN", "This development server answers only its own pages.")
