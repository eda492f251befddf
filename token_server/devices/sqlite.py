"""The SQLite store: one file shared by the workers of one host (``sqlite:///path``), opened as
:class:`~token_server.stores.sqlite_file.SqliteFile` opens every SQLite store. A lock still busy
past its timeout raises :class:`StoreContention`, which the service treats as "not this time",
never as a store that is down (its breaker stays closed).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

from ..stores.sqlite_file import BUSY_TIMEOUT, SqliteFile, is_contention
from .base import LOCK_TTL, StoreContention, StoredSession

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS device_sessions (uid TEXT NOT NULL, device_id TEXT NOT NULL, sealed TEXT NOT NULL, "
    "created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0, "
    "PRIMARY KEY (uid, device_id))",
    "CREATE TABLE IF NOT EXISTS device_locks (uid TEXT NOT NULL, device_id TEXT NOT NULL, owner TEXT NOT NULL, "
    "expires REAL NOT NULL, PRIMARY KEY (uid, device_id))",
    "CREATE TABLE IF NOT EXISTS user_mints (uid TEXT PRIMARY KEY, count INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sealing_key (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT NOT NULL)",
)
COLUMNS = "device_id, sealed, created_at, last_used_at, seq"


def path_of(uri: str) -> Path:
    """``sqlite:///relative/x.db`` or ``sqlite:////absolute/x.db`` (SQLAlchemy's spelling)."""
    if not uri.startswith("sqlite:///") or len(uri) == len("sqlite:///"):
        raise ValueError("a SQLite store URI looks like sqlite:///path/to/file.sqlite3")
    return Path(uri.removeprefix("sqlite:///"))


def _add_seq(conn: sqlite3.Connection) -> None:
    """A file from before the mint count gets its ``seq`` column."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(device_sessions)")}
    if "seq" not in columns:
        try:
            conn.execute("ALTER TABLE device_sessions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
        except sqlite3.OperationalError as exc:  # another worker added it first
            if "duplicate column" not in str(exc):
                raise


class SqliteSessionStore:
    def __init__(self, path: Path | str, *, timeout: float = BUSY_TIMEOUT, clock: Callable[[], float] = time.time):
        self.file = SqliteFile(path, SCHEMA, timeout=timeout, migrate=_add_seq)
        self.path = self.file.path
        self._clock = clock

    def _run(self, steps: Callable[[sqlite3.Connection], Any], *, write: bool, durable: bool = True) -> Any:
        try:
            return self.file.run(steps, write=write, durable=durable)
        except sqlite3.OperationalError as exc:
            if is_contention(exc):
                raise StoreContention(str(exc)) from exc
            raise

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[StoredSession]:
        return self._run(lambda conn: [StoredSession(*row) for row in conn.execute(sql, args).fetchall()], write=False)  # type: ignore[no-any-return]

    @staticmethod
    def _one(conn: sqlite3.Connection, uid: str, device_id: str) -> StoredSession | None:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM device_sessions WHERE uid = ? AND device_id = ?",  # noqa: S608
            (uid, device_id),
        ).fetchone()
        return StoredSession(*row) if row else None

    @staticmethod
    def _put(conn: sqlite3.Connection, uid: str, s: StoredSession) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO device_sessions VALUES (?, ?, ?, ?, ?, ?)",
            (uid, s.device_id, s.sealed, s.created_at, s.last_used_at, s.seq),
        )

    def get(self, uid: str, device_id: str) -> StoredSession | None:
        return self._run(lambda conn: self._one(conn, uid, device_id), write=False)  # type: ignore[no-any-return]

    def lookup(self, uid: str, device_id: str) -> tuple[StoredSession | None, int]:
        def steps(conn: sqlite3.Connection) -> tuple[StoredSession | None, int]:
            row = conn.execute("SELECT count FROM user_mints WHERE uid = ?", (uid,)).fetchone()
            return self._one(conn, uid, device_id), int(row[0]) if row else 0

        return self._run(steps, write=False)  # type: ignore[no-any-return]

    def count_mints(self, uid: str, n: int = 1) -> int:
        def steps(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO user_mints VALUES (?, ?) ON CONFLICT (uid) DO UPDATE SET count = count + excluded.count",
                (uid, n),
            )
            return int(conn.execute("SELECT count FROM user_mints WHERE uid = ?", (uid,)).fetchone()[0])

        # Every mint writes this count: synced to disk each time, it held the file's one write lock
        # ten times longer, and a burst of logins queued behind it for seconds. A power cut may
        # lose the last counts (the WAL keeps them through a crash of the process): a device's
        # token is then judged archived a few mints late, as the count is already best effort.
        return self._run(steps, write=True, durable=False)  # type: ignore[no-any-return]

    def swap(self, uid: str, session: StoredSession) -> StoredSession | None:
        def steps(conn: sqlite3.Connection) -> StoredSession | None:
            previous = self._one(conn, uid, session.device_id)
            self._put(conn, uid, session)
            return previous

        return self._run(steps, write=True)  # type: ignore[no-any-return]

    def replace_if(self, uid: str, session: StoredSession, expected: str | None) -> tuple[bool, StoredSession | None]:
        def steps(conn: sqlite3.Connection) -> tuple[bool, StoredSession | None]:
            current = self._one(conn, uid, session.device_id)
            if (current.sealed if current else None) != expected:
                return False, current
            self._put(conn, uid, session)
            return True, current

        return self._run(steps, write=True)  # type: ignore[no-any-return]

    def touch(self, uid: str, device_id: str, last_used_at: int) -> None:
        self._run(
            lambda conn: conn.execute(
                "UPDATE device_sessions SET last_used_at = MAX(last_used_at, ?) WHERE uid = ? AND device_id = ?",
                (last_used_at, uid, device_id),
            ),
            write=True,
        )

    def delete(self, uid: str, device_id: str) -> StoredSession | None:
        def steps(conn: sqlite3.Connection) -> StoredSession | None:
            previous = self._one(conn, uid, device_id)
            conn.execute("DELETE FROM device_sessions WHERE uid = ? AND device_id = ?", (uid, device_id))
            return previous

        return self._run(steps, write=True)  # type: ignore[no-any-return]

    def delete_if(self, uid: str, device_id: str, expected: str) -> bool:
        def steps(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM device_sessions WHERE uid = ? AND device_id = ? AND sealed = ?", (uid, device_id, expected)
            )
            return cursor.rowcount == 1

        return bool(self._run(steps, write=True))

    def ensure_key(self, candidate: str) -> str:
        def steps(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT OR IGNORE INTO sealing_key VALUES (1, ?)", (candidate,))
            return str(conn.execute("SELECT key FROM sealing_key WHERE id = 1").fetchone()[0])

        return self._run(steps, write=True)  # type: ignore[no-any-return]

    def devices(self, uid: str) -> list[StoredSession]:
        return self._rows(f"SELECT {COLUMNS} FROM device_sessions WHERE uid = ? ORDER BY created_at DESC", (uid,))  # noqa: S608

    def delete_all(self, uid: str) -> list[StoredSession]:
        def steps(conn: sqlite3.Connection) -> list[StoredSession]:
            rows = conn.execute(f"SELECT {COLUMNS} FROM device_sessions WHERE uid = ?", (uid,)).fetchall()  # noqa: S608
            conn.execute("DELETE FROM device_sessions WHERE uid = ?", (uid,))
            return [StoredSession(*row) for row in rows]

        return self._run(steps, write=True)  # type: ignore[no-any-return]

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

        return bool(self._run(steps, write=True))

    def release(self, uid: str, device_id: str, owner: str) -> None:
        self._run(
            lambda conn: conn.execute(
                "DELETE FROM device_locks WHERE uid = ? AND device_id = ? AND owner = ?", (uid, device_id, owner)
            ),
            write=True,
        )

    def ping(self) -> None:
        self._run(lambda conn: conn.execute("SELECT 1").fetchone(), write=False)

    def close(self) -> None:
        self.file.close()
