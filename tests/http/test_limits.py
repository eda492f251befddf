"""The per-user and per-address limits hold on every route that calls upstream; their store is
bounded and skipped while it fails: a Redis down or hung costs a login at most one bounded wait,
is logged once (no traceback), and its recovery once."""

from __future__ import annotations

import dataclasses
import logging
import threading

from cometchat.budget import MemoryBudgetStore, UpstreamBudget
from tests.helpers import Clock, app_env, as_user, service
from tests.stores import closed_port_url, silent_server
from token_server import create_app, limits, routes
from token_server.stores.breaker import StoreBreaker

UID = "cometchat-uid-1"
UPSTREAM_ROUTES = [
    ("POST", f"/api/cometchat/token/{UID}", None),
    ("POST", "/api/cometchat/token", None),
    ("GET", f"/api/cometchat/users/{UID}", None),
    ("POST", f"/api/cometchat/token/{UID}/revoke", {"all": True}),
    ("POST", "/api/cometchat/users", {"uid": UID, "name": "Again"}),
]


def limited_app(**env: str):
    app = create_app(app_env(**env))
    return app, app.test_client(), app.extensions["token_server.emulator"]


def test_a_user_limited_on_mint_is_limited_on_every_upstream_route() -> None:
    app, http, upstream = limited_app(RATE_LIMIT_PER_USER="2 per minute")
    headers = as_user(UID)
    assert [http.post(f"/api/cometchat/token/{UID}", headers=headers).status_code for _ in range(2)] == [200, 200]
    before = upstream.requests
    for method, path, body in UPSTREAM_ROUTES:
        answer = http.open(path, method=method, json=body, headers=headers)
        assert answer.status_code == 429, (method, path, answer.json)
        assert answer.json["error"]["code"] == "ERR_TOO_MANY_REQUESTS" and int(answer.headers["Retry-After"]) >= 1
    assert upstream.requests == before
    # The budget is the user's: another user and a trusted backend still get through.
    assert http.get("/api/cometchat/users/cometchat-uid-2", headers=as_user("cometchat-uid-2")).status_code == 200
    assert http.get(f"/api/cometchat/users/{UID}", headers=service()).status_code == 200


def test_reads_and_revokes_spend_the_same_budget_as_mints() -> None:
    _, http, _ = limited_app(RATE_LIMIT_PER_USER="2 per minute")
    headers = as_user(UID)
    assert http.get(f"/api/cometchat/users/{UID}", headers=headers).status_code == 200
    revoke = http.post(f"/api/cometchat/token/{UID}/revoke", json={"all": True}, headers=headers)
    assert revoke.status_code == 200
    assert http.post(f"/api/cometchat/token/{UID}", headers=headers).status_code == 429


def test_an_address_limited_on_mint_is_limited_on_every_upstream_route() -> None:
    """The per-address budget is for callers with neither a user nor a service identity (dev
    mode's anonymous callers); users have their own (tests/http/test_client_keys.py)."""
    app = create_app(
        app_env(
            TOKEN_SERVER_API_KEYS=None,
            AUTH_JWT_SECRET=None,
            TOKEN_SERVER_DEV="1",
            RATE_LIMIT_PER_ADDRESS="1 per minute",
        )
    )
    http, upstream = app.test_client(), app.extensions["token_server.emulator"]
    assert http.post(f"/api/cometchat/token/{UID}").status_code == 200
    before = upstream.requests
    for n, (method, path, body) in enumerate(UPSTREAM_ROUTES):
        answer = http.open(path.replace(UID, f"user-{n}"), method=method, json=body and {**body, "uid": f"user-{n}"})
        assert answer.status_code == 429, (method, path, answer.json)
    assert upstream.requests == before


def test_healthz_is_never_limited() -> None:
    _, http, _ = limited_app(RATE_LIMIT_PER_ADDRESS="1 per minute")
    assert [http.get("/healthz").status_code for _ in range(3)] == [200] * 3


MINT = f"/api/cometchat/token/{UID}"
ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.2"


def from_address(http, address: str, headers: dict[str, str]):
    return http.post(MINT, headers=headers, environ_base={"REMOTE_ADDR": address})


def test_failed_authentication_is_limited_per_address_but_valid_credentials_are_answered() -> None:
    """300 wrong keys in a row used to be 300 401s: now 30 a minute (the default), then 429 for
    further wrong credentials. A valid credential from the same address is still answered."""
    _, http, upstream = limited_app()
    wrong = {"Authorization": "Bearer not-the-key-0123456789"}
    answers = [from_address(http, ATTACKER, wrong).status_code for _ in range(30)]
    assert answers == [401] * 30
    before = upstream.requests
    for headers in (wrong, as_user(UID, secret="a-guessed-secret-that-is-long-enough-0")):
        answer = from_address(http, ATTACKER, headers)
        assert answer.status_code == 429 and answer.json["error"]["code"] == "ERR_TOO_MANY_REQUESTS"
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert upstream.requests == before
    assert from_address(http, ATTACKER, service()).status_code == 200
    assert from_address(http, ATTACKER, as_user(UID)).status_code == 200
    # Another address has its own count: wrong keys there are plain 401s.
    assert from_address(http, NEIGHBOUR, wrong).status_code == 401


def test_only_failures_count_and_the_limit_is_configurable() -> None:
    _, http, _ = limited_app(RATE_LIMIT_AUTH_FAILURES="3 per minute")
    assert all(from_address(http, ATTACKER, service()).status_code == 200 for _ in range(10))
    bad_jwt = as_user(UID, secret="a-guessed-secret-that-is-long-enough-0")
    assert [from_address(http, ATTACKER, bad_jwt).status_code for _ in range(4)] == [401, 401, 401, 429]


def test_a_junk_bearer_behind_a_shared_address_never_locks_out_valid_callers() -> None:
    """Behind a proxy without TRUSTED_PROXIES every caller is 127.0.0.1: 100 junk bearers,
    each followed by a valid service-key mint and a valid JWT mint, all from that address."""
    _, http, _ = limited_app(RATE_LIMIT_PER_USER="1000 per minute", RATE_LIMIT_PER_ADDRESS="1000 per minute")
    junk = {"Authorization": "Bearer junk-junk-junk-junk"}
    shared = "127.0.0.1"
    refused, valid = [], []
    for n in range(100):
        refused.append(from_address(http, shared, junk).status_code)
        valid.append(from_address(http, shared, service()).status_code)
        valid.append(from_address(http, shared, as_user(UID)).status_code)
    assert valid == [200] * 200
    assert refused == [401] * 30 + [429] * 70


def test_metrics_authentication_failures_count_against_the_address() -> None:
    app, http, _ = limited_app(METRICS_TOKEN="metrics-token-0123456789", RATE_LIMIT_AUTH_FAILURES="2 per minute")

    def scrape(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return http.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": ATTACKER}).status_code

    assert [scrape("wrong-token") for _ in range(3)] == [401, 401, 429]
    assert scrape("metrics-token-0123456789") == 200  # the scraper itself is still answered
    wrong_key = from_address(http, ATTACKER, {"Authorization": "Bearer not-the-key-0123456789"})
    assert wrong_key.status_code == 429  # one count for the address, whichever route failed


def app_on_store(url: str, clock: Clock | None = None):
    """The server with its rate limits in ``url``; the upstream budget and the device store (with
    deleted users' tombstones) kept in process, so that only the limits' store is under test here
    (test_guards covers them together)."""
    app = create_app(app_env(RATELIMIT_STORAGE_URI=url, SESSION_STORE_URI="memory://"))
    client = app.extensions[routes.CLIENT]
    client.transport.budget = UpstreamBudget(MemoryBudgetStore(), client.base_url)
    if clock is not None:
        rate_limits = app.extensions[limits.LIMITS]
        store = limits.LimitStore(url, breaker=StoreBreaker("rate-limit", clock=clock))
        app.extensions[limits.LIMITS] = dataclasses.replace(rate_limits, store=store)
    return app


def store_records(caplog) -> list[logging.LogRecord]:
    """The rate-limit store's records (a plain mint also counts the user's mints in the session
    store, on the same Redis by default: its own breaker logs its own records)."""
    return [r for r in caplog.records if r.name == "cometchat.stores" and r.getMessage().startswith("rate-limit")]


def test_a_redis_down_is_logged_once_without_a_traceback_and_logins_go_on(caplog) -> None:
    http = app_on_store(closed_port_url()).test_client()
    answers = [http.post(MINT, headers=as_user(UID)).status_code for _ in range(4)]
    assert answers == [200] * 4
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "rate-limit store failed" in warnings[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records) and "Traceback" not in caplog.text


def test_bad_credentials_while_the_store_is_down_are_still_401(caplog) -> None:
    http = app_on_store(closed_port_url()).test_client()
    junk = {"Authorization": "Bearer junk-junk-junk-junk"}
    assert [http.post(MINT, headers=junk).status_code for _ in range(3)] == [401] * 3
    assert http.post(MINT, headers=service()).status_code == 200
    assert len(store_records(caplog)) == 1


def mint_in_thread(http, headers) -> tuple[threading.Thread, list[int]]:
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(http.post(MINT, headers=headers).status_code))
    thread.start()
    thread.join(10)  # a hang guard, not a speed check: unbounded, redis-py waits forever
    return thread, answers


def test_a_hung_redis_costs_one_bounded_attempt_then_nothing_while_the_breaker_is_open(caplog) -> None:
    """A store that accepts and never answers: the first login tries once (one connection, no
    retry) and is answered; the next ones do not touch the store at all."""
    with silent_server() as hung:
        http = app_on_store(hung.url).test_client()
        thread, answers = mint_in_thread(http, as_user(UID))
        assert not thread.is_alive() and answers == [200]
        assert hung.connections == 1
        for _ in range(4):
            thread, answers = mint_in_thread(http, as_user(UID))
            assert not thread.is_alive() and answers == [200]
        assert hung.connections == 1
    assert len(store_records(caplog)) == 1 and "Traceback" not in caplog.text


def test_every_redis_round_trip_is_bounded() -> None:
    """The store's own Redis client: 250 ms to connect, 250 ms per read, no retry (redis-py's
    defaults are a 5 s read and ten retries: the 15 s login of a hung Redis)."""
    store = limits.LimitStore("redis://127.0.0.1:6379/0")
    pool = store.storage.storage.connection_pool  # type: ignore[attr-defined]
    assert pool.connection_kwargs["socket_timeout"] == pool.connection_kwargs["socket_connect_timeout"] == 0.25
    assert pool.connection_kwargs["retry"].get_retries() == 0
    assert limits.storage_options("memory://") == {}


def test_the_stores_on_one_hung_redis_cost_a_login_one_timeout_not_one_each() -> None:
    """Rate limits, upstream budget and device tokens in one Redis that never answers: the first
    store to time out opens the gate for the others (an outside tester saw three timeouts, 0.55 s,
    on the first login), and the login is answered."""
    with silent_server() as hung:
        app = create_app(app_env(RATELIMIT_STORAGE_URI=hung.url, SESSION_STORE_URI=hung.url))
        http = app.test_client()
        answer = http.post(MINT, headers=as_user(UID), json={"deviceId": "laptop-1"})
        assert answer.status_code == 200 and answer.json["reused"] is False
        assert hung.connections == 1
        again = http.post(MINT, headers=as_user(UID), json={"deviceId": "laptop-1"})
        assert again.status_code == 200 and hung.connections == 1
