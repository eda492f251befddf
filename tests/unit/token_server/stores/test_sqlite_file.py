"""token_server.stores.sqlite_file: how every SQLite store of the server opens its file."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest

from token_server.stores.sqlite_file import SqliteFile, is_contention

SCHEMA = ("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",)


def test_a_thread_keeps_its_connection_and_another_thread_gets_its_own(tmp_path) -> None:
    file = SqliteFile(tmp_path / "x.db", SCHEMA)
    mine = file.connection()
    assert file.connection() is mine
    theirs: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: theirs.append(file.connection()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    file.close()


def test_a_forked_process_opens_its_own_connection(tmp_path, monkeypatch) -> None:
    file = SqliteFile(tmp_path / "x.db", SCHEMA)
    parent = file.connection()
    monkeypatch.setattr(os, "getpid", lambda: -1)  # what a forked worker sees: another pid
    assert file.connection() is not parent


def test_the_file_is_wal_owner_only_and_has_its_tables(tmp_path) -> None:
    file = SqliteFile(tmp_path / "sub" / "x.db", SCHEMA)
    file.run(lambda conn: conn.execute("INSERT INTO t VALUES ('a', 1)"), write=True)
    assert file.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "sub" / "x.db").stat().st_mode & 0o077 == 0
    assert file.run(lambda conn: conn.execute("SELECT v FROM t").fetchall(), write=False) == [(1,)]


def test_a_failed_write_rolls_back_and_leaves_the_connection_usable(tmp_path) -> None:
    file = SqliteFile(tmp_path / "x.db", SCHEMA)

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('a', 1)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        file.run(half_then_fail, write=True)
    assert not file.connection().in_transaction
    assert file.run(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0], write=False) == 0
    file.run(lambda conn: conn.execute("INSERT INTO t VALUES ('b', 2)"), write=True)


def test_many_threads_writing_at_once_all_succeed(tmp_path) -> None:
    # The default store's own host load: contention waits for the lock instead of failing.
    file = SqliteFile(tmp_path / "x.db", SCHEMA)
    errors: list[BaseException] = []

    def bump(n: int) -> None:
        try:
            for i in range(20):
                file.run(lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (f"{n}-{i}", i)), write=True)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert file.run(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0], write=False) == 320


def test_contention_is_told_apart_from_other_errors() -> None:
    assert is_contention(sqlite3.OperationalError("database is locked"))
    assert not is_contention(sqlite3.OperationalError("no such table: t"))


def test_a_first_connection_retries_a_locked_file_until_its_timeout(tmp_path, monkeypatch) -> None:
    # Several first connections switching a new file to WAL at once: one may be told "locked"
    # at once, without the busy wait; it tries again instead of failing the call.
    told = []

    def migrate(conn: sqlite3.Connection) -> None:
        if not told:
            told.append(1)
            raise sqlite3.OperationalError("database is locked")

    file = SqliteFile(tmp_path / "x.db", SCHEMA, timeout=5.0, migrate=migrate)
    assert file.run(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0], write=False) == 0
    assert told == [1]


def test_a_first_connection_gives_up_on_a_locked_file_after_its_timeout(tmp_path) -> None:
    def always_locked(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database is locked")

    file = SqliteFile(tmp_path / "x.db", SCHEMA, timeout=0.05, migrate=always_locked)
    with pytest.raises(sqlite3.OperationalError):
        file.connection()
