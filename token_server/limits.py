"""Rate limits on every route that calls upstream: one budget per end user and one per
client address, shared by all the routes (CometChat's own limit is per app, so one user
must not spend it on any route). Service callers are trusted backends: not limited.

Failed authentication is limited apart, per client address: past a few dozen 401s a
minute, that address gets 429 on every route until the window frees a slot, whatever
credential it sends, so guessing keys or JWT secrets costs real time. Other addresses are
not touched."""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from . import codes, routes
from .config import Settings
from .errors import ApiError

KEY_PREFIX = "cometchat-token-server"
AUTH_FAILURE_SCOPE = "auth-failures"

log = logging.getLogger("token_server")


def _user_key() -> str:
    return f"user:{routes.current_caller().uid}"


def _preflight() -> bool:
    # A CORS preflight calls nothing upstream and carries no credentials to identify.
    return request.method == "OPTIONS"


def _not_a_user() -> bool:
    return _preflight() or routes.current_caller().kind != "user"


def _is_service() -> bool:
    return _preflight() or routes.current_caller().kind == "service"


def _limit_auth_failures(app: Flask, limiter: Limiter, limit_string: str) -> None:
    """Count the 401s of the routes per client address; past ``limit_string``, 429 up front.

    Registered before the Limiter, so its check runs first: the Limiter's own limits identify
    the caller (a 401) before the view does."""
    items = parse_many(limit_string)

    def keys() -> tuple[str, str, str]:
        return (KEY_PREFIX, AUTH_FAILURE_SCOPE, get_remote_address())

    def counted() -> bool:
        return request.blueprint == routes.bp.name and not _preflight()

    @app.before_request
    def refuse_after_too_many_failures() -> None:
        if not counted():
            return
        try:
            breached = [item for item in items if not limiter.limiter.test(item, *keys())]
            if not breached:
                return
            wait = max(_seconds_until_free(limiter, item, keys()) for item in breached)
        except Exception:  # a shared store that is down must not take minting down with it
            log.warning("auth-failure limit: the rate-limit store failed; not applied", exc_info=True)
            return
        raise ApiError(
            429,
            codes.ERR_TOO_MANY_REQUESTS,
            "Too many failed authentications from this address; retry later.",
            headers={"Retry-After": str(wait)},
        )

    @app.after_request
    def count_failure(response: Response) -> Response:
        if response.status_code == 401 and counted():
            try:
                for item in items:
                    limiter.limiter.hit(item, *keys())
            except Exception:
                log.warning("auth-failure limit: the rate-limit store failed; not counted", exc_info=True)
        return response


def _seconds_until_free(limiter: Limiter, item: RateLimitItem, keys: tuple[str, ...]) -> int:
    reset_at = limiter.limiter.get_window_stats(item, *keys).reset_time
    return min(max(math.ceil(reset_at - time.time()), 1), item.get_expiry())


def _service_on_limited_routes() -> bool:
    return request.blueprint == routes.bp.name and _is_service()


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Limit the routes blueprint on ``app`` with the limits and the store ``settings`` name."""
    limiter = Limiter(
        key_func=get_remote_address,
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
    # Before limiter.init_app: the failure check must run before the Limiter's own.
    _limit_auth_failures(app, limiter, settings.rate_limit_auth_failures)
    limiter.init_app(app)
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
