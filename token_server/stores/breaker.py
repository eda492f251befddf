"""The breaker every shared store on the login path goes through (rate limits, upstream budget,
device tokens), and the stores' bound, ``STORE_TIMEOUT``: a store is a helper, never a gate."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

log = logging.getLogger("cometchat.stores")

# The stores' bound: every store round trip on the login path (connect, each read, SQLite's busy
# wait) gives up after this, with no retry; the breaker then skips the store for a cooldown.
# redis-py's default of ten retries turned one hung Redis into a 15 s login; with this bound a
# hung store costs a login 250 ms at most, then is skipped for the cooldown. For operators:
# docs/security.md.
STORE_TIMEOUT = 0.25
DEFAULT_COOLDOWN = 1.0


class _Gate:
    """What the stores on one server share: when one of them times out, the others skip that
    server too, so a login waits for a hung Redis once, not once per store on it."""

    def __init__(self) -> None:
        self.open_until = 0.0


def server_of(uri: str) -> str | None:
    """The network server a store URI names (``scheme://host:port``, no credentials, no
    database), or None for a store in this process or a local file."""
    parts = urlsplit(uri)
    if not parts.hostname or parts.scheme in ("memory", "sqlite", "file"):
        return None
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"


class StoreGates:
    """One gate per store server, for the stores of one app (its rate limits, upstream budget
    and device tokens): give each store's breaker ``gates.for_uri(uri)``."""

    def __init__(self) -> None:
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()

    def for_uri(self, uri: str) -> _Gate:
        server = server_of(uri)
        if server is None:
            return _Gate()  # a store of its own: nothing to share
        with self._lock:
            return self._gates.setdefault(server, _Gate())

    def breaker(self, name: str, uri: str) -> StoreBreaker:
        """A breaker for the store ``name`` at ``uri``, opening with the others on its server."""
        return StoreBreaker(name, gate=self.for_uri(uri))


class StoreBreaker:
    """Skips a failing store for ``cooldown`` seconds; logs the outage once, the recovery once.
    Breakers given one ``gate`` (``StoreGates.for_uri``: stores on one server) open together.

    After the cooldown one call probes the store (half-open) while the others keep skipping
    it: a blip costs about a second of fallbacks, and a store that stays down costs one bounded
    call per cooldown per process. While open, the caller takes its fallback (the call goes
    ahead): a store that is down must not take minting down."""

    def __init__(
        self,
        name: str,
        *,
        gate: _Gate | None = None,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.name = name
        self.cooldown = cooldown
        self._clock = clock
        self._log = logger
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._gate = gate or _Gate()
        self._down = False  # an outage was logged and no success has been seen since

    @property
    def is_down(self) -> bool:
        """True from a failure until the next success (for readiness and metrics)."""
        return self._down

    def available(self) -> bool:
        """False while the breaker (or another on the same server) is open: take the fallback."""
        return self._clock() >= max(self._open_until, self._gate.open_until)

    def _admit(self) -> bool:
        """May this call go to the store? After an outage, only one probe per cooldown does."""
        with self._lock:
            now = self._clock()
            if now < max(self._open_until, self._gate.open_until):
                return False
            if self._down:  # half-open: this call probes; the others skip until it answers
                self._open_until = now + self.cooldown
            return True

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._open_until = self._clock() + self.cooldown
            self._gate.open_until = max(self._gate.open_until, self._open_until)
            first = not self._down
            self._down = True
        if first:
            self._log.warning(
                "%s store failed (%s: %s); skipped for %.0f s at a time until it answers again",
                self.name,
                type(exc).__name__,
                exc,
                self.cooldown,
            )

    def succeeded(self) -> None:
        if not self._down:
            return
        with self._lock:
            recovered = self._down
            self._down = False
            self._open_until = 0.0
        if recovered:
            self._log.info("%s store recovered", self.name)

    def call(self, fn: Callable[[], T], fallback: T) -> T:
        """``fn()``, or ``fallback`` when the breaker is open or ``fn`` raises."""
        if not self._admit():
            return fallback
        try:
            result = fn()
        except Exception as exc:  # redis.RedisError, sqlite3.Error, OSError: never fail the login
            self.failed(exc)
            return fallback
        self.succeeded()
        return result
