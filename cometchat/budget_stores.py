"""Where the upstream budget keeps its figures: the store protocol, and this process's memory.

A store keeps, per bucket key: the block (until when CometChat said to wait), the freshest
``Remaining`` (the lowest heard within ``FRESH_SECONDS``), the last ``Limit``, and the calls in
flight. Everything expires: a block at its end, a ``Remaining`` after ``FRESH_SECONDS``, the
in-flight count with its slot, the limit after ``LIMIT_SECONDS``. Times are compared with the
``now`` the budget passes in (its clock), so a test can move time without sleeping; Redis
TTLs and the memory store's pruning only forget what no comparison can use any more.

This module holds the store's protocol and the in-process store; the fleet's Redis store comes
with the server (``token_server.stores.budget_redis``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

# A Remaining heard longer ago than this no longer counts: CometChat's window may have reset
# since, and the next answer says what is left now.
FRESH_SECONDS = 2.0
# A refusal because calls in flight may take what is left: they answer within seconds.
BUSY_WAIT = 1.0
LIMIT_SECONDS = 3600


@dataclass(frozen=True)
class Settlement:
    """What an answer changes in the store (the budget decides it; the store only keeps it)."""

    slot: int  # the in-flight slot the call was counted in
    counted: bool  # False: it was never counted in flight
    remaining: int | None  # a Remaining above 0 to keep (0 is a block instead)
    limit: int | None
    blocked_until: float | None  # epoch seconds (the budget's clock), already capped
    slot_ttl: int  # seconds to keep an in-flight count
    probe: bool = False  # the block named no time: when it ends, let one call ask CometChat


class BudgetStore(Protocol):
    def begin(self, key: str, slot: int, now: float, slot_ttl: int) -> float | None:
        """Count one call in flight and return None, or return the seconds to wait."""

    def end(self, key: str, settlement: Settlement, now: float) -> None:
        """The call is over: drop it from the flight, keep what its answer said."""


class MemoryBudgetStore:
    """This process's budget (a lock, never held across I/O); forgets what has expired."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limit: dict[str, tuple[int, float]] = {}  # key -> (limit, heard at)
        # key -> (lowest, heard at, a probe's allowance rather than a figure heard)
        self._remaining: dict[str, tuple[int, float, bool]] = {}
        self._inflight: dict[tuple[str, int], int] = {}  # (key, slot) -> calls
        self._blocked: dict[str, float] = {}  # key -> until

    def __len__(self) -> int:
        """How many figures are kept (what pruning bounds)."""
        with self._lock:
            return len(self._limit) + len(self._remaining) + len(self._inflight) + len(self._blocked)

    def _prune(self, now: float, slot: int) -> None:
        for key in [k for k, until in self._blocked.items() if until <= now]:
            del self._blocked[key]
        for key in [k for k, (_, at, _probe) in self._remaining.items() if now - at >= FRESH_SECONDS]:
            del self._remaining[key]
        for key in [k for k, (_, at) in self._limit.items() if now - at >= LIMIT_SECONDS]:
            del self._limit[key]
        for flight in [k for k in self._inflight if k[1] < slot - 1]:
            del self._inflight[flight]

    def begin(self, key: str, slot: int, now: float, slot_ttl: int) -> float | None:
        with self._lock:
            self._prune(now, slot)
            blocked = self._blocked.get(key, 0.0)
            if now < blocked:
                return blocked - now
            known = self._limit.get(key, (None, 0.0))[0]
            heard = self._remaining.get(key)
            if heard is not None and now - heard[1] < FRESH_SECONDS:  # else CometChat may have reset
                known = heard[0]
            inflight = self._inflight.get((key, slot), 0)
            if known is not None and known - inflight <= 0:
                return BUSY_WAIT
            self._inflight[(key, slot)] = inflight + 1
            return None

    def end(self, key: str, settlement: Settlement, now: float) -> None:
        with self._lock:
            flight = (key, settlement.slot)
            if settlement.counted and flight in self._inflight:
                self._inflight[flight] = max(self._inflight[flight] - 1, 0)
            if settlement.limit is not None:
                self._limit[key] = (settlement.limit, now)
            if settlement.remaining is not None:
                current = self._remaining.get(key)
                if (
                    current is None
                    or current[2]  # a probe's answer replaces its allowance
                    or now - current[1] >= FRESH_SECONDS
                    or settlement.remaining < current[0]
                ):
                    self._remaining[key] = (settlement.remaining, now, False)
            until = settlement.blocked_until
            if until is not None:
                self._remaining.pop(key, None)  # counted before the reset: meaningless after it
                if until > self._blocked.get(key, 0.0):
                    self._blocked[key] = until
                if settlement.probe:  # one call in flight allowed, from the block's end
                    self._remaining[key] = (1, until, True)
            self._prune(now, settlement.slot)
