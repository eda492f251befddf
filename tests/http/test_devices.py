"""Device tokens on the token routes, and the sessions routes, on the in-process emulator:
reuse without an upstream call, replace-and-revoke, fresh, max age (an injected clock),
revoke/delete forgetting, concurrent first logins, the 100-token cap never approached."""

from __future__ import annotations

import logging
import threading

import pytest

from cometchat import UpstreamTimeoutError, UpstreamUnavailableError
from cometchat.emulator.state import MAX_VALID_TOKENS
from tests.helpers import Clock, app_env, as_user, service
from token_server import create_app
from token_server.devices import DeviceTokens, MemorySessionStore, StoredSession, TokenCipher
from token_server.devices.service import TAKEOVER_EVERY
from token_server.ops import metrics
from token_server.routes import SESSIONS

URL = "/api/cometchat/token/"


def login(http, uid="alice", headers=None, **body):
    return http.post(URL + uid, json=body, headers=headers or service())


def upstream_tokens(upstream, uid: str) -> list[str]:
    return [t["authToken"] for t in upstream.list_tokens(uid)]


def device_tokens(app):
    return app.extensions[SESSIONS]




def test_a_returning_device_gets_its_token_back_without_an_upstream_call(http, upstream) -> None:
    first = login(http, deviceId="laptop-1")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    body = first.get_json()
    assert set(body) == {"uid", "authToken", "deviceId", "reused", "createdAt"}
    assert body["deviceId"] == "laptop-1" and body["reused"] is False and isinstance(body["createdAt"], int)
    calls = upstream.requests
    again = login(http, deviceId="laptop-1").get_json()
    assert again == {**body, "reused": True}
    assert upstream.requests == calls  # no core operation spent
    assert upstream_tokens(upstream, "alice") == [body["authToken"]]


def test_each_device_holds_its_own_token(http, upstream) -> None:
    a = login(http, deviceId="phone").get_json()["authToken"]
    b = login(http, deviceId="laptop").get_json()["authToken"]
    assert a != b and sorted(upstream_tokens(upstream, "alice")) == sorted([a, b])


def test_without_a_device_id_every_call_mints_as_before(http, upstream) -> None:
    answers = [login(http).get_json() for _ in range(2)]
    assert all(set(a) == {"uid", "authToken"} for a in answers)
    assert answers[0]["authToken"] != answers[1]["authToken"]
    assert len(upstream_tokens(upstream, "alice")) == 2


def test_fresh_mints_a_new_token_and_revokes_the_old_one(http, upstream) -> None:
    old = login(http, deviceId="d1").get_json()["authToken"]
    new = login(http, deviceId="d1", fresh=True).get_json()
    assert new["reused"] is False and new["authToken"] != old
    assert upstream_tokens(upstream, "alice") == [new["authToken"]]
    assert login(http, deviceId="d1").get_json()["authToken"] == new["authToken"]


def test_an_old_token_cometchat_no_longer_holds_counts_as_revoked(http, upstream, caplog) -> None:
    login(http, deviceId="d1")
    upstream.flush_tokens("alice")  # gone behind the server's back (or archived past the newest 100)
    with caplog.at_level(logging.WARNING, "token_server.devices"):
        again = login(http, deviceId="d1", fresh=True)
    assert again.status_code == 200 and upstream_tokens(upstream, "alice") == [again.get_json()["authToken"]]
    assert not [r for r in caplog.records if r.name == "token_server.devices"]  # revoked: nothing to warn about


def test_a_replaced_token_that_cannot_be_revoked_is_logged_and_the_login_still_answered(
    app, http, upstream, caplog, monkeypatch
) -> None:
    old = login(http, deviceId="d1").get_json()["authToken"]

    def unavailable(uid, token):
        raise UpstreamUnavailableError("CometChat is unavailable", status=503)

    monkeypatch.setattr(app.extensions["token_server.client"], "delete_auth_token", unavailable)
    with caplog.at_level(logging.WARNING, "token_server.devices"):
        again = login(http, deviceId="d1", fresh=True)
    assert again.status_code == 200 and again.get_json()["reused"] is False
    assert any("could not revoke" in r.getMessage() for r in caplog.records)
    assert old in upstream_tokens(upstream, "alice")  # left for `tokens prune` / TOKEN_MAX_AGE


def test_deleting_a_session_whose_token_is_gone_upstream_is_still_a_success(http, upstream) -> None:
    login(http, deviceId="d1")
    upstream.flush_tokens("alice")
    answer = http.delete("/api/cometchat/users/alice/sessions/d1", headers=service())
    assert answer.status_code == 200 and answer.get_json()["revoked"] is True
    assert http.get("/api/cometchat/users/alice/sessions", headers=service()).get_json()["sessions"] == []


def test_the_callers_own_route_takes_a_device_too(http, upstream) -> None:
    first = http.post("/api/cometchat/token", json={"deviceId": "tab-7"}, headers=as_user("bob")).get_json()
    again = http.post("/api/cometchat/token", json={"deviceId": "tab-7"}, headers=as_user("bob")).get_json()
    assert first["uid"] == "bob" and again["reused"] is True and again["authToken"] == first["authToken"]


@pytest.mark.parametrize(
    "body",
    [
        {"deviceId": ""},
        {"deviceId": "has space"},
        {"deviceId": "x" * 101},
        {"deviceId": "caf\u00e9"},
        {"deviceId": "a/b"},
        {"deviceId": 7},
        {"deviceId": None},
        {"deviceId": "ok", "fresh": "yes"},
        {"deviceId": "ok", "fresh": 1},
        {"fresh": True},
        {"fresh": False},
    ],
)
def test_a_bad_device_or_fresh_is_a_400_without_an_upstream_call(http, upstream, body) -> None:
    calls = upstream.requests
    answer = login(http, **body)
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "ERR_BAD_REQUEST"
    assert upstream.requests == calls


def test_the_longest_device_id_is_taken(http) -> None:
    assert login(http, deviceId="A-z_9" * 20).status_code == 200


def test_a_token_older_than_the_max_age_is_replaced_and_revoked() -> None:
    app = create_app(app_env(TOKEN_MAX_AGE="12h"), announce=False)
    http, upstream = app.test_client(), app.extensions["token_server.emulator"]
    clock = device_tokens(app).clock = Clock(float(__import__("time").time()))
    first = login(http, deviceId="d1").get_json()
    clock.now = first["createdAt"] + 12 * 3600 - 1
    assert login(http, deviceId="d1").get_json()["reused"] is True
    clock.now = first["createdAt"] + 12 * 3600
    replaced = login(http, deviceId="d1").get_json()
    assert replaced["reused"] is False and replaced["authToken"] != first["authToken"]
    assert upstream_tokens(upstream, "alice") == [replaced["authToken"]]


def test_without_a_max_age_a_token_is_reused_however_old(app, http) -> None:
    first = login(http, deviceId="d1").get_json()
    device_tokens(app).clock = Clock(first["createdAt"] + 10 * 365 * 86400)
    assert login(http, deviceId="d1").get_json()["reused"] is True


def test_revoking_a_token_forgets_the_device_that_held_it(http, upstream) -> None:
    token = login(http, deviceId="d1").get_json()["authToken"]
    other = login(http, deviceId="d2").get_json()["authToken"]
    assert http.post(URL + "alice/revoke", json={"authToken": token}, headers=service()).status_code == 200
    again = login(http, deviceId="d1").get_json()
    assert again["reused"] is False and again["authToken"] != token
    assert login(http, deviceId="d2").get_json()["authToken"] == other


def test_revoking_all_forgets_every_device(http, upstream) -> None:
    login(http, deviceId="d1"), login(http, deviceId="d2")
    assert http.post(URL + "alice/revoke", json={"all": True}, headers=service()).status_code == 200
    assert login(http, deviceId="d1").get_json()["reused"] is False
    assert login(http, deviceId="d2").get_json()["reused"] is False


def test_deleting_a_user_forgets_its_devices(http, upstream) -> None:
    login(http, deviceId="d1")
    assert http.delete("/api/cometchat/users/alice?permanent=true", headers=service()).status_code == 200
    assert login(http, deviceId="d1").status_code == 404  # deleted is final (tests/http/test_deprovisioned.py) ...
    created = http.post("/api/cometchat/users", json={"uid": "alice", "name": "Alice"}, headers=service())
    assert created.status_code == 201  # ... until it is created again on purpose
    again = login(http, deviceId="d1").get_json()  # a new token, not the forgotten one
    assert again["reused"] is False
    assert upstream_tokens(upstream, "alice") == [again["authToken"], created.json["authToken"]]


def test_sessions_list_devices_and_the_upstream_count_but_never_a_token(http, upstream) -> None:
    token = login(http, deviceId="phone").get_json()["authToken"]
    login(http, deviceId="laptop")
    login(http)  # a token without a device: counted upstream, not a session
    answer = http.get("/api/cometchat/users/alice/sessions", headers=service())
    assert answer.status_code == 200 and token not in answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["uid"] == "alice" and body["tokens"] == 3 and body["limit"] == 100
    assert sorted(s["deviceId"] for s in body["sessions"]) == ["laptop", "phone"]
    assert all(set(s) == {"deviceId", "createdAt", "lastUsedAt"} for s in body["sessions"])


def test_deleting_a_session_revokes_upstream_forgets_and_is_idempotent(http, upstream) -> None:
    token = login(http, deviceId="phone").get_json()["authToken"]
    for _ in range(2):
        answer = http.delete("/api/cometchat/users/alice/sessions/phone", headers=service())
        assert answer.status_code == 200
        assert answer.get_json() == {"uid": "alice", "deviceId": "phone", "revoked": True}
    assert token not in upstream_tokens(upstream, "alice")
    assert http.get("/api/cometchat/users/alice/sessions", headers=service()).get_json()["sessions"] == []


def test_sessions_routes_answer_who_the_token_route_answers(http) -> None:
    login(http, deviceId="d1")
    assert http.get("/api/cometchat/users/alice/sessions", headers=as_user("alice")).status_code == 200
    assert http.delete("/api/cometchat/users/alice/sessions/d1", headers=as_user("alice")).status_code == 200
    assert http.get("/api/cometchat/users/nobody/sessions", headers=service()).status_code == 404
    assert http.get("/api/cometchat/users/alice/sessions", headers=as_user("mallory")).status_code == 403
    assert http.delete("/api/cometchat/users/alice/sessions/d1", headers=as_user("mallory")).status_code == 403
    assert http.get("/api/cometchat/users/alice/sessions").status_code == 401
    assert http.delete("/api/cometchat/users/alice/sessions/bad%20id", headers=service()).status_code == 400


def test_a_thousand_logins_of_one_device_hold_one_upstream_token(http, upstream) -> None:
    tokens = {login(http, deviceId="kiosk").get_json()["authToken"] for _ in range(1000)}
    assert len(tokens) == 1 and len(upstream_tokens(upstream, "alice")) == 1 <= MAX_VALID_TOKENS


def test_concurrent_first_logins_of_one_device_leave_one_live_token(app, upstream) -> None:
    upstream.latency = 0.05  # every mint is slow: the logins overlap
    answers: list[dict] = []
    barrier = threading.Barrier(8)

    def one() -> None:
        barrier.wait()
        answers.append(login(app.test_client(), deviceId="shared").get_json())

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 8 and len({a["authToken"] for a in answers}) == 1
    assert sum(not a["reused"] for a in answers) == 1
    assert len(upstream_tokens(upstream, "alice")) == 1


def test_a_user_near_cometchats_token_cap_is_a_warning_and_a_metric(http, upstream, caplog) -> None:
    for _ in range(91):
        login(http)
    before = metrics.USERS_NEAR_TOKEN_LIMIT._value.get()
    with caplog.at_level(logging.WARNING, "token_server.devices"):
        assert http.get("/api/cometchat/users/alice/sessions", headers=service()).get_json()["tokens"] == 91
    assert metrics.USERS_NEAR_TOKEN_LIMIT._value.get() == before + 1
    assert any("91 of CometChat's 100" in r.getMessage() for r in caplog.records)


def test_ninety_tokens_are_no_warning(http, upstream, caplog) -> None:
    for _ in range(90):
        login(http)
    with caplog.at_level(logging.WARNING, "token_server.devices"):
        http.get("/api/cometchat/users/alice/sessions", headers=service())
    assert not [r for r in caplog.records if r.name == "token_server.devices"]


def test_reused_and_minted_device_tokens_are_counted(http) -> None:
    reused = metrics.DEVICE_TOKENS.labels(outcome="reused")._value.get()
    minted = metrics.DEVICE_TOKENS.labels(outcome="minted")._value.get()
    login(http, deviceId="d1"), login(http, deviceId="d1"), login(http, deviceId="d1")
    assert metrics.DEVICE_TOKENS.labels(outcome="minted")._value.get() == minted + 1
    assert metrics.DEVICE_TOKENS.labels(outcome="reused")._value.get() == reused + 2


def test_with_cors_origins_a_browser_may_delete_a_session() -> None:
    app = create_app(app_env(CORS_ORIGINS="https://app.example.com"), announce=False)
    answer = app.test_client().options(
        "/api/cometchat/users/alice/sessions/d1",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "DELETE" in answer.headers["Access-Control-Allow-Methods"]


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
