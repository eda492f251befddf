"""The event store in the device store's Redis (the fleet).

Keys share the hash tag ``{cometchat-webhooks}`` (one Redis Cluster slot, so the scripts may
touch them together): a sorted set ``queue`` (event id -> visible-at, ms), a sorted set ``dead``
(id -> buried-at, ms), a hash per event, a key per seen delivery (expiring), and a key per
user's presence. Each step is one Lua script: atomic across every process sharing the Redis.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis

from ..stores.redis_client import bounded_redis
from .store import DEDUPE_SECONDS, LEASE_SECONDS, STORE_TIMEOUT, Claim, Presence, QueuedEvent, StoreError

PREFIX = "cometchat:{cometchat-webhooks}:"
QUEUE = PREFIX + "queue"
DEAD = PREFIX + "dead"
EVENT = PREFIX + "event:"
SEEN = PREFIX + "seen:"
PRESENCE = PREFIX + "presence:"

# KEYS: seen, queue, event hash. ARGV: id, now ms, remember ms, trigger, body, received.
ENQUEUE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('HSET', KEYS[3], 'trigger', ARGV[4], 'body', ARGV[5], 'received', ARGV[6], 'attempts', 0)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""
# KEYS: queue. ARGV: now ms, lease ms, claim token, event key prefix. Skips ids whose event is gone.
CLAIM = """
for _ = 1, 16 do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
  if #ids == 0 then return false end
  local id = ids[1]
  local key = ARGV[4] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
    redis.call('HSET', key, 'claim', ARGV[3])
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    local f = redis.call('HMGET', key, 'trigger', 'body', 'received', 'error')
    return {id, f[1], f[2], f[3], attempts, f[4]}
  end
  redis.call('ZREM', KEYS[1], id)  -- its event is gone (evicted, deleted by hand): never loop on it
end
return false
"""
# KEYS: queue, event hash, dead. ARGV: id, claim token, what ('done'|'retry'|'bury'), at ms, error.
SETTLE = """
if redis.call('HGET', KEYS[2], 'claim') ~= ARGV[2] then return 0 end
if ARGV[3] == 'done' then
  redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('DEL', KEYS[2]) return 1
end
redis.call('HDEL', KEYS[2], 'claim')
redis.call('HSET', KEYS[2], 'error', ARGV[5])
if ARGV[3] == 'retry' then redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1]) return 1 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"""
# KEYS: dead, queue, event hash. ARGV: id, now ms.
REPLAY = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'attempts', 0)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""
# KEYS: presence. ARGV: at ms, record. Keep the newer of the two.
PUT_PRESENCE = """
local kept = redis.call('GET', KEYS[1])
if kept and cjson.decode(kept)['a'] >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisEventStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._enqueue = client.register_script(ENQUEUE)
        self._claim = client.register_script(CLAIM)
        self._settle = client.register_script(SETTLE)
        self._replay = client.register_script(REPLAY)
        self._put_presence = client.register_script(PUT_PRESENCE)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = STORE_TIMEOUT) -> RedisEventStore:
        return cls(bounded_redis(url, timeout=timeout))

    def _call(self, step: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return step(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreError(f"redis: {type(exc).__name__}") from exc

    def _now_ms(self) -> int:
        seconds, micros = self._call(self._redis.time)
        return int(seconds) * 1000 + int(micros) // 1000  # one clock for every process: the server's

    def enqueue(self, dedupe_key: str, event: QueuedEvent, *, remember: float = DEDUPE_SECONDS) -> bool:
        args = [event.id, self._now_ms(), _ms(remember), event.trigger, event.body, repr(event.received_at)]
        keys = [SEEN + dedupe_key, QUEUE, EVENT + event.id]
        return bool(self._call(self._enqueue, keys=keys, args=args))

    def claim(self, lease: float = LEASE_SECONDS) -> Claim | None:
        token = uuid.uuid4().hex
        found = self._call(self._claim, keys=[QUEUE], args=[self._now_ms(), _ms(lease), token, EVENT])
        if not found:
            return None
        event_id, trigger, body, received, attempts, error = found
        event = QueuedEvent(
            _text(event_id),
            _text(trigger),
            bytes(body),
            float(received),
            int(attempts),
            None if error is None else _text(error),
        )
        return Claim(event, token)

    def _settle_as(self, claim: Claim, what: str, at_ms: int, error: str) -> bool:
        keys = [QUEUE, EVENT + claim.event.id, DEAD]
        return bool(self._call(self._settle, keys=keys, args=[claim.event.id, claim.token, what, at_ms, error]))

    def complete(self, claim: Claim) -> bool:
        return self._settle_as(claim, "done", 0, "")

    def retry(self, claim: Claim, delay: float, error: str) -> bool:
        return self._settle_as(claim, "retry", self._now_ms() + _ms(delay), error)

    def bury(self, claim: Claim, error: str) -> bool:
        return self._settle_as(claim, "bury", self._now_ms(), error)

    def dead_letters(self) -> list[QueuedEvent]:
        entries = self._call(self._redis.zrange, DEAD, 0, -1, withscores=True)
        found = []
        for raw_id, dead_ms in entries:
            event_id = _text(raw_id)
            fields = self._call(self._redis.hmget, EVENT + event_id, "trigger", "body", "received", "attempts", "error")
            trigger, body, received, attempts, error = fields
            if trigger is None:
                continue
            found.append(
                QueuedEvent(
                    event_id,
                    _text(trigger),
                    bytes(body),
                    float(received),
                    int(attempts),
                    None if error is None else _text(error),
                    dead_ms / 1000,
                )
            )
        return found

    def replay(self, event_id: str) -> bool:
        keys = [DEAD, QUEUE, EVENT + event_id]
        return bool(self._call(self._replay, keys=keys, args=[event_id, self._now_ms()]))

    def depth(self) -> int:
        return int(self._call(self._redis.zcard, QUEUE))

    def dead_count(self) -> int:
        return int(self._call(self._redis.zcard, DEAD))

    def put_presence(self, presence: Presence) -> bool:
        keys = [PRESENCE + presence.uid]
        return bool(self._call(self._put_presence, keys=keys, args=[presence.at_ms, presence.to_json()]))

    def get_presence(self, uid: str) -> Presence | None:
        raw = self._call(self._redis.get, PRESENCE + uid)
        return Presence.from_json(uid, raw) if raw else None

    def ping(self) -> None:
        self._call(self._redis.ping)
