"""The endpoint table, the options object and the I/O-free retry policy."""

from __future__ import annotations

import pytest

from cometchat import endpoints, policy
from cometchat.budget import MemoryBudgetStore, UpstreamBudget, bucket_of
from cometchat.errors import RateLimitedError, UpstreamUnavailableError
from cometchat.models import RateLimitInfo
from cometchat.options import ClientOptions, options_from
from tests.helpers import Clock


@pytest.mark.parametrize("endpoint", endpoints.ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_is_counted_in_the_bucket_its_path_belongs_to(endpoint) -> None:
    concrete = endpoint.path({name: "x" for name in endpoint.params})
    assert endpoint.bucket == bucket_of(endpoint.method, concrete) == bucket_of(endpoint.method, endpoint.template)


def test_the_table_has_one_entry_per_method_and_template() -> None:
    labels = [e.label for e in endpoints.ENDPOINTS]
    assert len(set(labels)) == len(labels)
    assert endpoints.MINT_TOKEN.label == "POST /users/{uid}/auth_tokens"
    assert endpoints.IMPORT_USERS.cap == 50 and endpoints.REACTIVATE_USERS.cap == 25


def test_parameters_are_encoded_as_one_segment_and_a_token_never_logged() -> None:
    params = {"uid": "a.b/c", "authToken": "secret.token"}
    assert endpoints.DELETE_TOKEN.path(params) == "/users/a%2Eb%2Fc/auth_tokens/secret%2Etoken"
    assert endpoints.DELETE_TOKEN.loggable(params) == "/users/a%2Eb%2Fc/auth_tokens/***"
    push = {"pushToken": "fcm:dev/ice"}
    assert endpoints.DELETE_PUSH_TOKEN.path(push) == "/notifications/push/v1/tokens/fcm%3Adev%2Fice"
    assert endpoints.DELETE_PUSH_TOKEN.loggable(push) == "/notifications/push/v1/tokens/***"
    with pytest.raises(ValueError, match="takes the path parameters uid"):
        endpoints.GET_USER.path({"uid": "a", "extra": "b"})
    with pytest.raises(ValueError, match="empty path segment"):
        endpoints.GET_USER.path({"uid": ""})


@pytest.mark.parametrize(
    "bad",
    [
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"total_deadline": 0},
        {"max_retries": -1},
        {"backoff": -0.1},
        {"max_response_bytes": 0},
        {"pool_size": 0},
    ],
)
def test_options_refuse_values_that_cannot_work(bad) -> None:
    with pytest.raises(ValueError):
        ClientOptions(**bad)


def test_keyword_tuning_overrides_the_options_object() -> None:
    base = ClientOptions(read_timeout=2.0, max_retries=5)
    merged = options_from(base, {"read_timeout": 3.0, "proxies": None})
    assert (merged.read_timeout, merged.max_retries, merged.proxies) == (3.0, 5, {})
    assert options_from(None, {}) == ClientOptions()




def test_retry_after_is_honoured_within_the_deadline_and_reported_past_it() -> None:
    clock = Clock(100.0)
    call = policy.CallState(ClientOptions(total_deadline=10, max_retries=3), clock=clock)
    call.begin()
    verdict = call.after_failure(policy.Failure(RateLimitedError("x", status=429, retry_after=4.0), True, False), None)
    assert verdict == policy.Verdict(delay=4.0, maybe_applied=False, retry_after=4.0)
    call.begin()
    clock.now += 7  # 3 s left: a 4 s wait would end past the deadline
    error = RateLimitedError("x", status=429, retry_after=4.0)
    assert call.after_failure(policy.Failure(error, True, False), None) == policy.Verdict(None, False, 4.0)
    clock.now += 3
    with pytest.raises(Exception, match="no answer from CometChat within 10 s"):
        call.timeouts()


def test_maybe_applied_sticks_once_any_attempt_may_have_landed() -> None:
    call = policy.CallState(ClientOptions(max_retries=1), clock=Clock(100.0))
    call.begin()
    assert call.after_failure(policy.Failure(UpstreamUnavailableError("broke"), True, True), None).delay is not None
    call.begin()
    later = UpstreamUnavailableError("refused")
    verdict = call.after_failure(policy.Failure(later, True, False), None)
    assert verdict.delay is None and verdict.maybe_applied is True
    assert call.ended(UpstreamUnavailableError("budget")) is True


def test_the_policy_returns_its_decisions_and_never_changes_the_error_it_is_given() -> None:
    clock = Clock(100.0)
    budget = UpstreamBudget(MemoryBudgetStore(), "app", window_seconds=60, clock=clock)
    call = policy.CallState(ClientOptions(max_retries=0), clock=clock, budget=budget)
    call.begin()
    error = RateLimitedError("x", status=429, retry_after=500.0)
    verdict = call.after_failure(policy.Failure(error, True, True), None)
    # The wait told is capped at one quota window, and the call may have landed: said, not done.
    assert verdict == policy.Verdict(None, True, 60.0)
    assert (error.retry_after, error.maybe_applied) == (500.0, False)
    unnamed = RateLimitedError("y", status=429)
    assert call.after_failure(policy.Failure(unnamed, True, False), None).retry_after == 1.0
    assert unnamed.retry_after is None
    figures, heard = policy.rate_limit_of({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "Retry-After": "7"})
    assert (figures.limit, figures.remaining, figures.retry_after) == (100, 0, 7.0)
    assert heard == RateLimitInfo(limit=100, remaining=0)
    assert policy.rate_limit_of({"Retry-After": "7"})[1] is None


def test_each_attempt_is_timed_with_the_clock_the_call_is_given() -> None:
    clock, heard = Clock(100.0), []
    call = policy.CallState(ClientOptions(), clock=clock, endpoint=endpoints.GET_USER, observers=[heard.append])
    call.begin()
    clock.now += 2.5
    call.answered(200, None)
    assert [a.seconds for a in heard] == [2.5] and heard[0].endpoint == "GET /users/{uid}"
