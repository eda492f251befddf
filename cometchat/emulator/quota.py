"""Per-app request quotas in fixed windows of one "minute", as CometChat announces them.

CometChat counts core operations (create and delete a user, mint a token) and every other
REST call in separate per-minute buckets, and the data import API in its own. We count in
fixed windows aligned to the epoch (a window resets on the minute), which is what the
``X-RateLimit-Reset`` epoch second of a 429 answer implies. ``minute_seconds`` shortens
the minute for benchmarks while keeping each limit's ratio to it.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

CORE = "core"
OTHER = "other"
IMPORT = "import"
DEFAULT_LIMITS = {CORE: 10_000, OTHER: 20_000, IMPORT: 60}
MINUTE_SECONDS = 60.0


@dataclass(frozen=True)
class Verdict:
    """One counted call: the bucket's limit, what is left, and when the window resets."""

    limit: int
    remaining: int
    reset_at: int  # epoch seconds
    allowed: bool
    retry_after: int  # whole seconds to the reset, at least 1

    def headers(self) -> dict[str, str]:
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
            headers["X-RateLimit-Reset"] = str(self.reset_at)
        return headers


class Quota:
    """Fixed-window counters for each bucket, safe across threads."""

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        minute_seconds: float = MINUTE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.minute_seconds = minute_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}  # bucket -> (window index, count)

    def reset_counts(self) -> None:
        with self._lock:
            self._windows.clear()

    def take(self, bucket: str) -> Verdict:
        """Count one call in ``bucket``; a call over the limit is refused (and still counted)."""
        now = self._clock()
        with self._lock:
            index = int(now // self.minute_seconds)
            window, count = self._windows.get(bucket, (index, 0))
            count = count + 1 if window == index else 1
            self._windows[bucket] = (index, count)
            limit = self.limits[bucket]
        reset = (index + 1) * self.minute_seconds
        return Verdict(
            limit=limit,
            remaining=max(limit - count, 0),
            reset_at=math.ceil(reset),
            allowed=count <= limit,
            retry_after=max(math.ceil(reset - now), 1),
        )
