"""The endpoint table, the options object and the I/O-free retry policy."""

from __future__ import annotations

import pytest

from cometchat import endpoints, policy
from cometchat.budget import bucket_of
from cometchat.errors import RateLimitedError, UpstreamUnavailableError
from cometchat.options import ClientOptions, options_from


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


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_retry_after_is_honoured_within_the_deadline_and_reported_past_it() -> None:
    clock = Clock()
    call = policy.CallState(ClientOptions(total_deadline=10, max_retries=3), clock=clock)
    call.begin()
    assert call.retry_delay(policy.Failure(RateLimitedError("x", status=429, retry_after=4.0), True, False)) == 4.0
    call.begin()
    clock.now += 7  # 3 s left: a 4 s wait would end past the deadline
    error = RateLimitedError("x", status=429, retry_after=4.0)
    with pytest.raises(RateLimitedError) as info:
        call.retry_delay(policy.Failure(error, True, False))
    assert info.value.retry_after == 4.0
    clock.now += 3
    with pytest.raises(Exception, match="no answer from CometChat within 10 s"):
        call.timeouts()


def test_maybe_applied_sticks_once_any_attempt_may_have_landed() -> None:
    call = policy.CallState(ClientOptions(max_retries=1), clock=Clock())
    call.begin()
    call.retry_delay(policy.Failure(UpstreamUnavailableError("broke"), True, True))
    call.begin()
    later = UpstreamUnavailableError("refused")
    with pytest.raises(UpstreamUnavailableError):
        call.retry_delay(policy.Failure(later, True, False))
    assert later.maybe_applied is True
