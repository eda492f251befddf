"""Rate limits on every route that calls upstream: one budget per end user and one per
client address, shared by all the routes (CometChat's own limit is per app, so one user
must not spend it on any route). Service callers are trusted backends: not limited."""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from . import routes
from .config import Settings

KEY_PREFIX = "cometchat-token-server"


def _user_key() -> str:
    return f"user:{routes.current_caller().uid}"


def _preflight() -> bool:
    # A CORS preflight calls nothing upstream and carries no credentials to identify.
    return request.method == "OPTIONS"


def _not_a_user() -> bool:
    return _preflight() or routes.current_caller().kind != "user"


def _is_service() -> bool:
    return _preflight() or routes.current_caller().kind == "service"


def _service_on_limited_routes() -> bool:
    return request.blueprint == routes.bp.name and _is_service()


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Limit the routes blueprint on ``app`` with the limits and the store ``settings`` name."""
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=settings.ratelimit_storage_uri,
        strategy="moving-window",
        # No X-RateLimit / Retry-After on every answer: Retry-After belongs to 429 and 503
        # only, and a 503's comes from CometChat (token_server.errors sets both).
        headers_enabled=False,
        # A shared rate-limit store (Redis) that is down must not take minting down with it.
        in_memory_fallback_enabled=not settings.ratelimit_storage_uri.startswith("memory://"),
        key_prefix=KEY_PREFIX,
    )
    # Service callers skip the limiter's whole bookkeeping (resolving and filtering every
    # limit per request), not only each limit's counting.
    limiter.request_filter(_service_on_limited_routes)
    limiter.shared_limit(
        settings.rate_limit_per_user, scope="cometchat-user", key_func=_user_key, exempt_when=_not_a_user
    )(routes.bp)
    limiter.shared_limit(
        settings.rate_limit_per_address,
        scope="cometchat-address",
        key_func=get_remote_address,
        exempt_when=_is_service,
    )(routes.bp)
    return limiter
