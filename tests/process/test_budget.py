"""The upstream budget against the emulator over real HTTP, in process or shared through a real
Redis: a spent quota is refused at once without an upstream call, and CometChat's Retry-After is
the authority (an injected clock: a valid mint after it is answered, a huge one blocks one quota
window at most, a refusal on a retry keeps maybe_applied and is told to observers)."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

from cometchat import CometChatClient
from cometchat.budget import (
    MemoryBudgetStore,
    QuotaSpentError,
    UpstreamBudget,
)
from cometchat.errors import RateLimitedError
from tests.helpers import Clock
from tests.procs import EMULATOR_KEY, Process, free_port
from tests.stores import running_redis
from token_server.stores.budget_redis import RedisBudgetStore

# A quota "minute" of a day, for the emulator and the budget alike: no window resets while a
# test runs (the windows are aligned to the epoch, so the next edge is at midnight UTC), and
# no test has to wait for one.
WINDOW = 86_400.0
REDIS = shutil.which("redis-server")


def budgeted(emulator, store) -> CometChatClient:
    client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, backoff=0.01)
    client.transport.budget = UpstreamBudget(store, emulator.base_url, window_seconds=WINDOW)
    return client


def mint_all(client: CometChatClient, calls: int) -> tuple[int, list[QuotaSpentError]]:
    minted, refused = 0, []
    for _ in range(calls):
        try:
            client.create_auth_token("cometchat-uid-1")
            minted += 1
        except QuotaSpentError as exc:
            refused.append(exc)
    return minted, refused




def test_a_spent_quota_is_refused_at_once_without_calling_upstream(emulator) -> None:
    emulator.faults(core_per_minute=5, minute_seconds=WINDOW)
    client = budgeted(emulator, MemoryBudgetStore())
    started = time.monotonic()
    minted, refused = mint_all(client, 8)
    assert minted == 5 and len(refused) == 3
    assert time.monotonic() - started < 5  # refusals wait for nothing
    assert all(1 <= exc.retry_after <= WINDOW for exc in refused)
    assert emulator.stats()["requests"] == 5 and emulator.stats()["rate_limited"] == 0
    client.get_user("cometchat-uid-1")  # the other bucket is still open


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_calls_in_flight_count_against_what_is_left(emulator, request, store) -> None:
    """16 callers at once with 9 calls left: 9 go upstream, 7 are refused, no 429. With Redis
    the callers are split over two hosts."""
    if store == "redis":
        url = request.getfixturevalue("redis_url")
        hosts = [budgeted(emulator, RedisBudgetStore.from_url(url)) for _ in range(2)]
    else:
        hosts = [budgeted(emulator, MemoryBudgetStore())]
    emulator.faults(core_per_minute=10, minute_seconds=WINDOW, latency_ms=200)
    assert mint_all(hosts[0], 1)[0] == 1  # the first answer tells the limit
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(mint_all(hosts[i % len(hosts)], 1)[0])) for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(results) == 9 and emulator.stats()["rate_limited"] == 0
    for host in hosts:
        host.close()


def test_an_upstream_429_closes_the_budget_until_its_reset(emulator) -> None:
    client = budgeted(emulator, MemoryBudgetStore())
    emulator.faults({"kind": "status", "status": 429, "retry_after": 20})
    with pytest.raises(RateLimitedError) as first:
        client.create_auth_token("cometchat-uid-1")
    assert not isinstance(first.value, QuotaSpentError)
    calls = emulator.stats()["requests"]
    with pytest.raises(QuotaSpentError) as second:
        client.create_auth_token("cometchat-uid-1")
    assert 15 <= second.value.retry_after <= 20 and emulator.stats()["requests"] == calls




def test_a_failing_redis_lets_calls_through(emulator, caplog) -> None:
    client = budgeted(emulator, RedisBudgetStore.from_url(f"redis://127.0.0.1:{free_port()}/0"))
    client.create_auth_token("cometchat-uid-1")
    assert "budget store failed" in caplog.text


@pytest.fixture
def redis_url(tmp_path):
    if not REDIS:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install redis-server")
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = Process(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        log_path=tmp_path / "redis.log",
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    client.close()
    server.stop()


def test_hosts_share_one_budget_through_redis(emulator, redis_url) -> None:
    emulator.faults(core_per_minute=6, minute_seconds=WINDOW)
    hosts = [budgeted(emulator, RedisBudgetStore.from_url(redis_url)) for _ in range(2)]
    minted = refused = 0
    for i in range(10):  # alternate between the two hosts
        got, spent = mint_all(hosts[i % 2], 1)
        minted, refused = minted + got, refused + len(spent)
    assert (minted, refused) == (6, 4)
    assert emulator.stats()["rate_limited"] == 0


def too_many(retry_after: str, **headers: str) -> dict:
    """CometChat's 429, as the issue saw it: its Retry-After and Remaining 0."""
    return {
        "kind": "status",
        "status": 429,
        "headers": {"Retry-After": retry_after, "X-RateLimit-Remaining": "0", **headers},
    }


@pytest.fixture(params=["memory", "redis"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryBudgetStore()
        return
    with running_redis(tmp_path) as url:
        yield RedisBudgetStore.from_url(url)


def clocked(emulator, store, clock: Clock, **options) -> CometChatClient:
    client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, backoff=0.01, **options)
    client.transport.budget = UpstreamBudget(store, emulator.base_url, window_seconds=60.0, clock=clock)
    return client


def test_a_valid_mint_after_cometchats_retry_after_is_answered(emulator, store) -> None:
    clock = Clock(time.time())
    client = clocked(emulator, store, clock, max_retries=0)
    emulator.faults(too_many("1"))
    with pytest.raises(RateLimitedError) as upstream:
        client.create_auth_token("cometchat-uid-1")
    assert not isinstance(upstream.value, QuotaSpentError) and upstream.value.status == 429
    calls = emulator.stats()["requests"]
    with pytest.raises(QuotaSpentError) as held:  # the guard trips: no upstream call
        client.create_auth_token("cometchat-uid-1")
    assert held.value.retry_after == 1.0 and emulator.stats()["requests"] == calls
    clock.now += 1.5  # the twin: CometChat's second is over, a valid mint is answered
    assert client.create_auth_token("cometchat-uid-1").auth_token


def test_300_mints_right_after_a_retry_after_of_one_second_are_answered(emulator, store) -> None:
    clock = Clock(time.time())
    client = clocked(emulator, store, clock, max_retries=0)
    emulator.faults(too_many("1"))
    with pytest.raises(RateLimitedError):
        client.create_auth_token("cometchat-uid-1")
    clock.now += 1.0
    minted, refused = mint_all(client, 300)
    assert (minted, len(refused)) == (300, 0)


def test_a_huge_retry_after_blocks_one_quota_window_at_most(emulator, store) -> None:
    clock = Clock(time.time())
    client = clocked(emulator, store, clock, max_retries=0)
    emulator.faults(too_many("99999999"))
    with pytest.raises(RateLimitedError) as upstream:
        client.create_auth_token("cometchat-uid-1")
    assert upstream.value.retry_after == 60.0  # the first caller is told one window, not years
    clock.now += 59.5
    with pytest.raises(QuotaSpentError) as held:
        client.create_auth_token("cometchat-uid-1")
    assert 1 <= held.value.retry_after <= 60.0
    clock.now += 0.5
    assert client.create_auth_token("cometchat-uid-1").auth_token


def test_a_budget_refusal_on_a_retry_keeps_maybe_applied_and_is_told(emulator) -> None:
    """Attempt 1 ends in a 502 (CometChat may have minted); meanwhile another worker hears a
    429. The retry is refused by the budget: the error still says maybe_applied, and the
    observers hear that attempt too."""
    store = MemoryBudgetStore()
    clock = Clock(time.time())
    other = UpstreamBudget(store, emulator.base_url, window_seconds=60.0, clock=clock)

    def another_worker_hears_a_429(_seconds: float) -> None:
        ticket = other.spend("POST", "/users/x/auth_tokens")
        ticket.rate_limited, ticket.retry_after = True, 30.0
        other.settle(ticket)

    client = clocked(emulator, store, clock, sleep=another_worker_hears_a_429)
    heard: list = []
    client.transport.observers.append(heard.append)
    # Near the limit (100 a minute), so each call asks the shared store, where the block is.
    emulator.faults({"kind": "status", "status": 502}, core_per_minute=100)
    with pytest.raises(QuotaSpentError) as refused:
        client.create_auth_token("cometchat-uid-1")
    assert refused.value.maybe_applied
    assert [(a.attempt, a.outcome, a.status) for a in heard] == [(1, "server_error", 502), (2, "rate_limited", None)]
    assert heard[1].endpoint == "POST /users/{uid}/auth_tokens"


def test_a_retry_after_a_maybe_applied_failure_goes_ahead_when_the_budget_allows(emulator) -> None:
    """The twin: the same 502 without a 429 elsewhere: the retry mints."""
    client = clocked(emulator, MemoryBudgetStore(), Clock(time.time()), sleep=lambda _s: None)
    heard: list = []
    client.transport.observers.append(heard.append)
    emulator.faults({"kind": "status", "status": 502})
    assert client.create_auth_token("cometchat-uid-1").auth_token
    assert [(a.attempt, a.outcome) for a in heard] == [(1, "server_error"), (2, "ok")]
