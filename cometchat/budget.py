"""One upstream quota budget per CometChat app, shared by every worker and host.

CometChat counts each app's calls per minute in buckets (core: create or delete a user,
mint a token; other: everything else; data import apart) and announces what is left in
``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` on every answer; over the limit it answers
429 with ``Retry-After`` and ``X-RateLimit-Reset``. N hosts that each retry 429s in a login
storm only dig deeper. So before each attempt the transport asks the budget, which allows it
while (the lowest ``Remaining`` heard in this window, or the last ``Limit`` before any) minus
the calls in flight stays above zero, and otherwise refuses at once, without calling
upstream, until the window ends (or the 429's reset). A refusal is a ``QuotaSpentError``:
a 503 with ``Retry-After`` for the caller.

While this host last heard that more than half the limit (and over
``FAST_PATH_MIN_REMAINING``) is left in the window, it allows calls on that alone, with no
store round trip; closer to the limit every call is counted in the store.

Windows are fixed and aligned on the epoch (``window_seconds``, a minute upstream). The
counts live in Redis when the rate-limit store is Redis (one budget for the fleet), else in
this process. A Redis that fails is skipped (the call goes ahead): the budget must never
take minting down with it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .errors import RateLimitedError

log = logging.getLogger("cometchat.budget")

CORE = "core"
OTHER = "other"
IMPORT = "import"
DEFAULT_WINDOW_SECONDS = 60.0
KEY_PREFIX = "cometchat-budget"
# Redis must answer the budget fast or be skipped: a login waits on it.
REDIS_TIMEOUT = 0.25
# While this host last heard more than this much left in the window (and more than half the
# limit), calls skip the store: the fleet cannot have this many calls in flight, so no
# exact count is needed yet. Below it, every call is counted in the store.
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
    """One allowed attempt; the transport fills in what the answer announced."""

    bucket: str
    window: int
    remaining: int | None = None
    limit: int | None = None
    blocked_until: float | None = None  # epoch seconds, from a 429
    counted: bool = True  # False: allowed on this host's knowledge alone, not in the store


class BudgetStore(Protocol):
    def begin(self, key: str, window: int, now: float, window_end: float) -> float | None:
        """Count one call in flight and return None, or return the seconds to wait."""

    def end(self, key: str, ticket: Ticket, now_window: int, ttl: int) -> None:
        """The call is over: drop it from the flight, record what the answer said."""


class UpstreamBudget:
    def __init__(
        self,
        store: BudgetStore,
        app: str,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.store = store
        self.window_seconds = window_seconds
        self._clock = clock
        # The app's base URL names it; hashed so that keys stay short and uniform.
        self._app = hashlib.sha256(app.encode()).hexdigest()[:16]
        # bucket -> (window, lowest Remaining heard in it, Limit): this host's own view.
        self._heard: dict[str, tuple[int, int, int | None]] = {}

    def _far_from_spent(self, bucket: str, window: int, remaining: int | None = None) -> bool:
        heard = self._heard.get(bucket)
        if heard is None or heard[0] != window:
            return False
        left = heard[1] if remaining is None else min(heard[1], remaining)
        limit = heard[2] or 0
        return left > max(FAST_PATH_MIN_REMAINING, limit / 2)

    def _key(self, bucket: str) -> str:
        return f"{KEY_PREFIX}:{{{self._app}}}:{bucket}"  # {...}: one Redis Cluster slot

    def spend(self, method: str, url_path: str, *, bucket: str | None = None) -> Ticket:
        """Allow one attempt of this call, or raise ``QuotaSpentError``. The transports pass
        ``bucket`` from the endpoint table; without it, it is read from the path."""
        bucket = bucket or bucket_of(method, url_path)
        now = self._clock()
        window = int(now // self.window_seconds)
        window_end = (window + 1) * self.window_seconds
        if self._far_from_spent(bucket, window):
            return Ticket(bucket, window, counted=False)
        wait = self.store.begin(self._key(bucket), window, now, window_end)
        if wait is not None:
            seconds = max(math.ceil(wait), 1)
            raise QuotaSpentError(
                f"the app's CometChat {bucket} quota is spent for {seconds} s", retry_after=float(seconds)
            )
        return Ticket(bucket, window)

    def settle(self, ticket: Ticket) -> None:
        now_window = int(self._clock() // self.window_seconds)
        if ticket.remaining is not None:
            heard = self._heard.get(ticket.bucket)
            lowest = ticket.remaining
            if heard is not None and heard[0] == now_window:
                lowest = min(lowest, heard[1])
            self._heard[ticket.bucket] = (now_window, lowest, ticket.limit)
        if ticket.blocked_until is not None:
            self._heard.pop(ticket.bucket, None)
        elif not ticket.counted and self._far_from_spent(ticket.bucket, now_window, ticket.remaining):
            return  # nothing the store needs yet
        self.store.end(self._key(ticket.bucket), ticket, now_window, math.ceil(2 * self.window_seconds) + 1)


class MemoryBudgetStore:
    """This process's budget (a lock, never held across I/O)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limit: dict[str, int] = {}
        self._remaining: dict[tuple[str, int], int] = {}
        self._inflight: dict[tuple[str, int], int] = {}
        self._blocked: dict[str, float] = {}

    def begin(self, key: str, window: int, now: float, window_end: float) -> float | None:
        with self._lock:
            blocked = self._blocked.get(key, 0.0)
            if now < blocked:
                return blocked - now
            known = self._remaining.get((key, window), self._limit.get(key))
            inflight = self._inflight.get((key, window), 0)
            if known is not None and known - inflight <= 0:
                return window_end - now
            self._inflight[(key, window)] = inflight + 1
            return None

    def end(self, key: str, ticket: Ticket, now_window: int, ttl: int) -> None:
        with self._lock:
            flight = (key, ticket.window)
            if ticket.counted:
                self._inflight[flight] = max(self._inflight.get(flight, 1) - 1, 0)
            if ticket.remaining is not None:
                current = self._remaining.get((key, now_window))
                if current is None or ticket.remaining < current:
                    self._remaining[(key, now_window)] = ticket.remaining
            if ticket.limit is not None:
                self._limit[key] = ticket.limit
            if ticket.blocked_until is not None and ticket.blocked_until > self._blocked.get(key, 0.0):
                self._blocked[key] = ticket.blocked_until
            # Forget windows that are over.
            for old in [k for k in self._remaining if k[1] < now_window - 1]:
                del self._remaining[old]
            for old in [k for k in self._inflight if k[1] < now_window - 1]:
                del self._inflight[old]


_BEGIN = """
local now, window_end = tonumber(ARGV[1]), tonumber(ARGV[2])
local blocked = tonumber(redis.call('GET', KEYS[4]) or '0')
if now < blocked then return tostring(blocked - now) end
local known = redis.call('GET', KEYS[2]) or redis.call('GET', KEYS[1])
local inflight = tonumber(redis.call('GET', KEYS[3]) or '0')
if known and tonumber(known) - inflight <= 0 then return tostring(window_end - now) end
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return false
"""

_END = """
local ttl = tonumber(ARGV[4])
if ARGV[5] == '1' and tonumber(redis.call('DECR', KEYS[3])) < 0 then redis.call('SET', KEYS[3], 0, 'EX', ttl) end
if ARGV[1] ~= '' then
  local current = redis.call('GET', KEYS[2])
  if not current or tonumber(current) > tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl) end
end
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], ARGV[2], 'EX', 86400) end
if ARGV[3] ~= '' then
  local current = tonumber(redis.call('GET', KEYS[4]) or '0')
  if tonumber(ARGV[3]) > current then redis.call('SET', KEYS[4], ARGV[3], 'EX', ttl) end
end
return 0
"""


class RedisBudgetStore:
    """The fleet's budget in Redis: each step is one atomic script. Redis failing lets the
    call through (logged), as the rate limits' own in-memory fallback does."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._begin = client.register_script(_BEGIN)
        self._end = client.register_script(_END)

    @classmethod
    def from_url(cls, url: str) -> RedisBudgetStore:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT))

    @staticmethod
    def _keys(key: str, window: int, flight_window: int) -> list[str]:
        return [f"{key}:limit", f"{key}:{window}:remaining", f"{key}:{flight_window}:inflight", f"{key}:blocked"]

    def begin(self, key: str, window: int, now: float, window_end: float) -> float | None:
        ttl = math.ceil(2 * (window_end - now)) + 1
        try:
            wait = self._begin(keys=self._keys(key, window, window), args=[repr(now), repr(window_end), ttl])
        except Exception as exc:  # redis.RedisError, OSError: never take minting down
            log.warning("upstream budget store failed, call allowed: %s", type(exc).__name__)
            return None
        return float(wait) if wait is not None else None

    def end(self, key: str, ticket: Ticket, now_window: int, ttl: int) -> None:
        def text(value: float | int | None) -> str:
            return "" if value is None else repr(value)

        args = [text(ticket.remaining), text(ticket.limit), text(ticket.blocked_until), ttl, int(ticket.counted)]
        try:
            self._end(keys=self._keys(key, now_window, ticket.window), args=args)
        except Exception as exc:
            log.warning("upstream budget store failed: %s", type(exc).__name__)


def budget_store_for(storage_uri: str) -> BudgetStore:
    """Redis when the rate-limit store is Redis (shared by the fleet), else this process."""
    if storage_uri.startswith(("redis://", "rediss://")):
        return RedisBudgetStore.from_url(storage_uri)
    if storage_uri.startswith("redis+unix://"):
        return RedisBudgetStore.from_url(storage_uri.removeprefix("redis+"))
    if not storage_uri.startswith("memory://"):
        log.warning("upstream budget kept per process: %s stores are not supported for it", storage_uri.split(":")[0])
    return MemoryBudgetStore()
