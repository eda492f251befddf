"""The session stores (memory, a real SQLite file, a real Redis): the same contract, tokens
sealed so a copy of the store holds none, and a store down, hung or locked never fails a login
(each call within the stores' bound, then the store is skipped; the device is minted one token for the outage,
not one per login)."""

from __future__ import annotations

import logging
import sqlite3
import threading

import pytest
import redis

from cometchat import CometChatClient
from tests.procs import EMULATOR_KEY
from tests.stores import SilentServer, closed_port_url, start_redis
from token_server.devices import DeviceTokens, MemorySessionStore, StoredSession, TokenCipher, store_for
from token_server.devices.redis_store import RedisSessionStore
from token_server.devices.sqlite import SqliteSessionStore
from token_server.stores.breaker import StoreBreaker

# A hung store must release a login well within this (its calls are bounded at 0.25 s); a
# generous bound on a busy machine, against redis-py's and sqlite3's own 5 s defaults.
HANG_BOUND = 2.0


@pytest.fixture
def redis_url(tmp_path):
    server, url = start_redis(tmp_path)
    yield url
    server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemorySessionStore()
    elif request.param == "sqlite":
        yield store_for(f"sqlite:///{tmp_path}/sessions.sqlite3")
    else:
        yield store_for(request.getfixturevalue("redis_url"))


def session(device: str, sealed: str = "sealed-1", created: int = 100, used: int = 100) -> StoredSession:
    return StoredSession(device, sealed, created, used)


def test_every_store_replaces_a_device_only_if_it_still_holds_what_the_caller_saw(store) -> None:
    assert store.replace_if("alice", session("d1"), "sealed-other") == (False, None)
    assert store.get("alice", "d1") is None and store.devices("alice") == []
    assert store.replace_if("alice", session("d1"), None) == (True, None)
    second = session("d1", "sealed-2", 200, 200)
    assert store.replace_if("alice", second, None) == (False, session("d1"))  # someone stored first
    assert store.replace_if("alice", second, "sealed-stale") == (False, session("d1"))
    assert store.get("alice", "d1") == session("d1")
    store.touch("alice", "d1", 150)  # a reuse changes the last use, not the token: still what was seen
    assert store.replace_if("alice", second, "sealed-1") == (True, session("d1", used=150))
    assert store.get("alice", "d1") == second and store.get("bob", "d1") is None


def test_every_store_keeps_swaps_and_forgets_devices(store) -> None:
    assert store.get("alice", "d1") is None and store.devices("alice") == []
    assert store.swap("alice", session("d1")) is None
    assert store.swap("alice", session("d1", "sealed-2", 200, 200)) == session("d1")
    store.swap("alice", session("d2", created=150))
    store.swap("bob", session("d1"))
    assert store.get("alice", "d1") == session("d1", "sealed-2", 200, 200)
    assert [s.device_id for s in store.devices("alice")] == ["d1", "d2"]  # newest first
    store.touch("alice", "d1", 300)
    store.touch("alice", "d1", 250)  # never goes back
    store.touch("alice", "gone", 300)  # nothing to touch: nothing created
    assert store.get("alice", "d1").last_used_at == 300 and store.get("alice", "gone") is None
    assert store.delete("alice", "d1").device_id == "d1" and store.delete("alice", "d1") is None
    assert [s.device_id for s in store.delete_all("alice")] == ["d2"] and store.devices("alice") == []
    assert store.get("bob", "d1") == session("d1")
    store.ping()


def test_every_store_deletes_a_device_only_if_it_still_holds_the_token_revoked(store) -> None:
    store.swap("alice", session("d1", "sealed-1"))
    assert not store.delete_if("alice", "d1", "sealed-other")  # replaced since: kept
    assert store.get("alice", "d1") == session("d1", "sealed-1")
    assert store.delete_if("alice", "d1", "sealed-1") and store.get("alice", "d1") is None
    assert not store.delete_if("alice", "d1", "sealed-1")  # gone already


def test_every_store_counts_a_users_mints_beside_its_records(store) -> None:
    assert store.lookup("alice", "d1") == (None, 0)
    assert store.count_mints("alice") == 1 and store.count_mints("alice", 2) == 3
    store.swap("alice", StoredSession("d1", "sealed-1", 100, 100, 3))
    store.touch("alice", "d1", 200)  # a reuse keeps the record's place in the user's mints
    assert store.lookup("alice", "d1") == (StoredSession("d1", "sealed-1", 100, 200, 3), 3)
    assert [s.device_id for s in store.devices("alice")] == ["d1"]  # the count is no device
    assert store.lookup("bob", "d1") == (None, 0)


def test_every_store_keeps_the_first_sealing_key_offered(store) -> None:
    assert store.ensure_key("first-key") == "first-key"
    assert store.ensure_key("second-key") == "first-key"  # set-if-absent: every worker agrees


def test_every_store_lends_a_devices_mint_lock_to_one_owner(store) -> None:
    assert store.acquire("alice", "d1", "owner-a", ttl=30)
    assert not store.acquire("alice", "d1", "owner-b", ttl=30)
    assert store.acquire("alice", "d2", "owner-b", ttl=30)  # another device: its own lock
    store.release("alice", "d1", "owner-b")  # not the holder: no effect
    assert not store.acquire("alice", "d1", "owner-b", ttl=30)
    store.release("alice", "d1", "owner-a")
    assert store.acquire("alice", "d1", "owner-b", ttl=30)






@pytest.fixture
def client(emulator):
    c = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, backoff=0.01)
    yield c
    c.close()


def tokens_for(store, **kwargs) -> DeviceTokens:
    return DeviceTokens(store, TokenCipher(["a-rest-key-to-derive-the-store-key-from"]), **kwargs)


def test_nothing_readable_in_a_sqlite_file(tmp_path, client) -> None:
    path = tmp_path / "sessions.sqlite3"
    tokens = tokens_for(SqliteSessionStore(path))
    token = tokens.login(client, "cometchat-uid-1", "laptop").token.auth_token
    assert tokens.login(client, "cometchat-uid-1", "laptop").reused
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("sessions.sqlite3"))
    assert b"laptop" in raw  # the file is the store (the device id is kept in the clear) ...
    assert token.encode() not in raw and token[-30:].encode() not in raw  # ... and holds no token


def test_nothing_readable_in_redis(redis_url, client) -> None:
    tokens = tokens_for(store_for(redis_url))
    token = tokens.login(client, "cometchat-uid-1", "laptop").token.auth_token
    raw = redis.Redis.from_url(redis_url)
    keys = raw.keys("*")
    dumped = b"".join(raw.dump(k) for k in keys)
    assert b"laptop" in dumped and token.encode() not in dumped and token[-30:].encode() not in dumped


def bounded_login(tokens: DeviceTokens, client, device: str = "d1"):
    """A login in a thread, given HANG_BOUND seconds: a store that hangs must not hold it."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(tokens.login(client, "cometchat-uid-2", device)))
    thread.start()
    thread.join(HANG_BOUND)
    assert not thread.is_alive(), "the login waited on the store past its bound"
    return result[0]


def store_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cometchat.stores" and r.levelno == logging.WARNING]


def upstream_tokens(uid: str, emulator) -> list[str]:
    import requests

    listed = requests.get(
        emulator.base_url + f"/users/{uid}/auth_tokens",
        params={"perPage": 100},
        headers={"apikey": EMULATOR_KEY},
        timeout=5,
    ).json()
    return [t["authToken"] for t in listed["data"]]


def test_a_redis_that_is_down_answers_every_login_with_one_token_per_device(client, emulator, caplog) -> None:
    tokens = tokens_for(RedisSessionStore.from_url(closed_port_url()))
    before = upstream_tokens("cometchat-uid-2", emulator)
    with caplog.at_level(logging.WARNING, "cometchat.stores"):
        answers = [bounded_login(tokens, client) for _ in range(4)]
    assert not answers[0].reused and all(a.reused and a.token == answers[0].token for a in answers[1:])
    assert len(store_warnings(caplog)) == 1
    assert len(upstream_tokens("cometchat-uid-2", emulator)) == len(before) + 1  # one token, not four


def test_a_redis_that_hangs_answers_within_the_bound_with_one_token_per_device(client, caplog) -> None:
    silent = SilentServer()
    try:
        tokens = tokens_for(RedisSessionStore.from_url(f"redis://127.0.0.1:{silent.port}/0"))
        with caplog.at_level(logging.WARNING, "cometchat.stores"):
            answers = [bounded_login(tokens, client) for _ in range(3)]
    finally:
        silent.close()
    assert all(a.token.auth_token == answers[0].token.auth_token for a in answers)
    assert len(store_warnings(caplog)) == 1 and "Timeout" in store_warnings(caplog)[0].getMessage()
    assert silent.connections == 1  # one bounded attempt, then skipped: no retries (redis-py retries 3 times by default)


def test_a_device_token_that_landed_just_before_the_lock_is_reused(client, emulator) -> None:
    """Another worker finished its mint between this login's read and its lock: reuse its token."""

    class OtherWorkerFinishes(MemorySessionStore):
        def acquire(self, uid, device_id, owner, ttl=30.0):
            if self.get(uid, device_id) is None:
                self.swap(uid, StoredSession(device_id, other.sealed, other.created_at, other.last_used_at))
            return super().acquire(uid, device_id, owner, ttl)

    store = OtherWorkerFinishes()
    tokens = tokens_for(store)
    minted = client.create_auth_token("cometchat-uid-4")
    other = StoredSession("d1", tokens.cipher.seal(minted.auth_token), minted.created_at, minted.created_at)
    calls = emulator.stats()["requests"]
    login = tokens.login(client, "cometchat-uid-4", "d1")
    assert login.reused and login.token.auth_token == minted.auth_token
    assert emulator.stats()["requests"] == calls  # no second mint


def test_a_locked_sqlite_file_is_contention_not_an_outage(tmp_path, client, caplog) -> None:
    """A write lock held past the busy timeout: the login is answered within the bound (one busy
    wait, not one per call), and the breaker stays closed (no outage logged, store used next)."""
    path = tmp_path / "sessions.sqlite3"
    tokens = tokens_for(SqliteSessionStore(path, timeout=0.3))
    tokens.login(client, "cometchat-uid-2", "warm")  # the file exists, with its tables
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock and never lets go
    try:
        with caplog.at_level(logging.WARNING, "cometchat.stores"):
            answers = [bounded_login(tokens, client) for _ in range(3)]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert all(a.token.auth_token == answers[0].token.auth_token for a in answers)
    assert store_warnings(caplog) == [] and not tokens.breaker.is_down and tokens.breaker.available()
    assert tokens.login(client, "cometchat-uid-2", "warm").reused  # the store is used right away


def test_a_store_that_recovers_is_used_again(client) -> None:
    class Flaky(MemorySessionStore):
        down = True

        def lookup(self, uid, device_id):
            if self.down:
                raise ConnectionError("store down")
            return super().lookup(uid, device_id)

    now = [0.0]
    store = Flaky()
    tokens = tokens_for(store, breaker=StoreBreaker("session", cooldown=5, clock=lambda: now[0]))
    assert not tokens.login(client, "cometchat-uid-3", "d").reused
    store.down, now[0] = False, 6.0
    first = tokens.login(client, "cometchat-uid-3", "d")
    assert tokens.login(client, "cometchat-uid-3", "d").token == first.token


