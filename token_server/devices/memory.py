"""The in-process store: ``python server.py``'s embedded default (one process, nothing kept)."""

from __future__ import annotations

import threading
import time
from typing import Callable

from .base import LOCK_TTL, StoredSession


class MemorySessionStore:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, StoredSession]] = {}
        self._locks: dict[tuple[str, str], tuple[str, float]] = {}
        self._mints: dict[str, int] = {}
        self._key: str | None = None
        self._clock = clock

    def get(self, uid: str, device_id: str) -> StoredSession | None:
        with self._lock:
            return self._data.get(uid, {}).get(device_id)

    def swap(self, uid: str, session: StoredSession) -> StoredSession | None:
        with self._lock:
            devices = self._data.setdefault(uid, {})
            previous = devices.get(session.device_id)
            devices[session.device_id] = session
            return previous

    def replace_if(self, uid: str, session: StoredSession, expected: str | None) -> tuple[bool, StoredSession | None]:
        with self._lock:
            devices = self._data.setdefault(uid, {})
            current = devices.get(session.device_id)
            if (current.sealed if current else None) != expected:
                if not devices:
                    self._data.pop(uid, None)
                return False, current
            devices[session.device_id] = session
            return True, current

    def lookup(self, uid: str, device_id: str) -> tuple[StoredSession | None, int]:
        with self._lock:
            return self._data.get(uid, {}).get(device_id), self._mints.get(uid, 0)

    def count_mints(self, uid: str, n: int = 1) -> int:
        with self._lock:
            self._mints[uid] = self._mints.get(uid, 0) + n
            return self._mints[uid]

    def delete_if(self, uid: str, device_id: str, expected: str) -> bool:
        with self._lock:
            devices = self._data.get(uid, {})
            current = devices.get(device_id)
            if current is None or current.sealed != expected:
                return False
            del devices[device_id]
            if not devices:
                self._data.pop(uid, None)
            return True

    def ensure_key(self, candidate: str) -> str:
        with self._lock:
            if self._key is None:
                self._key = candidate
            return self._key

    def touch(self, uid: str, device_id: str, last_used_at: int) -> None:
        with self._lock:
            current = self._data.get(uid, {}).get(device_id)
            if current is not None:
                self._data[uid][device_id] = StoredSession(
                    device_id, current.sealed, current.created_at, max(last_used_at, current.last_used_at), current.seq
                )

    def delete(self, uid: str, device_id: str) -> StoredSession | None:
        with self._lock:
            devices = self._data.get(uid, {})
            removed = devices.pop(device_id, None)
            if not devices:
                self._data.pop(uid, None)
            return removed

    def devices(self, uid: str) -> list[StoredSession]:
        with self._lock:
            return list(self._data.get(uid, {}).values())

    def delete_all(self, uid: str) -> list[StoredSession]:
        with self._lock:
            return list(self._data.pop(uid, {}).values())

    def acquire(self, uid: str, device_id: str, owner: str, ttl: float = LOCK_TTL) -> bool:
        now = self._clock()
        with self._lock:
            held = self._locks.get((uid, device_id))
            if held is not None and held[1] > now and held[0] != owner:
                return False
            self._locks[(uid, device_id)] = (owner, now + ttl)
            return True

    def release(self, uid: str, device_id: str, owner: str) -> None:
        with self._lock:
            held = self._locks.get((uid, device_id))
            if held is not None and held[0] == owner:
                del self._locks[(uid, device_id)]

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None
