"""Where the upstream budget keeps its figures: this process's memory, or Redis for the fleet.

A store keeps, per bucket key: the block (until when CometChat said to wait), the freshest
``Remaining`` (the lowest heard within ``FRESH_SECONDS``), the last ``Limit``, and the calls in
flight. Everything expires: a block at its end, a ``Remaining`` after ``FRESH_SECONDS``, the
in-flight count with its slot, the limit after ``LIMIT_SECONDS``. Times are compared with the
``now`` the budget passes in (its clock), so a test can move time without sleeping; Redis
TTLs and the memory store's pruning only forget what no comparison can use any more.

The Redis store goes through a :class:`~cometchat.breaker.StoreBreaker`: each call is bounded
(``STORE_TIMEOUT``, no retries), a failed Redis is skipped for a while (the call goes ahead),
its outage and recovery are logged once each.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from .breaker import STORE_TIMEOUT, StoreBreaker

log = logging.getLogger("cometchat.budget")

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


# KEYS: limit, remaining (hash v/at), in-flight of the slot, blocked.
# ARGV: now, fresh seconds, busy wait, slot ttl.
_BEGIN = """
local now = tonumber(ARGV[1])
local blocked = tonumber(redis.call('GET', KEYS[4]) or '')
if blocked and now < blocked then return tostring(blocked - now) end
local known = nil
local heard = redis.call('HMGET', KEYS[2], 'v', 'at')
if heard[1] and now - tonumber(heard[2]) < tonumber(ARGV[2]) and now >= tonumber(heard[2]) then
  known = tonumber(heard[1])
else
  known = tonumber(redis.call('GET', KEYS[1]) or '')
end
local inflight = tonumber(redis.call('GET', KEYS[3]) or '0')
if known and known - inflight <= 0 then return ARGV[3] end
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return false
"""

# ARGV: now, fresh seconds, counted (1/0), remaining, limit, blocked until ('' = none),
# slot ttl, limit ttl, probe (1/0).
_END = """
local now, fresh = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[3] == '1' then
  local left = redis.call('DECR', KEYS[3])
  if left <= 0 then redis.call('DEL', KEYS[3]) end
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[1], ARGV[5], 'EX', ARGV[8]) end
if ARGV[4] ~= '' then
  local value = tonumber(ARGV[4])
  local heard = redis.call('HMGET', KEYS[2], 'v', 'at', 'probe')
  if not heard[1] or heard[3] == '1' or now - tonumber(heard[2]) >= fresh or value < tonumber(heard[1]) then
    redis.call('HSET', KEYS[2], 'v', ARGV[4], 'at', ARGV[1], 'probe', '0')
    redis.call('EXPIRE', KEYS[2], math.ceil(fresh) + 1)
  end
end
if ARGV[6] ~= '' then
  local untl = tonumber(ARGV[6])
  redis.call('DEL', KEYS[2])
  local current = tonumber(redis.call('GET', KEYS[4]) or '')
  if not current or untl > current then
    redis.call('SET', KEYS[4], ARGV[6], 'EX', math.max(math.ceil(untl - now), 0) + 1)
  end
  if ARGV[9] == '1' then
    redis.call('HSET', KEYS[2], 'v', 1, 'at', ARGV[6], 'probe', '1')
    redis.call('EXPIRE', KEYS[2], math.max(math.ceil(untl - now), 0) + math.ceil(fresh) + 1)
  end
end
return 0
"""


class RedisBudgetStore:
    """The fleet's budget in Redis: each step is one atomic script, bounded and behind a
    breaker. While Redis fails, calls go ahead uncounted (minting must not stop with it)."""

    def __init__(self, client: Any, *, breaker: StoreBreaker | None = None) -> None:
        self._client = client
        self._begin = client.register_script(_BEGIN)
        self._end = client.register_script(_END)
        self.breaker = breaker or StoreBreaker("upstream budget")

    @classmethod
    def from_url(cls, url: str, *, breaker: StoreBreaker | None = None) -> RedisBudgetStore:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(
            url,
            socket_timeout=STORE_TIMEOUT,
            socket_connect_timeout=STORE_TIMEOUT,
            retry=Retry(NoBackoff(), 0),  # one bounded try: a retry would double the wait
            retry_on_timeout=False,
        )
        return cls(client, breaker=breaker)

    def ping(self) -> bool:
        """Redis answers (for readiness checks): bounded like every call, not behind the breaker."""
        return bool(self._client.ping())

    @staticmethod
    def _keys(key: str, slot: int) -> list[str]:
        return [f"{key}:limit", f"{key}:remaining", f"{key}:{slot}:inflight", f"{key}:blocked"]

    def begin(self, key: str, slot: int, now: float, slot_ttl: int) -> float | None:
        def run() -> float | None:
            wait = self._begin(keys=self._keys(key, slot), args=[repr(now), FRESH_SECONDS, BUSY_WAIT, slot_ttl])
            return float(wait) if wait is not None else None

        return self.breaker.call(run, None)

    def end(self, key: str, settlement: Settlement, now: float) -> None:
        def text(value: float | None) -> str:
            return "" if value is None else repr(value)

        args = [
            repr(now),
            FRESH_SECONDS,
            int(settlement.counted),
            text(settlement.remaining),
            text(settlement.limit),
            text(settlement.blocked_until),
            settlement.slot_ttl,
            LIMIT_SECONDS,
            int(settlement.probe),
        ]
        self.breaker.call(lambda: self._end(keys=self._keys(key, settlement.slot), args=args), None)


def budget_store_for(storage_uri: str, *, breaker: StoreBreaker | None = None) -> BudgetStore:
    """Redis when the rate-limit store is Redis (shared by the fleet), else this process."""
    if storage_uri.startswith(("redis://", "rediss://")):
        return RedisBudgetStore.from_url(storage_uri, breaker=breaker)
    if storage_uri.startswith("redis+unix://"):
        return RedisBudgetStore.from_url(storage_uri.removeprefix("redis+"), breaker=breaker)
    if not storage_uri.startswith("memory://"):
        log.warning("upstream budget kept per process: %s stores are not supported for it", storage_uri.split(":")[0])
    return MemoryBudgetStore()
