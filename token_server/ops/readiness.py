"""``GET /readyz``: whether this server can mint right now, for a load balancer's health check.

Two kinds of check. A **required** check (the configuration; CometChat accepts the REST key;
with ``AUTH_JWKS_URL``, the identity provider's keys are loaded) fails when no mint can
succeed: the answer is then 503 with ``"status": "not ready"`` and ``"failing"`` naming it. A
**helper** check (the stores: rate limits, upstream budget, device tokens) names something the
login path survives without, since every guard skips a store that is down: it is reported in
``"degraded"`` and the answer stays 200 ``"status": "ready"``. A balancer must not take every
instance out because a shared Redis is down while they all still mint.

Each check answers ``"ok"`` or a short reason in our own words: never a key, a store's address
or an upstream message.

What a probe costs, whatever the request rate: every check is cached (:class:`CachedCheck`):
asked at most once per interval (the upstream every ``UPSTREAM_EVERY`` seconds, a store every
``STORE_EVERY``), by one request at a time; every other request meanwhile answers the last
result at once instead of queuing behind a probe. A store is also asked behind its breaker
(the one its login path uses): while the breaker is open the store is reported without being
asked, and a probe that fails or hangs (within the stores' bound) opens it, so the other stores on that
server skip it too. A hung Redis thus costs one bounded probe, one connection, per interval.

``/healthz`` stays the liveness check (the process answers; no call anywhere).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from flask import Flask, Response, current_app, jsonify

from cometchat import CometChatClient
from cometchat import errors as upstream
from cometchat.budget import MemoryBudgetStore

from ..config import Settings
from ..nocache import no_store
from ..stores.breaker import StoreBreaker

READYZ_PATH = "/readyz"
CHECKS = "token_server.readiness_checks"
UPSTREAM_EVERY = 30.0  # seconds between two upstream checks, whatever the probe rate
STORE_EVERY = 5.0  # seconds between two probes of one store (the breaker's cooldown)
NOT_CHECKED_YET = "not checked yet (the first check is under way)"
FIRST_WAIT = 1.0  # how long a probe waits for another's FIRST answer (none to repeat yet)

# A check returns None when all is well, else a short reason (no secret in it).
Check = Callable[[], str | None]

log = logging.getLogger("token_server")


@dataclass(frozen=True)
class _Entry:
    check: Check
    helper: bool


def add_check(app: Flask, name: str, check: Check, *, helper: bool = False) -> None:
    """One more thing ``/readyz`` asks, e.g. ``readiness.add_check(app, "session_store", fn)``.
    ``helper=True``: logins go on without it, so its failure is reported as degraded, never 503.
    An expensive ``check`` should be a :class:`CachedCheck`."""
    app.extensions.setdefault(CHECKS, {})[name] = _Entry(check, helper)


class CachedCheck:
    """``check`` asked at most once every ``every`` seconds, by one caller at a time: a caller
    that finds a probe under way answers the last result at once; before there is one, it
    waits for the first probe at most ``first_wait`` seconds, then says :data:`NOT_CHECKED_YET`."""

    def __init__(
        self,
        check: Check,
        *,
        every: float,
        clock: Callable[[], float] = time.monotonic,
        first_wait: float = FIRST_WAIT,
    ) -> None:
        self._check, self._every, self._clock, self._first_wait = check, every, clock, first_wait
        self._lock = threading.Lock()
        self._asked_at: float | None = None
        self._result: str | None = NOT_CHECKED_YET
        self.calls = 0

    def _fresh(self) -> bool:
        return self._asked_at is not None and self._clock() - self._asked_at < self._every

    def __call__(self) -> str | None:
        if self._fresh():
            return self._result
        taken = self._lock.acquire(timeout=self._first_wait) if self._asked_at is None else self._lock.acquire(False)
        if not taken:
            return self._result  # another request is probing: its last answer stands
        try:
            if not self._fresh():
                self.calls += 1
                self._result = self._check()
                self._asked_at = self._clock()
            return self._result
        finally:
            self._lock.release()


class UpstreamCheck(CachedCheck):
    """CometChat accepts the REST key: asked at most once every ``every`` seconds."""

    def __init__(
        self, client: CometChatClient, *, every: float = UPSTREAM_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        super().__init__(self._ask, every=every, clock=clock)

    def _ask(self) -> str | None:
        try:
            next(self._client.iter_users(per_page=1), None)
        except upstream.UpstreamAuthError:
            return "the chat service refused this server's REST key"
        except upstream.RateLimitedError:
            return None  # busy, but it took the key; our own budget refusing also lands here
        except (upstream.UpstreamTimeoutError, upstream.UpstreamUnavailableError, upstream.UpstreamRequestError):
            return "the chat service could not be reached"
        except upstream.CometChatError as exc:
            return f"the chat service answered badly ({type(exc).__name__})"
        return None


def configuration_check(settings: Settings) -> Check:
    def check() -> str | None:
        if settings.emulator:
            return None
        if not (settings.app_id or settings.base_url) or not settings.api_key:
            return "the CometChat app id or REST key is not set"
        if not (settings.dev or settings.has_caller_auth):
            return "no caller authentication is configured"
        return None

    return check


class StoreNotAnswering(Exception):
    """A store's probe answered "not reachable" without raising (the breaker counts it a failure)."""


def store_check(
    reachable: Callable[[], bool],
    name: str,
    *,
    breaker: StoreBreaker | None = None,
    every: float = STORE_EVERY,
    clock: Callable[[], float] = time.monotonic,
) -> CachedCheck:
    """The store ``name`` answers: probed at most once every ``every`` seconds, behind ``breaker``."""
    reason = f"the {name} store is not reachable"
    gate = breaker or StoreBreaker(name)

    def probe() -> bool:
        if not reachable():
            raise StoreNotAnswering(name)
        return True

    def check() -> str | None:
        # While the breaker is open (the login path skips the store) it is not asked at all.
        return None if gate.call(probe, False) else reason

    return CachedCheck(check, every=every, clock=clock)


def budget_store_reachable(store: Any) -> bool:
    """The upstream budget's store answers (always, in process)."""
    if isinstance(store, MemoryBudgetStore):
        return True
    return bool(store.ping())


def jwks_check(keys: Any) -> Check:
    def check() -> str | None:
        return None if keys.ensure_loading() else "the identity provider's signing keys are not loaded"

    return check


def readyz() -> Response:
    entries: dict[str, _Entry] = current_app.extensions.get(CHECKS, {})
    results = {name: entry.check() for name, entry in entries.items()}
    failing = [name for name, reason in results.items() if reason is not None and not entries[name].helper]
    degraded = [name for name, reason in results.items() if reason is not None and entries[name].helper]
    body: dict[str, Any] = {
        "status": "not ready" if failing else "ready",
        "checks": {name: reason or "ok" for name, reason in results.items()},
    }
    if failing:
        body["failing"] = failing
    if degraded:
        body["degraded"] = degraded
    return no_store(jsonify(body), 503 if failing else 200)


def init_app(app: Flask) -> None:
    """Serve ``/readyz`` on ``app``, answering the checks added with :func:`add_check`."""
    app.extensions.setdefault(CHECKS, {})
    app.add_url_rule(READYZ_PATH, "readyz", readyz, methods=["GET"])
