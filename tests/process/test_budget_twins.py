"""The upstream budget against the emulator over HTTP, with an injected clock: CometChat's
Retry-After is the authority (a valid mint after it is answered, 300 mints right after a
one-second Retry-After are all answered), a huge Retry-After blocks one quota window at most,
and a budget refusal on a retry keeps maybe_applied and is told to observers."""

from __future__ import annotations

import time

import pytest

from cometchat import CometChatClient
from cometchat.budget import MemoryBudgetStore, QuotaSpentError, UpstreamBudget
from cometchat.errors import RateLimitedError
from tests.helpers import Clock, service
from tests.process.test_budget import mint_all
from tests.procs import EMULATOR_KEY
from tests.stores import running_redis
from token_server.stores.budget_redis import RedisBudgetStore

# ---- CometChat's own figures are the authority (a clock injected, never a sleep) ----------




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


def test_the_route_tells_callers_one_window_at_most_and_answers_after_it(app, http, upstream) -> None:
    from cometchat.emulator.faults import Fault
    from token_server.routes import CLIENT

    clock = Clock(time.time())
    transport = app.extensions[CLIENT].transport
    transport.budget = UpstreamBudget(MemoryBudgetStore(), transport.base_url, window_seconds=60.0, clock=clock)
    upstream.faults.append(Fault(kind="status", status=429, retry_after=99999999))
    first = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert first.status_code == 503 and 1 <= int(first.headers["Retry-After"]) <= 60
    calls = upstream.requests
    held = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert held.status_code == 503 and 1 <= int(held.headers["Retry-After"]) <= 60 and upstream.requests == calls
    clock.now += 60
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200
