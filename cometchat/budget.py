"""One upstream quota budget per CometChat app, shared by every worker and host.

CometChat counts each app's calls per minute in buckets (core: create or delete a user,
mint a token; other: everything else; data import apart) and announces what is left in
``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` on every answer; over the limit it answers
429 with ``Retry-After`` and ``X-RateLimit-Reset``. N hosts that each retry 429s in a login
storm only dig deeper. So before each attempt the transport asks the budget, which refuses
at once, without calling upstream (a ``QuotaSpentError``: a 503 with ``Retry-After`` for the
caller), in two cases only:

- CometChat said to wait: a 429, or an answer with ``Remaining: 0``. The block lasts what
  its ``Retry-After`` says, else what its reset says (epoch seconds, or seconds to wait), and
  no longer; never more than one quota window (``window_seconds``, a minute); a 429 or a
  ``Remaining: 0`` that names no usable time blocks for ``PROBE_SECONDS``, after which one
  call (the probe) goes ahead and its answer says more. The budget assumes no window of its
  own.
- The calls in flight may take what CometChat last said is left (the lowest ``Remaining``
  heard in the last ``FRESH_SECONDS``): refused for ``BUSY_WAIT``, until they answer.

While this host last heard (recently) that more than half the limit, and over
``FAST_PATH_MIN_REMAINING``, is left, it allows calls on that alone, with no store round
trip; closer to the limit every call is counted in the store.

The figures live in a ``BudgetStore`` (budget_stores.py): this process's memory, or, on the
server, Redis for the fleet (``token_server.stores.budget_redis``); every one of them expires.
A Redis that fails is skipped for a while (the call goes ahead): the budget must never take
minting down.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from .budget_stores import BUSY_WAIT, FRESH_SECONDS, BudgetStore, MemoryBudgetStore, Settlement
from .endpoints import CORE, IMPORT, OTHER
from .errors import RateLimitedError
from .quota_headers import QuotaHeaders

__all__ = [
    "BUSY_WAIT",
    "CORE",
    "DEFAULT_WINDOW_SECONDS",
    "FRESH_SECONDS",
    "IMPORT",
    "OTHER",
    "PROBE_SECONDS",
    "BudgetStore",
    "MemoryBudgetStore",
    "QuotaSpentError",
    "Ticket",
    "UpstreamBudget",
    "bucket_of",
]

# Names that moved to the server (docs/client.md showed ``cometchat.budget.RedisBudgetStore``):
# still found here, with a DeprecationWarning, when the server's package is installed.
_MOVED = dict.fromkeys(("RedisBudgetStore", "budget_store_for"), "token_server.stores.budget_redis")


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"cometchat.budget.{name} moved to {home} (the [server,redis] extras)", DeprecationWarning, stacklevel=2
    )
    return getattr(importlib.import_module(home), name)


DEFAULT_WINDOW_SECONDS = 60.0
KEY_PREFIX = "cometchat-budget"
# CometChat refused (429) or said nothing is left, without a usable time to wait: hold off
# this long, then let the next answer say more.
PROBE_SECONDS = 1.0
# While this host last heard more than this much left (and more than half the limit), calls
# skip the store: the fleet cannot have this many calls in flight, so no exact count is
# needed yet. Below it, every call is counted in the store.
FAST_PATH_MIN_REMAINING = 1000


def bucket_of(method: str, url_path: str) -> str:
    """The quota bucket CometChat counts a call in (see docs/cometchat-api.md)."""
    parts = url_path.split("?", 1)[0].strip("/").split("/")
    if parts[0] == "data_import":
        return IMPORT
    if parts[0] == "users":
        if method == "POST" and len(parts) == 1:  # create a user
            return CORE
        if method == "DELETE" and len(parts) == 2:  # delete a user
            return CORE
        if method == "POST" and len(parts) == 3 and parts[2] == "auth_tokens":  # mint
            return CORE
    return OTHER


class QuotaSpentError(RateLimitedError):
    """The app's upstream quota for this window is spent: refused without calling CometChat."""

    default_code = "ERR_QUOTA_SPENT"


@dataclass
class Ticket:
    """One allowed attempt; the transport fills in what the answer announced (``hear``)."""

    bucket: str
    window: int  # the in-flight slot the attempt is counted in
    remaining: int | None = None
    limit: int | None = None
    retry_after: float | None = None  # seconds, from Retry-After
    reset: float | None = None  # X-RateLimit-Reset as sent (see QuotaHeaders.reset_in)
    rate_limited: bool = False  # the answer was a 429
    counted: bool = True  # False: allowed on this host's knowledge alone, not in the store

    def hear(self, figures: QuotaHeaders, *, rate_limited: bool) -> None:
        self.limit, self.remaining = figures.limit, figures.remaining
        self.retry_after, self.reset = figures.retry_after, figures.reset
        self.rate_limited = rate_limited


class UpstreamBudget:
    def __init__(
        self,
        store: BudgetStore,
        app: str,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (window_seconds > 0 and math.isfinite(window_seconds)):
            raise ValueError("window_seconds must be positive")
        self.store = store
        self.window_seconds = window_seconds
        self._clock = clock
        # The app's base URL names it; hashed so that keys stay short and uniform.
        self._app = hashlib.sha256(app.encode()).hexdigest()[:16]
        # bucket -> (heard at, lowest Remaining heard since, Limit): this host's own view.
        self._heard: dict[str, tuple[float, int, int | None]] = {}

    def longest_wait(self, seconds: float) -> float:
        """``seconds`` as a wait to honour or tell: never more than one quota window."""
        return min(max(seconds, 0.0), self.window_seconds)

    def _far_from_spent(self, bucket: str, now: float) -> bool:
        heard = self._heard.get(bucket)
        if heard is None or not 0 <= now - heard[0] < FRESH_SECONDS:
            return False
        return heard[1] > max(FAST_PATH_MIN_REMAINING, (heard[2] or 0) / 2)

    def _key(self, bucket: str) -> str:
        return f"{KEY_PREFIX}:{{{self._app}}}:{bucket}"  # {...}: one Redis Cluster slot

    def _slot_ttl(self) -> int:
        return math.ceil(2 * self.window_seconds) + 1

    def spend(self, method: str, url_path: str, *, bucket: str | None = None) -> Ticket:
        """Allow one attempt of this call, or raise ``QuotaSpentError``. The transports pass
        ``bucket`` from the endpoint table; without it, it is read from the path."""
        bucket = bucket or bucket_of(method, url_path)
        now = self._clock()
        slot = int(now // self.window_seconds)
        if self._far_from_spent(bucket, now):
            return Ticket(bucket, slot, counted=False)
        wait = self.store.begin(self._key(bucket), slot, now, self._slot_ttl())
        if wait is not None:
            seconds = min(max(math.ceil(self.longest_wait(wait)), 1), max(math.ceil(self.window_seconds), 1))
            raise QuotaSpentError(
                f"the app's CometChat {bucket} quota is spent for {seconds} s", retry_after=float(seconds)
            )
        return Ticket(bucket, slot)

    @staticmethod
    def named_wait(ticket: Ticket, now: float) -> float | None:
        """The wait CometChat named: its Retry-After, else its reset; None when neither is usable."""
        wait = ticket.retry_after
        if wait is None:
            wait = QuotaHeaders(reset=ticket.reset).reset_in(now)
        return wait if wait is not None and math.isfinite(wait) else None

    def block_seconds(self, ticket: Ticket, now: float) -> float | None:
        """How long CometChat's answer says to hold off (capped), or None: no block."""
        if not (ticket.rate_limited or ticket.remaining == 0):
            return None
        wait = self.named_wait(ticket, now)
        return self.longest_wait(PROBE_SECONDS if wait is None else wait)

    def settle(self, ticket: Ticket) -> None:
        now = self._clock()
        block = self.block_seconds(ticket, now)
        remaining = ticket.remaining if block is None else None
        if block is not None:
            self._heard.pop(ticket.bucket, None)
        elif remaining is not None:
            heard = self._heard.get(ticket.bucket)
            if heard is None or not 0 <= now - heard[0] < FRESH_SECONDS or remaining < heard[1]:
                self._heard[ticket.bucket] = (now, remaining, ticket.limit)
        if block is None and not ticket.counted and self._far_from_spent(ticket.bucket, now):
            return  # nothing the store needs yet
        settlement = Settlement(
            slot=ticket.window,
            counted=ticket.counted,
            remaining=remaining,
            limit=ticket.limit,
            blocked_until=now + block if block else None,
            slot_ttl=self._slot_ttl(),
            # No time named: after the block, one call goes ahead to ask CometChat again.
            probe=bool(block) and self.named_wait(ticket, now) is None,
        )
        self.store.end(self._key(ticket.bucket), settlement, now)
