"""The event store in the device store's SQLite file (the workers of one host).

Same file as the device sessions, tables of its own, opened as every SQLite store is
(:mod:`token_server.stores.sqlite_file`); the claim is one ``BEGIN IMMEDIATE`` transaction, so two
processes never take the same event.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from ..stores.sqlite_file import SqliteFile
from .store import DEDUPE_SECONDS, LEASE_SECONDS, STORE_TIMEOUT, Claim, Presence, QueuedEvent, StoreError

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS webhook_events (id TEXT PRIMARY KEY, trigger TEXT NOT NULL, body BLOB NOT NULL, "
    "received_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, visible_at REAL NOT NULL, claim TEXT, "
    "error TEXT, dead_at REAL)",
    "CREATE INDEX IF NOT EXISTS webhook_events_visible ON webhook_events (dead_at, visible_at)",
    "CREATE TABLE IF NOT EXISTS webhook_seen (key TEXT PRIMARY KEY, until REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_seen_until ON webhook_seen (until)",
    "CREATE TABLE IF NOT EXISTS webhook_presence (uid TEXT PRIMARY KEY, status TEXT NOT NULL, "
    "at_ms INTEGER NOT NULL, platform TEXT)",
)
EVENT_COLUMNS = "id, trigger, body, received_at, attempts, error, dead_at"


def _event(row: tuple[Any, ...]) -> QueuedEvent:
    return QueuedEvent(row[0], row[1], bytes(row[2]), row[3], row[4], row[5], row[6])


class SqliteEventStore:
    def __init__(self, path: Path | str, *, timeout: float = STORE_TIMEOUT, clock: Callable[[], float] = time.time):
        self.file = SqliteFile(path, SCHEMA, timeout=timeout)
        self.path = self.file.path
        self._clock = clock

    def _run(self, steps: Callable[[sqlite3.Connection], Any], *, write: bool = True, durable: bool = False) -> Any:
        """``durable``: synced to disk before it returns (an event acknowledged to CometChat).
        The worker's own writes need not be: with WAL they survive a crash of the process, and
        one lost to a power cut only makes an event handled again (at least once still holds)."""
        try:
            return self.file.run(steps, write=write, durable=durable)
        except (sqlite3.Error, OSError) as exc:  # OSError: its folder cannot be made
            raise StoreError(f"sqlite: {type(exc).__name__}: {exc}") from exc

    def enqueue(self, dedupe_key: str, event: QueuedEvent, *, remember: float = DEDUPE_SECONDS) -> bool:
        now = self._clock()

        def steps(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM webhook_seen WHERE until <= ?", (now,))
            seen = conn.execute("INSERT OR IGNORE INTO webhook_seen VALUES (?, ?)", (dedupe_key, now + remember))
            if seen.rowcount != 1:
                return False
            conn.execute(
                "INSERT INTO webhook_events (id, trigger, body, received_at, attempts, visible_at) "
                "VALUES (?, ?, ?, ?, 0, ?)",
                (event.id, event.trigger, event.body, event.received_at, now),
            )
            return True

        return bool(self._run(steps, durable=True))

    def claim(self, lease: float = LEASE_SECONDS) -> Claim | None:
        now = self._clock()
        token = uuid.uuid4().hex

        def steps(conn: sqlite3.Connection) -> Claim | None:
            row = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM webhook_events WHERE dead_at IS NULL AND visible_at <= ? "  # noqa: S608
                "ORDER BY visible_at LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE webhook_events SET visible_at = ?, claim = ?, attempts = attempts + 1 WHERE id = ?",
                (now + lease, token, row[0]),
            )
            event = _event(row)
            return Claim(
                QueuedEvent(event.id, event.trigger, event.body, event.received_at, event.attempts + 1, event.error),
                token,
            )

        claim: Claim | None = self._run(steps)
        return claim

    def complete(self, claim: Claim) -> bool:
        def steps(conn: sqlite3.Connection) -> bool:
            done = conn.execute("DELETE FROM webhook_events WHERE id = ? AND claim = ?", (claim.event.id, claim.token))
            return done.rowcount == 1

        return bool(self._run(steps))

    def retry(self, claim: Claim, delay: float, error: str) -> bool:
        at = self._clock() + delay

        def steps(conn: sqlite3.Connection) -> bool:
            done = conn.execute(
                "UPDATE webhook_events SET visible_at = ?, claim = NULL, error = ? WHERE id = ? AND claim = ?",
                (at, error, claim.event.id, claim.token),
            )
            return done.rowcount == 1

        return bool(self._run(steps))

    def bury(self, claim: Claim, error: str) -> bool:
        now = self._clock()

        def steps(conn: sqlite3.Connection) -> bool:
            done = conn.execute(
                "UPDATE webhook_events SET dead_at = ?, claim = NULL, error = ? WHERE id = ? AND claim = ?",
                (now, error, claim.event.id, claim.token),
            )
            return done.rowcount == 1

        return bool(self._run(steps))

    def dead_letters(self) -> list[QueuedEvent]:
        def steps(conn: sqlite3.Connection) -> list[QueuedEvent]:
            rows = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM webhook_events WHERE dead_at IS NOT NULL ORDER BY dead_at"  # noqa: S608
            ).fetchall()
            return [_event(row) for row in rows]

        found: list[QueuedEvent] = self._run(steps, write=False)
        return found

    def replay(self, event_id: str) -> bool:
        now = self._clock()

        def steps(conn: sqlite3.Connection) -> bool:
            done = conn.execute(
                "UPDATE webhook_events SET dead_at = NULL, attempts = 0, visible_at = ? "
                "WHERE id = ? AND dead_at IS NOT NULL",
                (now, event_id),
            )
            return done.rowcount == 1

        return bool(self._run(steps, durable=True))

    def _count(self, where: str) -> int:
        def steps(conn: sqlite3.Connection) -> int:
            return int(conn.execute(f"SELECT COUNT(*) FROM webhook_events WHERE {where}").fetchone()[0])  # noqa: S608

        count: int = self._run(steps, write=False)
        return count

    def depth(self) -> int:
        return self._count("dead_at IS NULL")

    def dead_count(self) -> int:
        return self._count("dead_at IS NOT NULL")

    def put_presence(self, presence: Presence) -> bool:
        def steps(conn: sqlite3.Connection) -> bool:
            done = conn.execute(
                "INSERT INTO webhook_presence VALUES (?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET "
                "status = excluded.status, at_ms = excluded.at_ms, platform = excluded.platform "
                "WHERE webhook_presence.at_ms < excluded.at_ms",
                (presence.uid, presence.status, presence.at_ms, presence.platform),
            )
            return done.rowcount == 1

        return bool(self._run(steps))

    def get_presence(self, uid: str) -> Presence | None:
        def steps(conn: sqlite3.Connection) -> Presence | None:
            row = conn.execute(
                "SELECT uid, status, at_ms, platform FROM webhook_presence WHERE uid = ?", (uid,)
            ).fetchone()
            return Presence(*row) if row else None

        found: Presence | None = self._run(steps, write=False)
        return found

    def ping(self) -> None:
        self._run(lambda conn: conn.execute("SELECT 1").fetchone(), write=False)
