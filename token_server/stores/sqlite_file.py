"""One SQLite file shared by the workers of one host, as every SQLite store of the server opens it.

Contention on a local file is the normal state of a busy host, not an outage: each thread keeps
one connection (reopened after a fork), the journal is WAL (readers never wait for the writer),
writes take the lock up front (``BEGIN IMMEDIATE``) and wait for it up to ``BUSY_TIMEOUT``.
The device tokens, the deprovisioned users and the webhook events share this way of opening it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

# How long a write waits for another connection's lock on the same file (seconds): a local
# write holds it for microseconds, so only a host far past its capacity waits this long.
BUSY_TIMEOUT = 5.0
BUSY = ("database is locked", "database is busy", "database table is locked")


def is_contention(exc: sqlite3.OperationalError) -> bool:
    """The file was busy past the timeout: "not this time", not a store that is down."""
    return any(text in str(exc) for text in BUSY)


class SqliteFile:
    """``path``, its tables made once by ``schema`` (and ``migrate``, for older files)."""

    def __init__(
        self,
        path: Path | str,
        schema: Sequence[str],
        *,
        timeout: float = BUSY_TIMEOUT,
        migrate: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._schema = tuple(schema)
        self._migrate = migrate
        self._ready = False
        self._prepare_lock = threading.Lock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (one per thread and process: a forked worker opens its own)."""
        held: tuple[int, sqlite3.Connection] | None = getattr(self._local, "conn", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        if not self._ready:
            # Owner-only: the file holds sealed tokens and events, nobody else's business.
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if not self._ready:
            with self._prepare_lock:  # one thread of this process makes the tables
                if not self._ready:
                    self._prepare(conn)
        self._local.conn = (os.getpid(), conn)
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL can answer "locked" at once, without waiting for the busy
        # timeout, while another process's first connection does the same: try again until then.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                for statement in self._schema:
                    conn.execute(statement)
                if self._migrate is not None:
                    self._migrate(conn)
                break
            except sqlite3.OperationalError as exc:
                if not is_contention(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass
        self._ready = True

    def run(self, steps: Callable[[sqlite3.Connection], Any], *, write: bool, durable: bool = True) -> Any:
        """``steps`` on this thread's connection; a write inside one ``BEGIN IMMEDIATE``
        transaction. ``durable=False``: not synced to disk before it returns (WAL still keeps it
        through a crash of the process; only a power cut can lose it). sqlite3's errors pass."""
        conn = self.connection()
        if not write:
            return steps(conn)
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        conn.execute("BEGIN IMMEDIATE")  # the write lock now, or a busy error within the timeout
        try:
            result = steps(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # a reused connection must never stay inside a transaction
                conn.execute("ROLLBACK")
            raise
        return result

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:  # another thread's connection in use
                pass
