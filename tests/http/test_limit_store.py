"""The rate limits' store is bounded and skipped while it fails: a Redis down or hung costs a
login at most one bounded wait, is logged once (no traceback), and its recovery once."""

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
MINT = f"/api/cometchat/token/{UID}"




def app_on_store(url: str, clock: Clock | None = None):
    """The server with its rate limits in ``url``; the upstream budget kept in process, so that
    only the limits' store is under test here (test_guards_fail_safe covers both together)."""
    app = create_app(app_env(RATELIMIT_STORAGE_URI=url))
    client = app.extensions[routes.CLIENT]
    client.transport.budget = UpstreamBudget(MemoryBudgetStore(), client.base_url)
    if clock is not None:
        rate_limits = app.extensions[limits.LIMITS]
        store = limits.LimitStore(url, breaker=StoreBreaker("rate-limit", clock=clock))
        app.extensions[limits.LIMITS] = dataclasses.replace(rate_limits, store=store)
    return app


def store_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cometchat.stores"]


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
