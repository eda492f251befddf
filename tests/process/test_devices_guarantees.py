"""One live, tracked token per device, whatever happens (issue 27): a store outage, local
contention, a key rotation, a sign-out racing a fresh login, a revoke-all racing a login, and
CometChat's newest-100 rule. Each test replays one break against the standalone emulator
(real HTTP) and the real stores; CometChat's own token list is the judge."""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Iterator

import pytest
import requests

from cometchat import CometChatClient
from tests.helpers import SERVICE_KEY, service
from tests.procs import EMULATOR_KEY, RunningEmulator
from token_server import build_device_tokens, create_app
from token_server.config import load_settings
from token_server.devices import DeviceTokens, MemorySessionStore, StoredSession, TokenCipher
from token_server.devices.service import TOKEN_LIMIT
from token_server.devices.sqlite import SqliteSessionStore
from token_server.ops import metrics
from token_server.stores.breaker import StoreBreaker

UID = "cometchat-uid-1"


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[CometChatClient]:
    c = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, backoff=0.01)
    yield c
    c.close()


def live(emulator: RunningEmulator, uid: str = UID) -> set[str]:
    """The tokens CometChat holds for ``uid`` (its newest 100)."""
    answer = requests.get(
        emulator.base_url + f"/users/{uid}/auth_tokens",
        params={"perPage": 1000},
        headers={"apikey": EMULATOR_KEY},
        timeout=5,
    )
    answer.raise_for_status()
    return {t["authToken"] for t in answer.json()["data"]}


def tracked(tokens: DeviceTokens, uid: str = UID) -> dict[str, str]:
    """device id -> the token its record holds."""
    return {s.device_id: tokens.cipher.open(s.sealed) or "?" for s in tokens.store.devices(uid)}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Switchable(MemorySessionStore):
    """A store that can be switched off: every call raises, as a Redis that went away."""

    down = False

    def __getattribute__(self, name: str):
        attr = super().__getattribute__(name)
        if callable(attr) and not name.startswith("_") and super().__getattribute__("down"):

            def refused(*args, **kwargs):
                raise ConnectionError("store down")

            return refused
        return attr


def device_tokens(store, clock: Clock | None = None, **kwargs) -> DeviceTokens:
    """Device tokens on ``store``; with ``clock``, settled only by logins and settle_all (the
    background settler has its own test)."""
    if clock is not None:
        kwargs.setdefault("settle_in_background", False)
        kwargs.update(breaker=StoreBreaker("session", clock=clock), clock=clock)
    return DeviceTokens(store, TokenCipher(["k" * 40]), **kwargs)


# ---- 1. an outage never multiplies a device's tokens ----------------------------------------


def test_after_an_outage_the_device_keeps_one_token_and_the_others_are_revoked(client, emulator) -> None:
    clock, store = Clock(), Switchable()
    tokens = device_tokens(store, clock)
    before = tokens.login(client, UID, "phone").token.auth_token
    store.down = True
    during = [tokens.login(client, UID, "phone") for _ in range(5)]
    assert len({d.token.auth_token for d in during}) == 1 and all(d.reused for d in during[1:])
    store.down, clock.now = False, clock.now + 1.0  # recovery probed within a second
    after = tokens.login(client, UID, "phone")  # the device's next login settles what the outage left
    assert after.reused and after.token == during[0].token
    assert tracked(tokens) == {"phone": during[0].token.auth_token}
    assert before not in live(emulator) and during[0].token.auth_token in live(emulator)
    assert len(tokens.outage) == 0


def test_the_settler_stores_the_outage_token_without_waiting_for_a_login(client, emulator) -> None:
    clock, store = Clock(), Switchable()
    tokens = device_tokens(store, clock, settle_per_second=1000, settle_in_background=True)
    store.down = True
    minted = tokens.login(client, UID, "tablet").token.auth_token
    store.down, clock.now = False, clock.now + 1.0
    tokens._settler.join(10)  # the background settler ends when nothing is left (bounded wait)
    assert tracked(tokens) == {"tablet": minted} and len(tokens.outage) == 0


def test_two_processes_that_minted_during_an_outage_settle_on_one_token(client, emulator) -> None:
    clock, store = Clock(), Switchable()
    a, b = device_tokens(store, clock), device_tokens(store, clock)  # two workers, one store
    store.down = True
    first = a.login(client, UID, "laptop").token.auth_token
    clock.now += 0.5
    b.breaker.failed(ConnectionError("down"))
    second = b.login(client, UID, "laptop").token.auth_token
    clock.now += 5  # a hands its token out last: it wins the device, whichever settles first
    a.login(client, UID, "laptop")
    store.down, clock.now = False, clock.now + 1.0
    assert a.settle_all() == 0 and b.settle_all() == 0
    assert {first, second} & live(emulator) == {first} and tracked(a) == {"laptop": first}
    clock.now += 5  # the other way round: b handed out last
    a.breaker.failed(ConnectionError("down"))
    b.breaker.failed(ConnectionError("down"))
    store.down = True
    clock.now += 1
    third = a.login(client, UID, "laptop").token.auth_token
    clock.now += 5
    fourth = b.login(client, UID, "laptop").token.auth_token
    store.down, clock.now = False, clock.now + 1.0
    assert a.settle_all() == 0 and b.settle_all() == 0
    assert {first, third, fourth} & live(emulator) == {fourth} and tracked(a) == {"laptop": fourth}


def test_a_hung_store_costs_one_bounded_call_then_one_probe_a_second() -> None:
    clock = Clock()
    breaker = StoreBreaker("session", clock=clock)
    breaker.failed(TimeoutError("hung"))
    assert not breaker.available()
    clock.now += 1.0
    calls: list[str] = []
    inner: list[str] = []

    def probe() -> str:
        # While the probe is in flight, another call skips the store (half-open: one probe).
        inner.append(breaker.call(lambda: "second", "skipped"))
        raise TimeoutError("still hung")

    calls.append(breaker.call(probe, "fallback"))
    assert calls == ["fallback"] and inner == ["skipped"]
    clock.now += 1.0
    assert breaker.call(lambda: "answered", "fallback") == "answered" and not breaker.is_down


# ---- 2. local contention is not an outage ----------------------------------------------------


def test_the_sqlite_store_reuses_one_connection_per_thread_in_wal_mode(tmp_path, monkeypatch) -> None:
    opened: list[object] = []
    real = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: opened.append(a) or real(*a, **k))
    store = SqliteSessionStore(tmp_path / "s.db")
    for n in range(20):
        store.swap("u", StoredSession(f"d{n}", "x", 1, 1))
        store.get("u", f"d{n}")
    assert len(opened) == 1
    thread = threading.Thread(target=lambda: store.get("u", "d1"))
    thread.start()
    thread.join(10)
    assert len(opened) == 2  # another thread: its own connection
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_concurrent_logins_on_one_sqlite_file_never_open_the_breaker(tmp_path, client, emulator, caplog) -> None:
    """Two workers' worth of threads on one file: contention waits, the breaker stays closed."""
    path = tmp_path / "s.db"
    workers = [device_tokens(SqliteSessionStore(path)) for _ in range(2)]
    answers: list[str] = []
    errors: list[BaseException] = []

    def run(tokens: DeviceTokens, device: str) -> None:
        try:
            answers.append(tokens.login(client, "cometchat-uid-2", device).token.auth_token)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with caplog.at_level(logging.WARNING, "cometchat.stores"):
        threads = [threading.Thread(target=run, args=(workers[n % 2], f"d{n % 8}")) for n in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors and len(answers) == 24
    assert not any(w.breaker.is_down for w in workers)
    assert not [r for r in caplog.records if r.name == "cometchat.stores"]
    records = tracked(workers[0], "cometchat-uid-2")
    assert len(records) == 8 and set(records.values()) == live(emulator, "cometchat-uid-2")


# ---- 3. keys rotate without losing a token ---------------------------------------------------


def settings_env(db, **extra: str) -> dict[str, str]:
    return {
        "COMETCHAT_APP_ID": "app",
        "COMETCHAT_REGION": "us",
        "COMETCHAT_API_KEY": "rest-key-one-0123456789",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "SESSION_STORE_URI": f"sqlite:///{db}",
        **extra,
    }


def test_a_rest_key_rotation_keeps_every_device_token(tmp_path, client, emulator) -> None:
    db = tmp_path / "s.db"
    old = build_device_tokens(load_settings(settings_env(db)))
    first = old.login(client, UID, "phone").token.auth_token
    rotated = build_device_tokens(load_settings(settings_env(db, COMETCHAT_API_KEY="rest-key-two-0123456789")))
    again = rotated.login(client, UID, "phone")
    assert again.reused and again.token.auth_token == first  # the sealing key did not follow the REST key
    rotated.revoke_device(client, UID, "phone")
    assert first not in live(emulator)


def test_records_sealed_with_the_rest_key_open_and_are_resealed_with_the_current_key(tmp_path, client) -> None:
    db = tmp_path / "s.db"
    store = SqliteSessionStore(db)
    legacy = DeviceTokens(store, TokenCipher(["rest-key-one-0123456789"]))  # the earlier default
    first = legacy.login(client, UID, "phone").token.auth_token
    current = build_device_tokens(load_settings(settings_env(db, SESSION_STORE_KEY="n" * 40)))
    assert current.login(client, UID, "phone").token.auth_token == first
    record = current.store.get(UID, "phone")
    assert record is not None and current.cipher.is_current(record.sealed)
    assert TokenCipher(["n" * 40]).open(record.sealed) == first  # the new key alone opens it now


def test_a_record_the_server_cannot_open_is_reported_never_revoked_true(tmp_path, emulator, caplog) -> None:
    db = tmp_path / "s.db"
    env = {
        "COMETCHAT_BASE_URL": emulator.base_url,
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "SESSION_STORE_URI": f"sqlite:///{db}",
    }
    first = create_app({**env, "SESSION_STORE_KEY": "a" * 40}, announce=False).test_client()
    token = first.post(f"/api/cometchat/token/{UID}", json={"deviceId": "phone"}, headers=service()).json
    other = create_app({**env, "SESSION_STORE_KEY": "b" * 40}, announce=False).test_client()
    seen = metrics.UNREADABLE_DEVICE_TOKENS._value.get()
    with caplog.at_level(logging.WARNING, "token_server.devices"):
        answer = other.delete(f"/api/cometchat/users/{UID}/sessions/phone", headers=service())
    assert answer.status_code == 409 and answer.json["error"]["code"] == "ERR_SESSION_UNREADABLE"
    assert token["authToken"] in live(emulator)  # nothing was revoked, and the answer says so
    assert metrics.UNREADABLE_DEVICE_TOKENS._value.get() == seen + 1
    assert any("sealed with a key this server does not hold" in r.getMessage() for r in caplog.records)
    # The twin: the device still logs in on the server without the key (a new token).
    again = other.post(f"/api/cometchat/token/{UID}", json={"deviceId": "phone"}, headers=service())
    assert again.status_code == 200 and again.json["reused"] is False
    assert other.delete(f"/api/cometchat/users/{UID}/sessions/phone", headers=service()).json["revoked"] is True
    assert again.json["authToken"] not in live(emulator)


# ---- 4. every delete is a compare-and-set ----------------------------------------------------


def test_a_sign_out_that_loses_to_a_fresh_login_revokes_what_replaced_it(client, emulator) -> None:
    fresh: list[str] = []

    class FreshLoginMidSignOut(MemorySessionStore):
        def _fresh_login_first(self, uid, device_id):
            if not fresh:  # the device's own fresh login lands between the revoke and the delete
                fresh.append(tokens.login(client, uid, device_id, fresh=True).token.auth_token)

        def delete_if(self, uid, device_id, expected):
            self._fresh_login_first(uid, device_id)
            return super().delete_if(uid, device_id, expected)

        def delete(self, uid, device_id):
            self._fresh_login_first(uid, device_id)
            return super().delete(uid, device_id)

    tokens = device_tokens(FreshLoginMidSignOut())
    old = tokens.login(client, UID, "phone").token.auth_token
    tokens.revoke_device(client, UID, "phone")
    assert tracked(tokens) == {} and not {old, *fresh} & live(emulator)


def test_a_login_stored_after_a_revoke_all_keeps_its_record(client, emulator) -> None:
    tokens = device_tokens(MemorySessionStore())
    tokens.login(client, UID, "phone")
    before = tokens.snapshot(UID)  # the revoke route reads the records first ...
    client.flush_auth_tokens(UID)  # ... revokes every token ...
    newer = tokens.login(client, UID, "tablet").token.auth_token  # ... a login lands meanwhile ...
    tokens.forget_all(UID, before)  # ... and only what was read before is forgotten
    assert tracked(tokens) == {"tablet": newer} and live(emulator) == {newer}


SIGN_OUT = ("DELETE", "/users/{uid}/sessions/a", None)
LOGIN_A = ("POST", "/token/{uid}", {"deviceId": "a"})
FRESH_A = ("POST", "/token/{uid}", {"deviceId": "a", "fresh": True})
FRESH_B = ("POST", "/token/{uid}", {"deviceId": "b", "fresh": True})
LOGIN_C = ("POST", "/token/{uid}", {"deviceId": "c"})
REVOKE_ALL = ("POST", "/token/{uid}/revoke", {"all": True})


@pytest.mark.parametrize(
    ("hung", "meanwhile"),
    [
        (SIGN_OUT, FRESH_A),  # the sign-out's revoke hangs while the device logs in fresh
        (FRESH_A, SIGN_OUT),  # the fresh mint hangs while the device signs out
        (REVOKE_ALL, FRESH_B),  # the revoke-all hangs while a device logs in fresh
        (LOGIN_C, REVOKE_ALL),  # a first login's mint hangs while every token is revoked
        (SIGN_OUT, REVOKE_ALL),
        (SIGN_OUT, LOGIN_A),
    ],
    ids=[
        "signout-vs-fresh",
        "fresh-vs-signout",
        "revokeall-vs-fresh",
        "login-vs-revokeall",
        "signout-vs-revokeall",
        "signout-vs-login",
    ],
)
def test_interleavings_against_a_hung_upstream_leave_no_untracked_live_token(
    tmp_path, emulator, hung, meanwhile
) -> None:
    """One operation's upstream call hangs (the emulator's hang fault) while another runs to its
    end: afterwards every token CometChat holds for the user is one a device record tracks."""
    env = {
        "COMETCHAT_BASE_URL": emulator.base_url,
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "SESSION_STORE_URI": f"sqlite:///{tmp_path / 's.db'}",
    }
    app = create_app(env, announce=False)
    tokens: DeviceTokens = app.extensions["token_server.devices"]
    http = app.test_client()

    def run(call: tuple) -> None:
        method, path, body = call
        answer = http.open("/api/cometchat" + path.format(uid=UID), method=method, json=body, headers=service())
        assert answer.status_code < 500 or answer.status_code == 503, answer.get_data(as_text=True)

    run(LOGIN_A)
    run(FRESH_B)
    emulator.faults({"kind": "hang", "seconds": 1.0})
    seen = emulator.stats()["requests"]
    first = threading.Thread(target=run, args=(hung,))
    first.start()
    for _ in range(500):  # until the hung call reached CometChat (no timing assumed)
        if emulator.stats()["requests"] > seen:
            break
        threading.Event().wait(0.01)
    run(meanwhile)
    first.join(30)
    assert not first.is_alive()
    tokens.settle_all()
    assert live(emulator) <= set(tracked(tokens).values()), "a live token no record tracks"


# ---- 5. CometChat's 100 ----------------------------------------------------------------------


def test_tracked_devices_never_exceed_the_100_and_the_least_recent_goes(client, emulator) -> None:
    clock = Clock()
    tokens = DeviceTokens(MemorySessionStore(), TokenCipher(["k" * 40]), clock=clock)
    firsts = {}
    for n in range(TOKEN_LIMIT):
        clock.now += 1
        firsts[f"d{n}"] = tokens.login(client, "cometchat-uid-3", f"d{n}").token.auth_token
    clock.now += 1
    tokens.login(client, "cometchat-uid-3", "d0")  # d0 is used again: d1 is now the least recent
    evicted = metrics.DEVICES_EVICTED._value.get()
    clock.now += 1
    tokens.login(client, "cometchat-uid-3", "d-new")
    devices = tracked(tokens, "cometchat-uid-3")
    assert len(devices) == TOKEN_LIMIT and "d1" not in devices and "d0" in devices
    assert firsts["d1"] not in live(emulator, "cometchat-uid-3")
    assert metrics.DEVICES_EVICTED._value.get() == evicted + 1


def test_a_token_cometchat_archived_is_never_handed_out_as_reused(client, emulator) -> None:
    tokens = device_tokens(MemorySessionStore())
    old = tokens.login(client, "cometchat-uid-4", "phone").token.auth_token
    for _ in range(TOKEN_LIMIT):  # 100 newer tokens (no device): CometChat drops the phone's
        client.create_auth_token("cometchat-uid-4")
        tokens.note_mint("cometchat-uid-4")
    assert old not in live(emulator, "cometchat-uid-4")
    again = tokens.login(client, "cometchat-uid-4", "phone")
    assert not again.reused and again.token.auth_token in live(emulator, "cometchat-uid-4")
