"""The SQLite store: one file shared by the workers of one host (``sqlite:///path``)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .base import LOCK_TTL, StoreContention, StoredSession

# How long a call waits for another connection's write lock on the same file (seconds).
BUSY_TIMEOUT = 5.0
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
BUSY = ("database is locked", "database is busy", "database table is locked")


def path_of(uri: str) -> Path:
    """``sqlite:///relative/x.db`` or ``sqlite:////absolute/x.db`` (SQLAlchemy's spelling)."""
    if not uri.startswith("sqlite:///") or len(uri) == len("sqlite:///"):
        raise ValueError("a SQLite store URI looks like sqlite:///path/to/file.sqlite3")
    return Path(uri.removeprefix("sqlite:///"))


def _contention(exc: sqlite3.OperationalError) -> bool:
    return any(text in str(exc) for text in BUSY)


class SqliteSessionStore:
    """Contention on a local file is the normal state of a busy host, not an outage: each thread
    keeps one connection (reopened after a fork), the journal is WAL (readers never wait for the
    writer), writes take the lock up front (``BEGIN IMMEDIATE``) and wait for it up to
    ``BUSY_TIMEOUT`` (5 s: a local write holds it for microseconds). A lock still busy after that
    raises :class:`StoreContention`, which the service treats as "not this time", never as a store
    that is down (its breaker stays closed)."""

    def __init__(self, path: Path | str, *, timeout: float = BUSY_TIMEOUT, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._timeout = timeout
        self._clock = clock
        self._ready = False
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (one per thread and process: a forked worker opens its own)."""
        held: tuple[int, sqlite3.Connection] | None = getattr(self._local, "conn", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        if not self._ready:
            # Owner-only: the file holds sealed tokens, of no use without the key, and nobody else's business.
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        if not self._ready:
            self._prepare(conn)
        self._local.conn = (os.getpid(), conn)
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in SCHEMA:
            conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(device_sessions)")}
        if "seq" not in columns:  # a file from before the mint count
            try:
                conn.execute("ALTER TABLE device_sessions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
            except sqlite3.OperationalError as exc:  # another worker added it first
                if "duplicate column" not in str(exc):
                    raise
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass
        self._ready = True

    def _run(self, steps: Callable[[sqlite3.Connection], Any], *, write: bool) -> Any:
        conn = self._conn()
        try:
            if not write:
                return steps(conn)
            conn.execute("BEGIN IMMEDIATE")  # the write lock now, or a busy error within the timeout
            try:
                result = steps(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a reused connection must never stay inside a transaction
                    conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.OperationalError as exc:
            if _contention(exc):
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

        return self._run(steps, write=True)  # type: ignore[no-any-return]

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
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:  # another thread's connection in use
                pass
