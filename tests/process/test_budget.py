"""The upstream budget: the app's CometChat quota, kept from the X-RateLimit-* headers, in
process or shared through Redis, refuses at once instead of earning upstream 429s."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

from cometchat import CometChatClient
from cometchat.budget import (
    CORE,
    OTHER,
    MemoryBudgetStore,
    QuotaSpentError,
    UpstreamBudget,
    bucket_of,
)
from cometchat.errors import RateLimitedError
from tests.helpers import app_env, service
from tests.procs import EMULATOR_KEY, Process, free_port
from token_server import create_app
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


@pytest.mark.parametrize(
    ("method", "path", "bucket"),
    [
        ("POST", "/users", CORE),
        ("DELETE", "/users/alice", CORE),
        ("POST", "/users/alice/auth_tokens", CORE),
        ("GET", "/users/alice", OTHER),
        ("DELETE", "/users/alice/auth_tokens", OTHER),
        ("PUT", "/users/alice", OTHER),
        ("POST", "/data_import/users", "import"),
    ],
)
def test_calls_are_counted_in_cometchats_buckets(method, path, bucket) -> None:
    assert bucket_of(method, path) == bucket


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


def test_the_route_answers_503_with_retry_after_when_the_quota_is_spent() -> None:
    app = create_app(app_env(COMETCHAT_QUOTA_WINDOW_SECONDS=str(WINDOW)))
    http, upstream = app.test_client(), app.extensions["token_server.emulator"]
    upstream.quota.minute_seconds = WINDOW
    upstream.set_limits(core=2)
    for _ in range(2):
        assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == 503 and answer.json["error"]["code"] == "ERR_UPSTREAM_RATE_LIMITED"
    assert 1 <= int(answer.headers["Retry-After"]) <= WINDOW
    assert upstream.rate_limited == 0 and upstream.requests == 2


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


class CountingStore(MemoryBudgetStore):
    def __init__(self) -> None:
        super().__init__()
        self.begins = self.ends = 0

    def begin(self, *args):
        self.begins += 1
        return super().begin(*args)

    def end(self, *args):
        self.ends += 1
        return super().end(*args)


def test_the_store_is_skipped_while_the_quota_is_far_from_spent() -> None:
    """Far from the limit, each call costs no store round trip (a Redis call per mint would
    cost more CPU than the mint); near it, every call is counted in the store."""
    store = CountingStore()
    budget = UpstreamBudget(store, "https://app.example/v3", window_seconds=60, clock=lambda: 6000.0)

    def call(remaining: int) -> bool:
        ticket = budget.spend("POST", "/users/alice/auth_tokens")
        ticket.limit, ticket.remaining = 10_000, remaining
        budget.settle(ticket)
        return ticket.counted

    assert call(9_999)  # nothing heard yet in this window: counted
    assert [call(9_000 - i) for i in range(5)] == [False] * 5
    assert (store.begins, store.ends) == (1, 1)
    assert not call(4_000)  # allowed on the host's view, but the store now hears how low it is
    assert store.ends == 2
    assert call(3_999) and store.begins == 2  # below half the limit: counted in the store
