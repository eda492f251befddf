"""Dev mode is a local tool: it answers only requests from this machine, addressed to a
loopback name, and never one sent by a page from another origin."""

from __future__ import annotations

from flask import Flask, request

from .. import codes
from ..config import Settings
from ..errors import ApiError
from ..loopback import is_loopback


def _hostname(host: str) -> str:
    """``host[:port]`` without the port (``[::1]:3000`` -> ``[::1]``), lowercased."""
    host = host.lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def _client_addresses() -> tuple[str | None, ...]:
    """The socket's peer (kept by ProxyFix when it rewrites) and the client as seen now."""
    original = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", request.remote_addr)
    return (original, request.remote_addr)


def init_app(app: Flask, settings: Settings) -> None:
    if not settings.dev:
        return
    allowed_origins = frozenset(settings.cors_origins)

    @app.before_request
    def local_only() -> None:
        """Refuse what is not this machine's own (dev mode mints for anyone who asks). The Host
        header alone proves nothing (any client but a browser writes what it likes), so both
        client addresses must be loopback: the socket's peer and, with ``TRUSTED_PROXIES``, the
        one ProxyFix takes from ``X-Forwarded-For``. The Host must be a loopback name (DNS
        rebinding points a foreign name at 127.0.0.1), and a foreign ``Origin`` is refused (a
        cross-site form or ``text/plain`` post needs no CORS preflight)."""
        if not all(is_loopback(address) for address in _client_addresses()):
            raise ApiError(403, codes.ERR_NOT_LOCAL, "This development server answers only this machine.")
        # 400, as Flask's TRUSTED_HOSTS and Django's ALLOWED_HOSTS answer: the request
        # names a site this server is not; it is not a question of who may do what.
        if not is_loopback(_hostname(request.host)):
            raise ApiError(400, codes.ERR_BAD_HOST, "This development server answers only on localhost.")
        origin = request.headers.get("Origin")
        if origin is not None and origin != request.host_url.rstrip("/") and origin not in allowed_origins:
            raise ApiError(403, codes.ERR_FOREIGN_ORIGIN, "This development server answers only its own pages.")
