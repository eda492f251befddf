"""Pacing requests under a per-minute limit instead of running into it."""

from __future__ import annotations

import time
from typing import Callable

MINUTE_SECONDS = 60.0
PACE_FRACTION = 0.98


class Pacer:
    """Interval pacing: request starts are spaced ``minute / (limit * PACE_FRACTION)`` apart, on
    a schedule (a slow answer does not push later starts back unless it overruns the slot). Any
    window of one minute then holds fewer starts than the limit, whatever the upstream's window
    alignment; the 2 % margin absorbs the jitter between our clock and arrival times."""
    def __init__(
        self,
        per_minute: float,
        *,
        minute_seconds: float = MINUTE_SECONDS,
        fraction: float = PACE_FRACTION,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0 or minute_seconds <= 0 or not 0 < fraction <= 1:
            raise ValueError("per_minute and minute_seconds must be positive, fraction in (0, 1]")
        self.interval = minute_seconds / (per_minute * fraction)
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        """Block until the next request may start, and book the slot after it."""
        now = self._clock()
        if self._next is not None and self._next > now:
            self._sleep(self._next - now)
            now = self._next
        self._next = max(self._next or now, now) + self.interval

    def hold(self, seconds: float) -> None:
        """Start nothing for ``seconds`` (a 429's ``Retry-After``)."""
        self._next = max(self._next or 0.0, self._clock() + max(seconds, 0.0))
