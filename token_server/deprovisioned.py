"""Deprovisioning is final: a tombstone per deleted user, so no login re-creates it. The
stores and :class:`Deprovisioned` are here; the rules that consult them are the routes'
(:mod:`token_server.core.deleted`).

``DELETE /api/cometchat/users/<uid>`` (deactivate, or ``?permanent=true``) first writes a
tombstone for the uid, then revokes and deletes upstream. Until the tombstone expires
(``DEPROVISION_RETENTION``, default 24 h: set it at least as long as the longest JWT your
identity provider issues) every mint for that uid is refused with 404 ``ERR_UID_NOT_FOUND``
before any upstream call, so a still-valid JWT cannot log a deleted user back in (which, for a
permanent delete, would create the user again). A login that was already in flight when the
delete ran is re-checked when its mint completes: if the uid has a tombstone by then, the
deprovisioning is run once more (every token flushed, the user deactivated or deleted again:
this undoes a re-creation and the token the login minted) and the login is answered 404 too.

``POST /api/cometchat/users`` from a service caller is the explicit re-creation: it ends the
tombstone, then creates the user (a store that cannot end it: 503, nothing created). A user
JWT cannot: 403 while the tombstone lasts.

The tombstones live in the device store's backend (``SESSION_STORE_URI``: Redis, a SQLite
file or process memory), under keys and a table of their own, each call bounded (the stores' bound) and
behind the store's breaker. When the store fails, the rule of every guard holds: a valid caller
is answered when CometChat would accept the call, and CometChat would accept re-creating a
permanently deleted user. So the tombstones this worker wrote or read are also kept in its own
memory (bounded) and still refuse; any other login goes ahead while the store is out. The
DELETE itself never fails for the tombstone: the user is deprovisioned upstream, and the
outage is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Literal, Protocol

from flask import Flask, current_app

from .stores.breaker import STORE_TIMEOUT, StoreBreaker
from .stores.redis_client import bounded_redis
from .stores.sqlite_file import BUSY_TIMEOUT, SqliteFile

log = logging.getLogger("token_server.deprovisioned")

Mode = Literal["deactivated", "permanent"]
DEPROVISIONED = "token_server.deprovisioned"
DEFAULT_RETENTION = 24 * 3600.0
REDIS_PREFIX = "cometchat:deprovisioned"
LOCAL_LIMIT = 10_000  # tombstones one worker remembers on its own (oldest forgotten first)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS deprovisioned_users (uid TEXT PRIMARY KEY, mode TEXT NOT NULL, until REAL NOT NULL)"
)


class TombstoneStore(Protocol):
    def put(self, uid: str, mode: Mode, until: float) -> None: ...
    def get(self, uid: str, now: float) -> Mode | None: ...
    def remove(self, uid: str) -> None: ...


class MemoryTombstones:
    """One process (``memory://``): the tombstones die with it, as its device records do."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Mode, float]] = {}
        self._lock = threading.Lock()

    def put(self, uid: str, mode: Mode, until: float) -> None:
        with self._lock:
            self._entries[uid] = (mode, until)

    def get(self, uid: str, now: float) -> Mode | None:
        with self._lock:
            entry = self._entries.get(uid)
            if entry is None or entry[1] <= now:
                self._entries.pop(uid, None)
                return None
            return entry[0]

    def remove(self, uid: str) -> None:
        with self._lock:
            self._entries.pop(uid, None)


class RedisTombstones:
    """One key per uid, expiring with the tombstone (Redis forgets it by itself)."""

    def __init__(self, url: str, *, timeout: float = STORE_TIMEOUT) -> None:
        self._redis = bounded_redis(url, timeout=timeout)

    @staticmethod
    def _key(uid: str) -> str:
        return f"{REDIS_PREFIX}:{{{uid}}}"

    def put(self, uid: str, mode: Mode, until: float) -> None:
        self._redis.set(self._key(uid), mode, pxat=int(until * 1000))

    def get(self, uid: str, now: float) -> Mode | None:
        raw = self._redis.get(self._key(uid))
        if raw is None:
            return None
        return "permanent" if raw == b"permanent" else "deactivated"

    def remove(self, uid: str) -> None:
        self._redis.delete(self._key(uid))


class SqliteTombstones:
    """A table of its own in the device store's SQLite file, opened as every SQLite store is."""

    def __init__(self, path: Path, *, timeout: float = BUSY_TIMEOUT) -> None:
        self.file = SqliteFile(path, (SCHEMA,), timeout=timeout)
        self.path = self.file.path

    def _run(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        write = not sql.startswith("SELECT")
        return self.file.run(lambda conn: conn.execute(sql, args).fetchall(), write=write)  # type: ignore[no-any-return]

    def put(self, uid: str, mode: Mode, until: float) -> None:
        self._run("DELETE FROM deprovisioned_users WHERE until <= ?", (time.time(),))  # the expired ones
        self._run("INSERT OR REPLACE INTO deprovisioned_users VALUES (?, ?, ?)", (uid, mode, until))

    def get(self, uid: str, now: float) -> Mode | None:
        rows = self._run("SELECT mode FROM deprovisioned_users WHERE uid = ? AND until > ?", (uid, now))
        return ("permanent" if rows[0][0] == "permanent" else "deactivated") if rows else None

    def remove(self, uid: str) -> None:
        self._run("DELETE FROM deprovisioned_users WHERE uid = ?", (uid,))


def tombstones_for(uri: str) -> TombstoneStore:
    """The tombstone store beside the device store ``uri`` names (``SESSION_STORE_URI``)."""
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return RedisTombstones(uri)
    if uri.startswith("sqlite:"):
        from .devices.sqlite import path_of

        return SqliteTombstones(path_of(uri))
    return MemoryTombstones()


class Deprovisioned:
    """The tombstones, with this worker's own memory of them for when the store is out."""

    def __init__(
        self,
        store: TombstoneStore,
        *,
        retention: float = DEFAULT_RETENTION,
        breaker: StoreBreaker | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.retention, self._clock = store, retention, clock
        self.breaker = breaker or StoreBreaker("deprovisioned users")
        self._local: OrderedDict[str, tuple[Mode, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _remember(self, uid: str, mode: Mode, until: float) -> None:
        with self._lock:
            self._local[uid] = (mode, until)
            self._local.move_to_end(uid)
            while len(self._local) > LOCAL_LIMIT:
                self._local.popitem(last=False)

    def _forget(self, uid: str) -> None:
        with self._lock:
            self._local.pop(uid, None)

    def mark(self, uid: str, mode: Mode) -> None:
        """``uid`` is being deprovisioned: no login re-creates it for ``retention`` seconds."""
        until = self._clock() + self.retention
        self._remember(uid, mode, until)

        def put() -> bool:
            self.store.put(uid, mode, until)
            return True

        if not self.breaker.call(put, False):
            log.warning("user %s deprovisioned, its tombstone kept by this worker alone (store out)", uid)

    def clear(self, uid: str) -> bool:
        """``uid`` is created again on purpose: logins may create it from now on. False when the
        store did not answer (the tombstone there still stands)."""
        self._forget(uid)

        def remove() -> bool:
            self.store.remove(uid)
            return True

        return self.breaker.call(remove, False)

    def gone(self, uid: str) -> Mode | None:
        """The mode ``uid`` was deprovisioned with while its tombstone lasts, else None. The
        store decides; while it is out, this worker's own memory of tombstones does, and a uid
        it never saw deleted is let through (fail safe, see the module)."""
        now = self._clock()
        answered = self.breaker.call(lambda: (self.store.get(uid, now),), None)
        if answered is not None:
            mode = answered[0]
            if mode is None:
                self._forget(uid)  # ended (or expired) for the whole fleet
            else:
                self._remember(uid, mode, now + self.retention)  # an upper bound: the store stays the judge
            return mode
        with self._lock:
            local = self._local.get(uid)
        return local[0] if local is not None and local[1] > now else None


# ---- where a Flask app keeps them (the routes' rules use them through token_server.core) ----


def init_app(app: Flask, deprovisioned: Deprovisioned) -> None:
    app.extensions[DEPROVISIONED] = deprovisioned


def current() -> Deprovisioned:
    """The app's tombstones, wired by ``routes.init_app`` (never made up here)."""
    found: Deprovisioned = current_app.extensions[DEPROVISIONED]
    return found
