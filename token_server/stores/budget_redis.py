"""The upstream budget's figures in Redis, shared by the fleet, and the factory that picks the
budget's store from the rate-limit store's URI (Redis, else this process's memory)."""

from __future__ import annotations

import logging
from typing import Any

from cometchat.budget_stores import BUSY_WAIT, FRESH_SECONDS, LIMIT_SECONDS, BudgetStore, MemoryBudgetStore, Settlement

from .breaker import STORE_TIMEOUT, StoreBreaker

__all__ = ["RedisBudgetStore", "budget_store_for"]

log = logging.getLogger("cometchat.budget")


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
