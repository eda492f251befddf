"""The upstream budget's Redis store: every key it writes expires, each call is bounded, and a
Redis that is down or hung is skipped behind a breaker (logged once, recovery once) while
mints go ahead."""

from __future__ import annotations

import inspect
import logging
import time

import pytest
import redis

from cometchat import CometChatClient, RateLimitedError
from cometchat.budget import UpstreamBudget
from tests.helpers import Clock
from tests.procs import EMULATOR_KEY, free_port
from tests.stores import closed_port_url, running_redis, silent_server
from tests.unit.cometchat import test_budget as policy
from token_server.stores.breaker import StoreBreaker
from token_server.stores.budget_redis import RedisBudgetStore

UID = "cometchat-uid-1"


@pytest.fixture
def redis_url(tmp_path):
    with running_redis(tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> Clock:
    return Clock(policy.START)


@pytest.fixture
def budget(redis_url, clock: Clock) -> UpstreamBudget:
    return UpstreamBudget(RedisBudgetStore.from_url(redis_url), "https://app.example/v3", window_seconds=policy.WINDOW, clock=clock)


# The budget policy's tests (tests/unit/cometchat/test_budget.py), collected here once more with
# this file's `budget`: the same policy over the fleet's Redis store, whose figures must expire
# and compare exactly as the memory store's.
globals().update(
    {name: test for name, test in vars(policy).items() if name.startswith("test_") and "budget" in inspect.signature(test).parameters}
)




def budgeted(emulator, store, **options) -> CometChatClient:
    client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, backoff=0.01, **options)
    client.transport.budget = UpstreamBudget(store, emulator.base_url, window_seconds=60.0)
    return client


def test_every_key_the_budget_writes_expires(emulator, redis_url) -> None:
    clock = Clock(time.time())
    client = budgeted(emulator, RedisBudgetStore.from_url(redis_url), max_retries=0)
    client.transport.budget = UpstreamBudget(client.transport.budget.store, emulator.base_url, clock=clock)
    emulator.faults({"kind": "status", "status": 429, "headers": {"Retry-After": "99999999"}}, core_per_minute=100)
    with pytest.raises(RateLimitedError):
        client.create_auth_token(UID)
    clock.now += 60  # the block is over; near the limit, every call is counted in Redis
    for _ in range(3):
        client.create_auth_token(UID)
    client.transport.budget.spend("POST", "/users/x/auth_tokens")  # in flight for ever (a killed worker)
    probe = redis.Redis.from_url(redis_url)
    keys = probe.keys("cometchat-budget:*")
    assert {key.rsplit(b":", 1)[1] for key in keys} == {b"blocked", b"limit", b"remaining", b"inflight"}
    ttls = {key: probe.ttl(key) for key in keys}
    assert all(ttl > 0 for ttl in ttls.values()), ttls  # -1 would be a key kept for ever
    assert all(ttl <= 61 for key, ttl in ttls.items() if key.endswith(b":blocked")), ttls
    probe.close()




def test_a_hung_redis_costs_one_bounded_call_then_nothing_while_the_breaker_is_open(emulator, caplog) -> None:
    """Redis accepts and never answers: the first mint waits one bounded call, the breaker
    opens, and the next mints do not even connect; every mint is answered (the twin)."""
    clock = Clock(0.0)
    breaker = StoreBreaker("upstream budget", clock=clock)
    emulator.faults(core_per_minute=100)  # near the limit: every call would ask Redis
    with silent_server() as silent, caplog.at_level(logging.INFO):
        client = budgeted(emulator, RedisBudgetStore.from_url(silent.url, breaker=breaker))
        for _ in range(20):
            assert client.create_auth_token(UID).auth_token
        assert breaker.is_down and silent.connections == 1
        failures = [r for r in caplog.records if "upstream budget store failed" in r.getMessage()]
        assert len(failures) == 1 and "TimeoutError" in failures[0].getMessage()
        assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text
        clock.now += breaker.cooldown  # a try again after the cooldown: one more connection
        assert client.create_auth_token(UID).auth_token
        assert silent.connections == 2
        assert len([r for r in caplog.records if "upstream budget store failed" in r.getMessage()]) == 1
        client.close()


def test_a_redis_that_comes_back_is_used_again_and_its_recovery_logged_once(emulator, tmp_path, caplog) -> None:
    port = free_port()
    clock = Clock(0.0)
    breaker = StoreBreaker("upstream budget", clock=clock)
    client = budgeted(emulator, RedisBudgetStore.from_url(f"redis://127.0.0.1:{port}/0", breaker=breaker))
    emulator.faults(core_per_minute=100)
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            assert client.create_auth_token(UID).auth_token  # Redis down: minting goes on
        with running_redis(tmp_path, port) as url:
            clock.now += breaker.cooldown
            for _ in range(5):
                assert client.create_auth_token(UID).auth_token
            probe = redis.Redis.from_url(url)
            assert probe.keys("cometchat-budget:*")  # counted in Redis again
            probe.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "cometchat.stores"]
    assert len([m for m in messages if "store failed" in m]) == 1
    assert len([m for m in messages if "recovered" in m]) == 1


def test_the_store_answers_a_readiness_ping_when_redis_is_up_and_raises_when_down(redis_url) -> None:
    assert RedisBudgetStore.from_url(redis_url).ping()
    with pytest.raises(redis.ConnectionError):
        RedisBudgetStore.from_url(closed_port_url()).ping()
