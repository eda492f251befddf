"""The upstream budget's policy with an injected clock: CometChat's Retry-After and reset are
the authority, every wait is capped at one quota window, every kept figure expires; and the
quota headers read safely, junk and huge values included."""

from __future__ import annotations

import pytest
from requests.structures import CaseInsensitiveDict

from cometchat.budget import (
    BUSY_WAIT,
    CORE,
    FRESH_SECONDS,
    OTHER,
    PROBE_SECONDS,
    MemoryBudgetStore,
    QuotaSpentError,
    UpstreamBudget,
    bucket_of,
)
from cometchat.errors import MAX_RETRY_AFTER
from cometchat.quota_headers import MAX_COUNT, QuotaHeaders, read_quota_headers
from tests.helpers import Clock

MINT = ("POST", "/users/alice/auth_tokens")
WINDOW = 60.0
# Five seconds into an epoch-aligned minute: a window the server assumed would end in 55 s.
START = 1_800_000_000.0 - 55.0




@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def budget(clock: Clock) -> UpstreamBudget:
    """The policy over the in-memory store (tests/process/test_budget_redis.py runs the same
    tests over a real Redis)."""
    return UpstreamBudget(MemoryBudgetStore(), "https://app.example/v3", window_seconds=WINDOW, clock=clock)


def answer(budget: UpstreamBudget, *, rate_limited: bool = False, **headers: str) -> None:
    """One call allowed and answered with these headers (underscores for dashes)."""
    ticket = budget.spend(*MINT)
    ticket.hear(
        read_quota_headers(CaseInsensitiveDict({k.replace("_", "-"): v for k, v in headers.items()})),
        rate_limited=rate_limited,
    )
    budget.settle(ticket)


def refused_for(budget: UpstreamBudget) -> float | None:
    """The Retry-After a refusal tells, or None when the call is allowed (and settled)."""
    try:
        ticket = budget.spend(*MINT)
    except QuotaSpentError as exc:
        return exc.retry_after
    budget.settle(ticket)
    return None


def test_a_429_blocks_for_its_retry_after_and_no_longer(budget, clock) -> None:
    answer(budget, rate_limited=True, Retry_After="1", X_RateLimit_Remaining="0")
    clock.now += 0.5
    assert refused_for(budget) == 1.0
    clock.now += 0.5  # the second CometChat named is over: a valid mint goes ahead
    assert refused_for(budget) is None


def test_remaining_zero_blocks_until_the_reset_named_not_the_end_of_an_assumed_window(budget, clock) -> None:
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="0", X_RateLimit_Reset=str(int(clock.now) + 3))
    clock.now += 2.5
    assert refused_for(budget) == 1.0
    clock.now += 0.5  # 52 s before the epoch-aligned minute ends
    assert refused_for(budget) is None


@pytest.mark.parametrize("spelling", ["X-RateLimit-Reset", "X-Rate-Limit-Reset"])
def test_a_small_reset_is_seconds_to_wait(budget, clock, spelling) -> None:
    answer(budget, rate_limited=True, **{spelling.replace("-", "_"): "4"})
    clock.now += 3.9
    assert refused_for(budget) == 1.0
    clock.now += 0.1
    assert refused_for(budget) is None


def test_retry_after_is_preferred_to_a_reset_on_a_skewed_clock(budget, clock) -> None:
    answer(budget, rate_limited=True, Retry_After="2", X_RateLimit_Reset=str(int(clock.now) + 40))
    clock.now += 2
    assert refused_for(budget) is None


def test_remaining_zero_without_a_time_holds_off_one_probe_then_asks_again(budget, clock) -> None:
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="0")
    assert refused_for(budget) == PROBE_SECONDS
    clock.now += PROBE_SECONDS
    assert refused_for(budget) is None


def test_after_a_block_without_a_time_one_probe_asks_cometchat_for_everyone(budget, clock) -> None:
    """Remaining 0 on a 200 names no reset: after PROBE_SECONDS one call goes ahead, the
    others wait for its answer (not a burst of 429s), and its answer opens the way."""
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="0")
    clock.now += PROBE_SECONDS
    probe = budget.spend(*MINT)
    assert refused_for(budget) == BUSY_WAIT
    probe.hear(QuotaHeaders(limit=10, remaining=9), rate_limited=False)  # CometChat's window reset
    budget.settle(probe)
    flying = [budget.spend(*MINT) for _ in range(3)]  # calls at once again, not one at a time
    assert refused_for(budget) is None
    for ticket in flying:
        budget.settle(ticket)


def test_a_probe_that_gets_a_429_blocks_for_what_it_names(budget, clock) -> None:
    answer(budget, rate_limited=True)  # no time named
    clock.now += PROBE_SECONDS
    answer(budget, rate_limited=True, Retry_After="20")
    clock.now += 19
    assert refused_for(budget) == 1.0
    clock.now += 1
    assert refused_for(budget) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry_After": "99999999"},
        {"Retry_After": "9" * 5000},
        {"X_RateLimit_Reset": "99999999999"},  # epoch seconds thousands of years away
        {"X_RateLimit_Reset": "1" + "0" * 400},  # a float's infinity if parsed naively
        {"X_Rate_Limit_Reset": "999999999"},  # seconds to wait, decades
    ],
)
def test_a_huge_wait_blocks_one_quota_window_at_most(budget, clock, headers) -> None:
    answer(budget, rate_limited=True, X_RateLimit_Remaining="0", **headers)
    told = refused_for(budget)
    assert told is not None and 1 <= told <= WINDOW
    clock.now += WINDOW
    assert refused_for(budget) is None


@pytest.mark.parametrize("junk", ["-5", "1e3", "nan", "inf", "soon", "", "0x10", "1,5", "\u0661"])
def test_a_429_with_junk_figures_holds_off_one_probe(budget, clock, junk) -> None:
    answer(budget, rate_limited=True, Retry_After=junk, X_RateLimit_Reset=junk, X_RateLimit_Remaining=junk)
    assert refused_for(budget) == PROBE_SECONDS
    clock.now += PROBE_SECONDS
    assert refused_for(budget) is None


def test_calls_in_flight_are_refused_only_until_they_answer(budget, clock) -> None:
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="2")
    flying = [budget.spend(*MINT), budget.spend(*MINT)]
    with pytest.raises(QuotaSpentError) as refused:
        budget.spend(*MINT)
    assert refused.value.retry_after == BUSY_WAIT  # not the end of a window
    flying[0].hear(QuotaHeaders(limit=10, remaining=1), rate_limited=False)
    budget.settle(flying[0])
    assert refused_for(budget) == BUSY_WAIT  # one left, one still in flight
    budget.settle(flying[1])  # it failed without an answer (a connection error)
    assert refused_for(budget) is None


def test_a_remaining_heard_goes_stale(budget, clock) -> None:
    """A low Remaining stops counting after FRESH_SECONDS: CometChat's window may have reset."""
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="1")
    flying = budget.spend(*MINT)
    assert refused_for(budget) == BUSY_WAIT
    clock.now += FRESH_SECONDS  # the limit (10) is what is known now, one call in flight
    assert refused_for(budget) is None
    budget.settle(flying)


def test_a_higher_remaining_is_believed_once_the_lowest_is_stale(budget, clock) -> None:
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="1")
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="9")  # out of order: not believed
    flying = budget.spend(*MINT)
    assert refused_for(budget) == BUSY_WAIT
    clock.now += FRESH_SECONDS
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="9")  # after a reset upstream
    assert refused_for(budget) is None
    budget.settle(flying)


def test_a_block_forgets_the_counts_heard_before_it(budget, clock) -> None:
    """Once CometChat's reset has come, what was left before it counts no more."""
    answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining="2")
    refused, flying = budget.spend(*MINT), budget.spend(*MINT)
    refused.hear(QuotaHeaders(limit=10, retry_after=1.0), rate_limited=True)
    budget.settle(refused)
    clock.now += 1.0  # the block is over; the Remaining of 2 was heard within FRESH_SECONDS
    more = budget.spend(*MINT)  # two in flight now
    assert refused_for(budget) is None  # the limit (10) counts, not the 2 heard before the 429
    budget.settle(more)
    budget.settle(flying)


def test_a_shorter_block_does_not_cut_a_longer_one_short(budget, clock) -> None:
    first, second = budget.spend(*MINT), budget.spend(*MINT)
    first.hear(QuotaHeaders(retry_after=30.0), rate_limited=True)
    budget.settle(first)
    second.hear(QuotaHeaders(retry_after=1.0), rate_limited=True)
    budget.settle(second)
    clock.now += 2
    assert refused_for(budget) == 28.0


def test_the_memory_store_forgets_blocks_and_old_counts(clock) -> None:
    store = MemoryBudgetStore()
    budget = UpstreamBudget(store, "https://app.example/v3", window_seconds=WINDOW, clock=clock)
    for round_ in range(50):
        answer(budget, X_RateLimit_Limit="10", X_RateLimit_Remaining=str(round_ % 9 + 1))
        answer(budget, rate_limited=True, Retry_After="30", X_RateLimit_Remaining="0")
        clock.now += 1.5 * WINDOW
    assert refused_for(budget) is None
    # What is left: the last limit and the current slot's (empty) flight; no block, no stale count.
    assert len(store) <= 2
    assert not store._blocked and not store._remaining


def test_a_retry_after_of_zero_blocks_nothing(budget) -> None:
    answer(budget, rate_limited=True, Retry_After="0", X_RateLimit_Remaining="0")
    assert refused_for(budget) is None


def test_the_window_must_be_a_positive_finite_number() -> None:
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            UpstreamBudget(MemoryBudgetStore(), "x", window_seconds=bad)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-RateLimit-Limit": "10000", "X-RateLimit-Remaining": "9999"}, QuotaHeaders(limit=10000, remaining=9999)),
        ({"X-Rate-Limit": "500", "X-Rate-Limit-Remaining": "3"}, QuotaHeaders(limit=500, remaining=3)),
        ({"x-rate-limit-limit": " 20 ", "x-ratelimit-remaining": "0"}, QuotaHeaders(limit=20, remaining=0)),
        ({"X-RateLimit-Remaining": "9" * 5000}, QuotaHeaders(remaining=MAX_COUNT)),
        ({"X-RateLimit-Remaining": "12345678901"}, QuotaHeaders(remaining=MAX_COUNT)),
        ({"X-RateLimit-Remaining": "-1", "X-RateLimit-Limit": "ten"}, QuotaHeaders()),
        ({"Retry-After": "15", "X-RateLimit-Reset": "1700000000"}, QuotaHeaders(retry_after=15.0, reset=1.7e9)),
        ({"Retry-After": "99999999"}, QuotaHeaders(retry_after=MAX_RETRY_AFTER)),
        ({"X-Rate-Limit-Reset": "12.5"}, QuotaHeaders(reset=12.5)),
        ({"X-RateLimit-Reset": "1" * 40}, QuotaHeaders()),
        ({"X-RateLimit-Reset": "-3", "Retry-After": "-3"}, QuotaHeaders()),
    ],
)
def test_quota_headers_are_read_in_both_spellings_and_junk_is_ignored(headers, expected) -> None:
    assert read_quota_headers(CaseInsensitiveDict(headers)) == expected


def test_retry_after_as_an_http_date_is_honoured(clock) -> None:
    figures = read_quota_headers(CaseInsensitiveDict({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert figures.retry_after == 0.0  # in the past: wait nothing


@pytest.mark.parametrize(("reset", "now", "seconds"), [(1_700_000_030.0, 1_700_000_000.0, 30.0), (7.0, 1e9, 7.0)])
def test_a_reset_is_epoch_seconds_or_seconds_to_wait(reset, now, seconds) -> None:
    assert QuotaHeaders(reset=reset).reset_in(now) == seconds


def test_the_redis_store_moved_to_the_server_and_its_old_name_still_answers_with_a_warning() -> None:
    import cometchat.budget as budget
    from token_server.stores import budget_redis

    for name in ("RedisBudgetStore", "budget_store_for"):
        with pytest.warns(DeprecationWarning, match=f"cometchat.budget.{name} moved to token_server.stores"):
            assert getattr(budget, name) is getattr(budget_redis, name)
    with pytest.raises(AttributeError):
        budget.NoSuchName  # noqa: B018


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
