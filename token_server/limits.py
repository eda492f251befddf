"""Rate limits on the routes, a pipeline step that only reads the caller from ``flask.g``.

* Per end user: one budget, shared by every route that calls upstream (CometChat's own limit
  is per app, so one user must not spend it on any route). Per client address: the same, for
  callers identified neither as a user nor as a service (dev mode, a host app's own kinds):
  valid users behind one balancer never share an address's budget. Service callers are
  trusted backends: not limited.
* Failed authentication, per client address: a refused credential (401) is counted; past the
  limit, further refused credentials from that address get 429 instead of 401, so guessing
  keys or JWT secrets costs real time. A valid credential is never refused by this limit:
  behind a proxy without ``TRUSTED_PROXIES`` every client shares the proxy's address, and one
  stranger's junk must not lock out everyone else. ``/metrics`` failures count too.

The counts live in the ``RATELIMIT_STORAGE_URI`` store (moving windows, from the ``limits``
library, the engine under Flask-Limiter). Every round trip to a shared store is bounded (the
stores' bound, ``STORE_TIMEOUT``) and goes through a
:class:`~token_server.stores.breaker.StoreBreaker`: a store that failed is skipped for a while
(the request goes on, unlimited), its outage logged once and its recovery once. A store down
never refuses a login.

The client address is the socket's peer, or with ``TRUSTED_PROXIES`` the one ProxyFix takes
from ``X-Forwarded-For``, keyed as a client (:mod:`token_server.clientaddr`: no port, no
brackets, IPv6 by its /64).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from . import caller, codes, pipeline
from .auth import Caller
from .clientaddr import DEFAULT_IPV6_PREFIX, client_key
from .config import LimitSettings
from .errors import ApiError
from .stores.breaker import STORE_TIMEOUT, StoreBreaker, StoreGates

KEY_PREFIX = "cometchat-token-server"
AUTH_FAILURE_SCOPE = "auth-failures"
USER_SCOPE = "cometchat-user"
ADDRESS_SCOPE = "cometchat-address"
LIMITS = "token_server.limits"


def storage_options(uri: str) -> dict[str, Any]:
    """What bounds a store's round trips: ``STORE_TIMEOUT`` to connect and to read, and no retry (redis-py
    8 retries a timeout ten times by default, which made one hung Redis a 15 s login)."""
    if not uri.startswith("redis"):
        return {}
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {"socket_timeout": STORE_TIMEOUT, "socket_connect_timeout": STORE_TIMEOUT}
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        options["retry"] = Retry(NoBackoff(), 0)
    return options


class LimitStore:
    """Moving windows in one store, each call bounded and behind the store's breaker."""

    def __init__(self, uri: str, *, breaker: StoreBreaker | None = None) -> None:
        storage = storage_from_string(uri, **storage_options(uri))
        if not isinstance(storage, Storage):
            raise ValueError(f"{uri.split(':')[0]}: an asyncio store cannot serve this server")
        self.storage: Storage = storage
        self.breaker = breaker or StoreBreaker("rate-limit")
        self._window = MovingWindowRateLimiter(self.storage)

    def hit(self, item: RateLimitItem, *keys: str) -> bool:
        """Count one request; False when ``item`` is already spent. True while the store is out."""
        return self.breaker.call(lambda: self._window.hit(item, KEY_PREFIX, *keys), True)

    def seconds_until_free(self, item: RateLimitItem, *keys: str) -> int:
        """Whole seconds until ``item`` frees a slot: at least 1, at most its window."""
        window = item.get_expiry()
        stats = self.breaker.call(lambda: self._window.get_window_stats(item, KEY_PREFIX, *keys), None)
        if stats is None:
            return window
        return min(max(math.ceil(stats.reset_time - time.time()), 1), window)

    def reachable(self) -> bool:
        """One bounded round trip (for readiness); not through the breaker."""
        return bool(self.storage.check())


@dataclass(frozen=True)
class RateLimits:
    store: LimitStore
    per_user: Sequence[RateLimitItem]
    per_address: Sequence[RateLimitItem]
    auth_failures: Sequence[RateLimitItem]
    ipv6_prefix: int = DEFAULT_IPV6_PREFIX

    @classmethod
    def from_settings(cls, settings: LimitSettings, gates: StoreGates | None = None) -> RateLimits:
        """The limits and the store ``settings`` name, the store behind its server's gate in ``gates``."""
        uri = settings.ratelimit_storage_uri
        return cls(
            LimitStore(uri, breaker=(gates or StoreGates()).breaker("rate-limit", uri)),
            parse_many(settings.rate_limit_per_user),
            parse_many(settings.rate_limit_per_address),
            parse_many(settings.rate_limit_auth_failures),
            settings.rate_limit_ipv6_prefix,
        )

    def first_spent(self, items: Sequence[RateLimitItem], *keys: str) -> RateLimitItem | None:
        for item in items:
            if not self.store.hit(item, *keys):
                return item
        return None

    def too_many(self, item: RateLimitItem, keys: tuple[str, ...], message: str) -> ApiError:
        wait = self.store.seconds_until_free(item, *keys)
        return ApiError(429, codes.ERR_TOO_MANY_REQUESTS, message, headers={"Retry-After": str(wait)})

    def judge_failure(self, refusal: ApiError, address: str | None) -> ApiError:
        """A refused credential from ``address`` (the client's, as the host sees it): counted;
        429 once the address is past its limit. Any host's step (Flask's, the FastAPI router's)."""
        keys = (AUTH_FAILURE_SCOPE, client_key(address, self.ipv6_prefix))
        spent = self.first_spent(self.auth_failures, *keys)
        if spent is None:
            return refusal
        return self.too_many(spent, keys, "Too many failed authentications from this address; retry later.")

    @staticmethod
    def exempt(who: Caller | None) -> bool:
        """Preflights and trusted backends: no budget is counted (no store call to make)."""
        return who is None or who.kind == "service"

    def check(self, who: Caller | None, address: str | None) -> None:
        """A user's own budget; the address's budget for anyone else (raises the 429)."""
        if self.exempt(who):
            return
        if who.kind == "user" and who.uid is not None:
            # Users behind one balancer (or one carrier's NAT) share an address, never a budget.
            items, keys = self.per_user, (USER_SCOPE, who.uid)
        else:
            items, keys = self.per_address, (ADDRESS_SCOPE, client_key(address, self.ipv6_prefix))
        spent = self.first_spent(items, *keys)
        if spent is not None:
            raise self.too_many(spent, keys, "Too many requests; slow down and retry later.")


def client_address() -> str:
    """This request's client, as the limits key it (``1.2.3.4:5678`` is ``1.2.3.4``)."""
    return client_key(request.remote_addr, current().ipv6_prefix)


def current() -> RateLimits:
    limits: RateLimits = current_app.extensions[LIMITS]
    return limits


def judge_auth_failure(refusal: ApiError) -> ApiError:
    """A refused credential: counted for its address; 429 once the address is past its limit."""
    return current().judge_failure(refusal, request.remote_addr)


def check_limits() -> None:
    """The pipeline step: a user's own budget; the address's budget for anyone else."""
    current().check(caller.identified(), request.remote_addr)


def init_app(app: Flask, settings: LimitSettings) -> RateLimits:
    """Limit ``app``'s routes with the limits and the store ``settings`` name: the limits section
    alone (``LimitSettings(rate_limit_per_user="10 per minute")``) or a whole Settings, which is
    one too. Comes after the caller step (:func:`token_server.caller.init_app`, or
    ``routes.init_app`` with an identify function): the limits read the caller it found."""
    if not caller.installed(app):
        raise RuntimeError("add the caller step (routes.init_app or caller.init_app) before limits.init_app")
    limits = RateLimits.from_settings(settings, pipeline.store_gates(app))
    app.extensions[LIMITS] = limits
    app.extensions[caller.FAILURE_JUDGE] = judge_auth_failure
    pipeline.add_step(app, check_limits)
    return limits
