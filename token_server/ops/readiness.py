"""``GET /readyz``: whether this server can mint right now, for a load balancer's health check.

200 ``{"status": "ready", "checks": {...}}`` when every check passes; else 503 with
``"status": "not ready"`` and ``"failing"`` naming the checks that failed. A degraded check
(:func:`add_degraded_check`: something logins do without, such as the webhook queue) shows
its reason in ``"checks"`` and its name in ``"degraded"``, and never makes the answer a 503. Each check answers
``"ok"`` or a short reason in our own words: never a key, a URL with credentials or an
upstream message.

The checks: the configuration; the upstream (CometChat accepts the REST key: one cheap call,
``GET /users?perPage=1``, at most once every ``UPSTREAM_EVERY`` seconds, its result cached);
the stores (rate limits, upstream budget; another module adds its own store with
:func:`add_check`); with ``AUTH_JWKS_URL``, the identity provider's keys are loaded. Every
check is bounded: the stores by their 250 ms timeouts, the upstream by the client's deadline.

``/healthz`` stays the liveness check (the process answers; no call anywhere).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from flask import Flask, Response, current_app, jsonify

from cometchat import CometChatClient
from cometchat import errors as upstream
from cometchat.budget import MemoryBudgetStore

from ..config import Settings
from ..nocache import no_store

READYZ_PATH = "/readyz"
CHECKS = "token_server.readiness_checks"
DEGRADED_CHECKS = "token_server.readiness_degraded_checks"
UPSTREAM_EVERY = 30.0  # seconds between two upstream checks, whatever the probe rate

# A check returns None when all is well, else a short reason (no secret in it).
Check = Callable[[], str | None]

log = logging.getLogger("token_server")


def add_check(app: Flask, name: str, check: Check) -> None:
    """One more thing ``/readyz`` asks, e.g. ``readiness.add_check(app, "session_store", fn)``."""
    app.extensions.setdefault(CHECKS, {})[name] = check


def add_degraded_check(app: Flask, name: str, check: Check) -> None:
    """One more thing ``/readyz`` reports without ever failing on it (a 200 says "degraded")."""
    app.extensions.setdefault(DEGRADED_CHECKS, {})[name] = check


class UpstreamCheck:
    """CometChat accepts the REST key: asked at most once every ``every`` seconds."""

    def __init__(
        self, client: CometChatClient, *, every: float = UPSTREAM_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client, self._every, self._clock = client, every, clock
        self._lock = threading.Lock()
        self._asked_at: float | None = None
        self._result: str | None = None
        self.calls = 0

    def __call__(self) -> str | None:
        with self._lock:  # one probe at a time asks; the others wait at most its deadline
            now = self._clock()
            if self._asked_at is None or now - self._asked_at >= self._every:
                self._result = self._ask()
                self._asked_at = self._clock()
            return self._result

    def _ask(self) -> str | None:
        self.calls += 1
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


def store_check(reachable: Callable[[], bool], name: str) -> Check:
    def check() -> str | None:
        try:
            if reachable():
                return None
        except Exception as exc:  # a store client raising instead of answering False
            log.debug("readiness: %s store: %s", name, type(exc).__name__)
        return f"the {name} store is not reachable"

    return check


def budget_store_reachable(store: Any) -> bool:
    """The upstream budget's store answers (always, in process)."""
    if isinstance(store, MemoryBudgetStore):
        return True
    ping = getattr(store, "ping", None)
    if ping is None:  # RedisBudgetStore: its client
        ping = store._client.ping
    return bool(ping())


def jwks_check(keys: Any) -> Check:
    def check() -> str | None:
        return None if keys.ensure_loading() else "the identity provider's signing keys are not loaded"

    return check


def readyz() -> Response:
    checks: dict[str, Check] = current_app.extensions.get(CHECKS, {})
    results = {name: check() for name, check in checks.items()}
    failing = [name for name, reason in results.items() if reason is not None]
    degraded_checks: dict[str, Check] = current_app.extensions.get(DEGRADED_CHECKS, {})
    degraded_results = {name: check() for name, check in degraded_checks.items()}
    degraded = [name for name, reason in degraded_results.items() if reason is not None]
    body: dict[str, Any] = {
        "status": "not ready" if failing else "ready",
        "checks": {name: reason or "ok" for name, reason in {**results, **degraded_results}.items()},
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
