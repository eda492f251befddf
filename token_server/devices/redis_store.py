"""The Redis store: one for the whole fleet (``SESSION_STORE_URI=redis://...``, by default the
rate-limit store's Redis). A user's devices are one hash; a device's mint lock is a key set
with ``NX`` and an expiry. Socket timeouts of ``STORE_TIMEOUT`` and no retries: a Redis that
is down or hung fails a call within the stores' bound, and the service's breaker then skips it.
"""

from __future__ import annotations

from typing import Any

import redis

from ..stores.breaker import STORE_TIMEOUT
from ..stores.redis_client import bounded_redis
from .base import LOCK_TTL, StoredSession

PREFIX = "cometchat:device-sessions"
# Delete the lock only if we still hold it (a lock that expired may be someone else's now).
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Compare-and-set: write ARGV[2] only if the device's sealed token is ARGV[4] (ARGV[3] == '1') or
# the device has no record (ARGV[3] == '0'); answer {stored, the record that was there}.
REPLACE_IF = (
    "local raw = redis.call('HGET', KEYS[1], ARGV[1]) "
    "local same if ARGV[3] == '0' then same = not raw else same = raw and cjson.decode(raw)['t'] == ARGV[4] end "
    "if not same then return {0, raw} end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return {1, raw}"
)
# Compare-and-set delete: forget the device only if its sealed token is still ARGV[2].
DELETE_IF = (
    "local raw = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if raw and cjson.decode(raw)['t'] == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end return 0"
)
# The user's mint count lives in the user's hash under a field no device id can take ('#').
MINTS = "#mints"
MINTS_FIELD = MINTS.encode()
KEY = f"{PREFIX}:sealing-key"
TOUCH = (
    "local raw = redis.call('HGET', KEYS[1], ARGV[1]) if not raw then return 0 end "
    "local s = cjson.decode(raw) if tonumber(ARGV[2]) > s['u'] then s['u'] = tonumber(ARGV[2]) "
    "redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(s)) end return 1"
)


def _user_key(uid: str) -> str:
    return f"{PREFIX}:{{{uid}}}"  # {uid}: a user's keys share one Redis Cluster slot


def _lock_key(uid: str, device_id: str) -> str:
    return f"{PREFIX}:{{{uid}}}:lock:{device_id}"


class RedisSessionStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._release = client.register_script(RELEASE)
        self._touch = client.register_script(TOUCH)
        self._replace_if = client.register_script(REPLACE_IF)
        self._delete_if = client.register_script(DELETE_IF)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = STORE_TIMEOUT) -> RedisSessionStore:
        return cls(bounded_redis(url, timeout=timeout))

    def get(self, uid: str, device_id: str) -> StoredSession | None:
        raw = self._redis.hget(_user_key(uid), device_id)
        return StoredSession.from_json(device_id, raw) if raw else None  # type: ignore[arg-type]

    def lookup(self, uid: str, device_id: str) -> tuple[StoredSession | None, int]:
        raw, mints = self._redis.hmget(_user_key(uid), [device_id, MINTS])
        return (StoredSession.from_json(device_id, raw) if raw else None), int(mints or 0)

    def count_mints(self, uid: str, n: int = 1) -> int:
        return int(self._redis.hincrby(_user_key(uid), MINTS, n))

    def delete_if(self, uid: str, device_id: str, expected: str) -> bool:
        return bool(self._delete_if(keys=[_user_key(uid)], args=[device_id, expected]))

    def ensure_key(self, candidate: str) -> str:
        self._redis.set(KEY, candidate, nx=True)
        kept = self._redis.get(KEY)
        if not kept:
            raise redis.RedisError("the sealing key vanished between its write and its read")
        return kept.decode() if isinstance(kept, bytes) else str(kept)

    def swap(self, uid: str, session: StoredSession) -> StoredSession | None:
        key = _user_key(uid)
        pipe = self._redis.pipeline(transaction=True)  # MULTI/EXEC: read and write as one step
        pipe.hget(key, session.device_id)
        pipe.hset(key, session.device_id, session.to_json())
        previous, _ = pipe.execute()
        return StoredSession.from_json(session.device_id, previous) if previous else None

    def replace_if(self, uid: str, session: StoredSession, expected: str | None) -> tuple[bool, StoredSession | None]:
        args = [session.device_id, session.to_json(), "0" if expected is None else "1", expected or ""]
        stored, raw = self._replace_if(keys=[_user_key(uid)], args=args)  # type: ignore[misc]
        return bool(stored), StoredSession.from_json(session.device_id, raw) if raw else None

    def touch(self, uid: str, device_id: str, last_used_at: int) -> None:
        self._touch(keys=[_user_key(uid)], args=[device_id, last_used_at])

    def delete(self, uid: str, device_id: str) -> StoredSession | None:
        key = _user_key(uid)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hget(key, device_id)
        pipe.hdel(key, device_id)
        previous, _ = pipe.execute()
        return StoredSession.from_json(device_id, previous) if previous else None

    def devices(self, uid: str) -> list[StoredSession]:
        found: dict[Any, Any] = self._redis.hgetall(_user_key(uid))  # type: ignore[assignment]
        sessions = [
            StoredSession.from_json(device.decode(), raw) for device, raw in found.items() if device != MINTS_FIELD
        ]
        return sorted(sessions, key=lambda s: s.created_at, reverse=True)

    def delete_all(self, uid: str) -> list[StoredSession]:
        key = _user_key(uid)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.delete(key)
        found, _ = pipe.execute()
        return [StoredSession.from_json(device.decode(), raw) for device, raw in found.items() if device != MINTS_FIELD]

    def acquire(self, uid: str, device_id: str, owner: str, ttl: float = LOCK_TTL) -> bool:
        return bool(self._redis.set(_lock_key(uid, device_id), owner, nx=True, px=int(ttl * 1000)))

    def release(self, uid: str, device_id: str, owner: str) -> None:
        self._release(keys=[_lock_key(uid, device_id)], args=[owner])

    def ping(self) -> None:
        self._redis.ping()

    def close(self) -> None:
        self._redis.close()
