"""A breaker for the shared stores on the login path (rate limits, upstream budget, device
tokens): a store call is bounded by its client's own timeout (250 ms at most); a store that
failed is then skipped for ``cooldown`` seconds, so a login does not wait on it again, and
its outage is logged once (a warning) and its recovery once (info).

A store is a helper on the login path, never a gate: while the breaker is open, the caller
takes its fallback (the call goes ahead), as a store that is down must not take minting down.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

log = logging.getLogger("cometchat.stores")

# Timeout for every store round trip on the login path (connect and each read).
STORE_TIMEOUT = 0.25
DEFAULT_COOLDOWN = 5.0


class StoreBreaker:
    """Skips a failing store for ``cooldown`` seconds; logs the outage once, the recovery once."""

    def __init__(
        self,
        name: str,
        *,
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
        self._down = False  # an outage was logged and no success has been seen since

    @property
    def is_down(self) -> bool:
        """True from a failure until the next success (for readiness and metrics)."""
        return self._down

    def available(self) -> bool:
        """False while the breaker is open: skip the store, take the fallback."""
        return self._clock() >= self._open_until

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._open_until = self._clock() + self.cooldown
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
        if recovered:
            self._log.info("%s store recovered", self.name)

    def call(self, fn: Callable[[], T], fallback: T) -> T:
        """``fn()``, or ``fallback`` when the breaker is open or ``fn`` raises."""
        if not self.available():
            return fallback
        try:
            result = fn()
        except Exception as exc:  # redis.RedisError, sqlite3.Error, OSError: never fail the login
            self.failed(exc)
            return fallback
        self.succeeded()
        return result
