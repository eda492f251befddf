"""Concurrent logins of one device while CometChat hangs: no caller is handed a token the server
then revokes, the device ends with one live token, every wait is bounded.

The outside tester's report: a first login hangs upstream; callers of the same device who ran
out of their lock wait each minted, each got a 200, and the later store revoked the earlier
caller's token. The first test replays it against the standalone emulator's hang fault over
real HTTP; the others pin each guard of the fix on the in-process emulator (compare-and-set,
lock takeover, a timed-out mint answered with a token that landed, the bounded retry)."""

from __future__ import annotations

import logging

import pytest

from cometchat import UpstreamTimeoutError
from tests.helpers import app_env, service
from token_server import create_app
from token_server.devices import DeviceTokens, MemorySessionStore, StoredSession, TokenCipher
from token_server.devices.service import TAKEOVER_EVERY

UID = "cometchat-uid-1"
DEVICE = "w2"










# ---- each guard on the in-process emulator -------------------------------------------------


class Steps:
    """An injected ``sleep`` for the lock wait: runs one step per poll, counts the polls."""

    def __init__(self, *steps) -> None:
        self.steps = list(steps)
        self.polls = 0

    def __call__(self, seconds: float) -> None:
        self.polls += 1
        if self.steps:
            self.steps.pop(0)()


@pytest.fixture
def setup():
    app = create_app(app_env(), announce=False)
    client = app.extensions["token_server.client"]
    upstream = app.extensions["token_server.emulator"]

    def tokens_with(store: MemorySessionStore, **kwargs) -> DeviceTokens:
        return DeviceTokens(store, TokenCipher.ephemeral(), **kwargs)

    return client, upstream, tokens_with


def live(upstream, uid: str = "alice") -> set[str]:
    return {t["authToken"] for t in upstream.list_tokens(uid)}


def stored_token(tokens: DeviceTokens, device: str = "d1", uid: str = "alice") -> str | None:
    found = tokens.store.get(uid, device)
    return tokens.cipher.open(found.sealed) if found else None


def test_a_mint_that_loses_its_compare_and_set_answers_the_stored_token_and_revokes_its_own(setup) -> None:
    client, upstream, tokens_with = setup

    class OtherLandsDuringOurMint(MemorySessionStore):
        def replace_if(self, uid, session, expected):
            if self.get(uid, session.device_id) is None:  # another worker's login stored first
                theirs = client.create_auth_token(uid)
                other.append(theirs.auth_token)
                self.swap(uid, StoredSession(session.device_id, tokens.cipher.seal(theirs.auth_token), 1, 1))
            return super().replace_if(uid, session, expected)

    other: list[str] = []
    tokens = tokens_with(OtherLandsDuringOurMint())
    login = tokens.login(client, "alice", "d1")
    assert login.reused and login.token.auth_token == other[0] == stored_token(tokens)
    assert live(upstream) == {other[0]}  # the token this login minted is revoked, theirs lives


def test_a_mint_that_wins_its_compare_and_set_replaces_and_revokes_the_old_token(setup) -> None:
    client, upstream, tokens_with = setup
    tokens = tokens_with(MemorySessionStore())
    old = tokens.login(client, "alice", "d1").token.auth_token
    new = tokens.login(client, "alice", "d1", fresh=True)
    assert not new.reused and new.token.auth_token != old
    assert live(upstream) == {new.token.auth_token} and stored_token(tokens) == new.token.auth_token


def test_a_waiter_takes_the_lock_over_when_its_holder_lets_go_without_a_token(setup) -> None:
    client, upstream, tokens_with = setup
    store = MemorySessionStore()
    store.acquire("alice", "d1", "holder")
    steps = Steps(lambda: store.release("alice", "d1", "holder"))  # the holder's mint failed
    tokens = tokens_with(store, sleep=steps, lock_wait=5.0)
    login = tokens.login(client, "alice", "d1")
    assert not login.reused and live(upstream) == {login.token.auth_token} == {stored_token(tokens)}
    assert steps.polls == TAKEOVER_EVERY  # minted at its first takeover try, not at the end of 60 s
    assert store.acquire("alice", "d1", "next")  # and let go of the lock it took over


def test_a_waiter_whose_holder_keeps_the_lock_still_gets_a_token_when_its_wait_ends(setup) -> None:
    client, upstream, tokens_with = setup
    store = MemorySessionStore()
    store.acquire("alice", "d1", "holder")  # hung for good
    tokens = tokens_with(store, sleep=lambda s: None, lock_wait=0.05)
    login = tokens.login(client, "alice", "d1")
    assert not login.reused and live(upstream) == {login.token.auth_token} == {stored_token(tokens)}


def test_a_fresh_waiter_does_not_take_a_touched_old_token_for_a_new_one(setup) -> None:
    client, upstream, tokens_with = setup
    store = MemorySessionStore()
    tokens = tokens_with(store, lock_wait=60.0)
    refused = tokens.login(client, "alice", "d1").token.auth_token
    store.acquire("alice", "d1", "holder")
    new: list[str] = []

    def holder_stores() -> None:
        new.append(client.create_auth_token("alice").auth_token)
        store.swap("alice", StoredSession("d1", tokens.cipher.seal(new[0]), 2, 2))

    tokens._sleep = Steps(lambda: store.touch("alice", "d1", 10**10), holder_stores)  # a reuser touches first
    login = tokens.login(client, "alice", "d1", fresh=True)
    assert login.token.auth_token == new[0] != refused


def test_a_timed_out_mint_answers_a_token_another_login_stored_meanwhile(setup, monkeypatch, caplog) -> None:
    client, upstream, tokens_with = setup
    tokens = tokens_with(MemorySessionStore())
    theirs = client.create_auth_token("cometchat-uid-1").auth_token

    def hangs_while_another_login_stores(uid, **kwargs):
        tokens.store.swap(uid, StoredSession("d1", tokens.cipher.seal(theirs), 1, 1))
        error = UpstreamTimeoutError("CometChat did not answer within 5 s")
        error.maybe_applied = True
        raise error

    monkeypatch.setattr(client, "mint_token", hangs_while_another_login_stores)
    with caplog.at_level(logging.WARNING, "token_server.devices"):
        login = tokens.login(client, "cometchat-uid-1", "d1")
    assert login.reused and login.token.auth_token == theirs
    assert any("may hold a token no device tracks" in r.getMessage() for r in caplog.records)


def test_a_timed_out_mint_with_nothing_stored_is_still_the_upstream_timeout(setup, monkeypatch) -> None:
    client, upstream, tokens_with = setup
    tokens = tokens_with(MemorySessionStore())

    def hangs(uid, **kwargs):
        raise UpstreamTimeoutError("CometChat did not answer within 5 s")

    monkeypatch.setattr(client, "mint_token", hangs)
    with pytest.raises(UpstreamTimeoutError):
        tokens.login(client, "cometchat-uid-1", "d1")


def test_a_device_whose_token_keeps_being_replaced_is_a_retryable_503_and_leaks_no_token() -> None:
    app = create_app(app_env(TOKEN_MAX_AGE="60"), announce=False)
    upstream = app.extensions["token_server.emulator"]
    tokens: DeviceTokens = app.extensions["token_server.devices"]

    class AlwaysAnExpiredOneFirst(MemorySessionStore):
        """Every compare-and-set finds a new record, already past the max age (an endless churn)."""

        def replace_if(self, uid, session, expected):
            self.swap(uid, StoredSession(session.device_id, tokens.cipher.seal("stale"), 1, 1))
            return super().replace_if(uid, session, expected)

    tokens.store = AlwaysAnExpiredOneFirst()
    answer = app.test_client().post("/api/cometchat/token/alice", json={"deviceId": "d1"}, headers=service())
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.get_json()["error"]["code"] == "ERR_DEVICE_BUSY"
    assert live(upstream) == set()  # the token it minted was revoked, not left behind


def test_one_expired_record_in_the_way_is_replaced_and_the_login_answered() -> None:
    app = create_app(app_env(TOKEN_MAX_AGE="60"), announce=False)
    upstream = app.extensions["token_server.emulator"]
    tokens: DeviceTokens = app.extensions["token_server.devices"]

    class OneExpiredFirst(MemorySessionStore):
        churned = False

        def replace_if(self, uid, session, expected):
            if not self.churned:
                self.churned = True
                self.swap(uid, StoredSession(session.device_id, tokens.cipher.seal("stale"), 1, 1))
            return super().replace_if(uid, session, expected)

    tokens.store = OneExpiredFirst()
    answer = app.test_client().post("/api/cometchat/token/alice", json={"deviceId": "d1"}, headers=service())
    assert answer.status_code == 200 and answer.get_json()["reused"] is False
    assert live(upstream) == {answer.get_json()["authToken"]} == {stored_token(tokens)}
