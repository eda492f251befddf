"""The device stores without a server (memory, a SQLite file): a dead holder's lock expires, the
cipher opens only what it sealed, a SQLite URI names its file."""

from __future__ import annotations

import pytest

from token_server.devices import MemorySessionStore, StoredSession, TokenCipher, store_for
from token_server.devices.sqlite import SqliteSessionStore


def test_a_lock_whose_holder_died_expires(tmp_path) -> None:
    now = [1000.0]
    for store in (
        MemorySessionStore(clock=lambda: now[0]),
        SqliteSessionStore(tmp_path / "s.db", clock=lambda: now[0]),
    ):
        now[0] = 1000.0
        assert store.acquire("u", "d", "dead-worker", ttl=30)
        now[0] = 1029.0
        assert not store.acquire("u", "d", "next", ttl=30)
        now[0] = 1030.0
        assert store.acquire("u", "d", "next", ttl=30)


def test_the_cipher_opens_what_it_sealed_and_nothing_else() -> None:
    cipher = TokenCipher(["k" * 32])
    sealed = cipher.seal("alice_1700000000abc")
    assert "alice_1700000000abc" not in sealed and cipher.open(sealed) == "alice_1700000000abc"
    assert TokenCipher(["other" * 8]).open(sealed) is None
    rotated = TokenCipher(["new" * 11, "k" * 32])  # the new key seals, the old one still opens
    assert rotated.open(sealed) == "alice_1700000000abc"


def test_a_sqlite_uri_names_its_file(tmp_path) -> None:
    store = store_for(f"sqlite:///{tmp_path}/nested/dir/s.sqlite3")
    store.ping()
    assert (tmp_path / "nested/dir/s.sqlite3").is_file()
    assert oct((tmp_path / "nested/dir/s.sqlite3").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError):
        store_for("sqlite:///")
    with pytest.raises(ValueError):
        store_for("postgres://x")


def test_the_mint_count_is_not_synced_to_disk_and_a_device_record_is(tmp_path) -> None:
    """Every mint writes the count: a sync each time held the file's write lock ten times longer
    and a burst of logins queued behind it for seconds; a device's record still waits for the disk."""
    store = SqliteSessionStore(tmp_path / "s.db")
    store.count_mints("alice")  # the file is made
    statements: list[str] = []
    store.file.connection().set_trace_callback(statements.append)
    assert store.count_mints("alice") == 2
    assert "PRAGMA synchronous = NORMAL" in statements and "PRAGMA synchronous = FULL" not in statements
    statements.clear()
    store.swap("alice", StoredSession("phone", "sealed", 1, 1, 2))
    assert "PRAGMA synchronous = FULL" in statements
