"""The SQLite store: one file shared by the workers of one host (``sqlite:///path``)."""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Callable

from ..stores.breaker import STORE_TIMEOUT
from .base import LOCK_TTL, StoredSession

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS device_sessions (uid TEXT NOT NULL, device_id TEXT NOT NULL, sealed TEXT NOT NULL, "
    "created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, PRIMARY KEY (uid, device_id))",
    "CREATE TABLE IF NOT EXISTS device_locks (uid TEXT NOT NULL, device_id TEXT NOT NULL, owner TEXT NOT NULL, "
    "expires REAL NOT NULL, PRIMARY KEY (uid, device_id))",
)
COLUMNS = "device_id, sealed, created_at, last_used_at"


def path_of(uri: str) -> Path:
    """``sqlite:///relative/x.db`` or ``sqlite:////absolute/x.db`` (SQLAlchemy's spelling)."""
    if not uri.startswith("sqlite:///") or len(uri) == len("sqlite:///"):
        raise ValueError("a SQLite store URI looks like sqlite:///path/to/file.sqlite3")
    return Path(uri.removeprefix("sqlite:///"))


class SqliteSessionStore:
    """Every call opens its own short connection (safe across gunicorn's fork and threads) with a
    busy timeout of ``timeout`` (the stores' bound): a file locked by another process fails the
    call instead of waiting, and the service's breaker then skips the store. WAL journaling lets
    readers go on while one worker writes."""
    def __init__(self, path: Path | str, *, timeout: float = STORE_TIMEOUT, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._timeout = timeout
        self._clock = clock
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            # Owner-only: the file holds sealed tokens, of no use without the key, and nobody else's business.
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        if not self._ready:
            self._prepare(conn)
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in SCHEMA:
            conn.execute(statement)
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass
        self._ready = True

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[StoredSession]:
        with closing(self._connect()) as conn:
            return [StoredSession(*row) for row in conn.execute(sql, args).fetchall()]

    def get(self, uid: str, device_id: str) -> StoredSession | None:
        rows = self._rows(f"SELECT {COLUMNS} FROM device_sessions WHERE uid = ? AND device_id = ?", (uid, device_id))  # noqa: S608
        return rows[0] if rows else None

    def _transaction(self, steps: Callable[[sqlite3.Connection], Any]) -> Any:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")  # the write lock now, or a busy error within the timeout
            try:
                result = steps(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    @staticmethod
    def _one(conn: sqlite3.Connection, uid: str, device_id: str) -> StoredSession | None:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM device_sessions WHERE uid = ? AND device_id = ?",  # noqa: S608
            (uid, device_id),
        ).fetchone()
        return StoredSession(*row) if row else None

    def swap(self, uid: str, session: StoredSession) -> StoredSession | None:
        def steps(conn: sqlite3.Connection) -> StoredSession | None:
            previous = self._one(conn, uid, session.device_id)
            conn.execute(
                "INSERT OR REPLACE INTO device_sessions VALUES (?, ?, ?, ?, ?)",
                (uid, session.device_id, session.sealed, session.created_at, session.last_used_at),
            )
            return previous

        return self._transaction(steps)

    def replace_if(self, uid: str, session: StoredSession, expected: str | None) -> tuple[bool, StoredSession | None]:
        def steps(conn: sqlite3.Connection) -> tuple[bool, StoredSession | None]:
            current = self._one(conn, uid, session.device_id)
            if (current.sealed if current else None) != expected:
                return False, current
            conn.execute(
                "INSERT OR REPLACE INTO device_sessions VALUES (?, ?, ?, ?, ?)",
                (uid, session.device_id, session.sealed, session.created_at, session.last_used_at),
            )
            return True, current

        result: tuple[bool, StoredSession | None] = self._transaction(steps)
        return result

    def touch(self, uid: str, device_id: str, last_used_at: int) -> None:
        with closing(self._connect()) as conn:
            conn.execute(
                "UPDATE device_sessions SET last_used_at = MAX(last_used_at, ?) WHERE uid = ? AND device_id = ?",
                (last_used_at, uid, device_id),
            )

    def delete(self, uid: str, device_id: str) -> StoredSession | None:
        def steps(conn: sqlite3.Connection) -> StoredSession | None:
            previous = self._one(conn, uid, device_id)
            conn.execute("DELETE FROM device_sessions WHERE uid = ? AND device_id = ?", (uid, device_id))
            return previous

        return self._transaction(steps)

    def devices(self, uid: str) -> list[StoredSession]:
        return self._rows(f"SELECT {COLUMNS} FROM device_sessions WHERE uid = ? ORDER BY created_at DESC", (uid,))  # noqa: S608

    def delete_all(self, uid: str) -> list[StoredSession]:
        def steps(conn: sqlite3.Connection) -> list[StoredSession]:
            rows = conn.execute(f"SELECT {COLUMNS} FROM device_sessions WHERE uid = ?", (uid,)).fetchall()  # noqa: S608
            conn.execute("DELETE FROM device_sessions WHERE uid = ?", (uid,))
            return [StoredSession(*row) for row in rows]

        return self._transaction(steps)

    def acquire(self, uid: str, device_id: str, owner: str, ttl: float = LOCK_TTL) -> bool:
        now = self._clock()

        def steps(conn: sqlite3.Connection) -> bool:
            # Compare-and-set: the lock is ours if nobody holds it, it expired, or we hold it.
            cursor = conn.execute(
                "INSERT INTO device_locks VALUES (?, ?, ?, ?) ON CONFLICT (uid, device_id) DO UPDATE SET "
                "owner = excluded.owner, expires = excluded.expires "
                "WHERE device_locks.expires <= ? OR device_locks.owner = excluded.owner",
                (uid, device_id, owner, now + ttl, now),
            )
            return cursor.rowcount == 1

        return bool(self._transaction(steps))

    def release(self, uid: str, device_id: str, owner: str) -> None:
        with closing(self._connect()) as conn:
            conn.execute(
                "DELETE FROM device_locks WHERE uid = ? AND device_id = ? AND owner = ?", (uid, device_id, owner)
            )

    def ping(self) -> None:
        with closing(self._connect()) as conn:
            conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        return None
