"""The client against `responses`: URLs, headers, bodies, timeouts, retries, every error class."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
from dataclasses import replace

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st
from responses import matchers
from responses.registries import OrderedRegistry

from cometchat import (
    AuthTokenNotFoundError,
    CometChatClient,
    CometChatError,
    NotFoundError,
    RateLimitedError,
    UidAlreadyExistsError,
    UidNotFoundError,
    UpstreamAttempt,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamRequestError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    ValidationError,
    policy,
)
from cometchat.client import MAX_IMPORT_USERS, MAX_REACTIVATE_UIDS, default_base_url
from cometchat.endpoints import path
from cometchat.errors import MAX_RETRY_AFTER, parse_retry_after
from cometchat.options import DEFAULT_MAX_RESPONSE_BYTES

BASE = "https://app123.api-eu.cometchat.io/v3"
KEY = "rest-key-SECRET-123"
USER = {"uid": "alice", "name": "Alice", "role": "default", "status": "offline", "createdAt": 1700000000}
TOKEN = {"uid": "alice", "authToken": "alice_1700000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "createdAt": 1700000000}


def envelope(code: str, message: str = "msg", **extra) -> dict:
    return {"error": {"message": message, "devMessage": "internal detail", "source": "chat-api", "code": code, **extra}}


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def client(sleep: FakeSleep) -> CometChatClient:
    return CometChatClient("app123", "eu", KEY, sleep=sleep)


@pytest.fixture
def rsps():
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        yield mock


def test_base_url_from_app_and_region() -> None:
    assert CometChatClient("app123", "us", "k").base_url == "https://app123.api-us.cometchat.io/v3"
    assert CometChatClient(api_key="k", base_url="http://x/v3/").base_url == "http://x/v3"
    with pytest.raises(ValueError):
        CometChatClient("app", "mars", "k")
    with pytest.raises(ValueError):
        CometChatClient("app", "us", "")


@pytest.mark.parametrize("app_id", ["evil.example/#", "evil.example?", "a.b", "a-b", "", "x" * 64])
def test_an_app_id_that_is_not_letters_and_digits_builds_no_url(app_id) -> None:
    """``evil.example/#`` would make evil.example the host that receives the REST key."""
    with pytest.raises(ValueError, match="letters and digits"):
        default_base_url(app_id, "us")
    with pytest.raises(ValueError):
        CometChatClient(app_id, "us", "k")


def test_default_timeouts_live_in_one_place_importable_from_the_client() -> None:
    from cometchat.client import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_TOTAL_DEADLINE

    sent = CometChatClient("app123", "us", "k").transport.options
    assert (sent.connect_timeout, sent.read_timeout, sent.total_deadline) == (
        DEFAULT_CONNECT_TIMEOUT,
        DEFAULT_READ_TIMEOUT,
        DEFAULT_TOTAL_DEADLINE,
    )


def test_get_user_sends_key_and_timeout_and_returns_typed_user(rsps, client) -> None:
    rsps.get(f"{BASE}/users/alice", json={"data": USER}, match=[matchers.header_matcher({"apikey": KEY})])
    user = client.get_user("Alice")  # lowercased, as CometChat does
    assert user.uid == "alice" and user.name == "Alice" and user.created_at == 1700000000
    assert user.avatar is None and user.metadata == {} and user.tags == ()
    sent = rsps.calls[0].request
    assert sent.req_kwargs["timeout"] == (client.options.connect_timeout, client.options.read_timeout)
    assert "appid" not in {k.lower() for k in sent.headers}


def test_create_user_with_auth_token_is_one_call(rsps, client) -> None:
    rsps.post(
        f"{BASE}/users",
        json={"data": {**USER, "authToken": TOKEN["authToken"]}},
        match=[
            matchers.json_params_matcher(
                {"uid": "alice", "name": "Alice", "withAuthToken": True, "metadata": {"plan": "pro"}, "tags": ["a"]}
            )
        ],
    )
    user = client.create_user("alice", "Alice", metadata={"plan": "pro"}, tags=["a"], with_auth_token=True)
    assert user.auth_token == TOKEN["authToken"]
    assert TOKEN["authToken"] not in repr(user)
    assert len(rsps.calls) == 1


def test_mint_token_forces_a_fresh_one(rsps, client) -> None:
    rsps.post(
        f"{BASE}/users/alice/auth_tokens", json={"data": TOKEN}, match=[matchers.json_params_matcher({"force": True})]
    )
    token = client.create_auth_token("alice")
    assert token.auth_token == TOKEN["authToken"] and token.uid == "alice"
    assert TOKEN["authToken"] not in repr(token)


def test_token_and_uid_are_percent_encoded(rsps, client) -> None:
    rsps.delete(f"{BASE}/users/a-b_c/auth_tokens/{TOKEN['authToken']}", json={"data": {"success": True}})
    client.delete_auth_token("A-B_c", TOKEN["authToken"])
    assert rsps.calls[0].request.url.endswith(f"/users/a-b_c/auth_tokens/{TOKEN['authToken']}")
    # Every segment stays one segment, whatever it holds ('.' too: servers drop dot segments).
    assert path("users", "a-b_c", "auth_tokens", "tok/../x?y") == "/users/a-b_c/auth_tokens/tok%2F%2E%2E%2Fx%3Fy"
    assert path("users", "..") == "/users/%2E%2E" and path(".") == "/%2E"
    with pytest.raises(ValueError):
        path("users", "")


@pytest.mark.parametrize("token", [".", "..", "a/b", "../x", "tok.en", "a b", "t%2e", "é", "x" * 513])
@pytest.mark.parametrize("method", ["delete_auth_token", "get_auth_token"])
def test_a_token_that_could_change_the_path_is_refused(rsps, client, method, token) -> None:
    with pytest.raises(ValidationError) as info:
        getattr(client, method)("alice", token)
    assert "authToken" in info.value.details and len(rsps.calls) == 0


def test_update_delete_flush_get_token(rsps, client) -> None:
    rsps.put(
        f"{BASE}/users/alice",
        json={"data": {**USER, "name": "Al", "updatedAt": 1700000100}},
        match=[matchers.json_params_matcher({"name": "Al", "unset": ["avatar"]})],
    )
    rsps.delete(f"{BASE}/users/alice", json={"data": {"deactivatedUids": ["alice"]}})
    rsps.delete(
        f"{BASE}/users/alice",
        json={"data": {"success": True}},
        match=[matchers.json_params_matcher({"permanent": True})],
    )
    rsps.delete(f"{BASE}/users/alice/auth_tokens", json={"data": {"success": True}})
    rsps.get(f"{BASE}/users/alice/auth_tokens/{TOKEN['authToken']}", json={"data": TOKEN})
    assert client.update_user("alice", name="Al", unset=["avatar"]).updated_at == 1700000100
    client.delete_user("alice")
    assert rsps.calls[1].request.body is None  # a soft delete sends no body
    client.delete_user("alice", permanent=True)
    client.flush_auth_tokens("alice")
    assert client.get_auth_token("alice", TOKEN["authToken"]).created_at == 1700000000


def test_list_users_walks_every_page(rsps, client) -> None:
    def page(n: int, total_pages: int, uids: list[str]) -> dict:
        return {
            "data": [{"uid": u, "name": u} for u in uids],
            "meta": {
                "pagination": {
                    "total": 3,
                    "count": len(uids),
                    "per_page": 2,
                    "current_page": n,
                    "total_pages": total_pages,
                }
            },
        }

    rsps.get(
        f"{BASE}/users",
        json=page(1, 2, ["c", "b"]),
        match=[matchers.query_param_matcher({"perPage": "2", "page": "1"})],
    )
    rsps.get(
        f"{BASE}/users", json=page(2, 2, ["a"]), match=[matchers.query_param_matcher({"perPage": "2", "page": "2"})]
    )
    assert [u.uid for u in client.iter_users(per_page=2)] == ["c", "b", "a"]


def test_list_tokens(rsps, client) -> None:
    rsps.get(
        f"{BASE}/users/alice/auth_tokens",
        json={"data": [TOKEN], "meta": {"pagination": {"total_pages": 1, "current_page": 1}}},
    )
    assert [t.auth_token for t in client.iter_auth_tokens("alice")] == [TOKEN["authToken"]]


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda c: c.get_user("has space"), "uid"),
        (lambda c: c.get_user(""), "uid"),
        (lambda c: c.get_user("x" * 101), "uid"),
        (lambda c: c.get_user("ümlaut"), "uid"),
        (lambda c: c.create_user("ok", ""), "name"),
        (lambda c: c.create_user("ok", "n" * 101), "name"),
        (lambda c: c.create_user("ok", "n", metadata=["not", "an", "object"]), "metadata"),
        (lambda c: c.create_user("ok", "n", tags=["t"] * 26), "tags"),
        (lambda c: c.create_user("ok", "n", avatar="javascript:alert(1)"), "avatar"),
        (lambda c: c.delete_auth_token("ok", ""), "authToken"),
        (lambda c: list(c.iter_users(per_page=5000)), "perPage"),
    ],
)
def test_bad_input_is_refused_before_any_request(rsps, client, call, problem) -> None:
    with pytest.raises(ValidationError) as info:
        call(client)
    assert problem in info.value.details
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (400, envelope("ERR_UID_ALREADY_EXISTS"), UidAlreadyExistsError, "ERR_UID_ALREADY_EXISTS"),
        (404, envelope("ERR_UID_NOT_FOUND"), UidNotFoundError, "ERR_UID_NOT_FOUND"),
        (404, envelope("ERR_AUTH_TOKEN_NOT_FOUND"), AuthTokenNotFoundError, "ERR_AUTH_TOKEN_NOT_FOUND"),
        (404, envelope("ERR_API_NOT_FOUND"), NotFoundError, "ERR_API_NOT_FOUND"),
        (401, envelope("AUTH_ERR_APIKEY_NOT_FOUND"), UpstreamAuthError, "AUTH_ERR_APIKEY_NOT_FOUND"),
        (403, envelope("AUTH_ERR_NO_ACCESS"), UpstreamAuthError, "AUTH_ERR_NO_ACCESS"),
        (400, envelope("ERR_BAD_REQUEST", details={"uid": ["bad"]}), ValidationError, "ERR_BAD_REQUEST"),
        (402, envelope("ERR_PLAN_QUOTA_RESTRICTION"), UpstreamRequestError, "ERR_PLAN_QUOTA_RESTRICTION"),
        (500, envelope("ERR_INTERNAL"), UpstreamBadResponseError, "ERR_INTERNAL"),
        (500, b"<html>oops</html>", UpstreamBadResponseError, "ERR_UPSTREAM_BAD_RESPONSE"),
        (500, b"", UpstreamBadResponseError, "ERR_UPSTREAM_BAD_RESPONSE"),
        (418, b"<html>teapot</html>", UpstreamBadResponseError, "ERR_UPSTREAM_BAD_RESPONSE"),
    ],
)
def test_every_error_class(rsps, client, status, body, cls, code) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    rsps.get(f"{BASE}/users/alice", status=status, **kwargs)
    with pytest.raises(cls) as info:
        client.get_user("alice")
    error = info.value
    assert isinstance(error, CometChatError)
    assert error.status == status and error.code == code
    assert len(rsps.calls) == 1  # never retried
    assert KEY not in str(error) and "internal detail" not in str(error)
    if code == "ERR_BAD_REQUEST":
        assert error.details == {"uid": ["bad"]}


def test_2xx_that_is_not_json_is_a_bad_response(rsps, client) -> None:
    rsps.get(f"{BASE}/users/alice", body=b"<html>hello</html>", status=200)
    with pytest.raises(UpstreamBadResponseError):
        client.get_user("alice")
    rsps.get(f"{BASE}/users/alice", json={"nodata": 1})
    with pytest.raises(UpstreamBadResponseError):
        client.get_user("alice")
    rsps.get(f"{BASE}/users/alice", json={"data": {"name": "no uid"}})
    with pytest.raises(UpstreamBadResponseError):
        client.get_user("alice")


@pytest.mark.parametrize("status", [502, 503, 504])
def test_5xx_is_retried_then_succeeds(rsps, client, sleep, status) -> None:
    rsps.get(f"{BASE}/users/alice", status=status, json=envelope("ERR_X"))
    rsps.get(f"{BASE}/users/alice", status=status, body=b"")
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    assert client.get_user("alice").uid == "alice"
    assert len(rsps.calls) == 3 and len(sleep.calls) == 2
    assert sleep.calls[0] <= sleep.calls[1] * 2  # backoff grows


def test_backoff_doubles_each_attempt_with_jitter_in_half_to_full(rsps, sleep, monkeypatch) -> None:
    client = CometChatClient("app123", "eu", KEY, sleep=sleep, backoff=0.1, max_retries=4)
    for _ in range(4):
        rsps.get(f"{BASE}/users/alice", status=503, json=envelope("ERR_DOWN"))
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    monkeypatch.setattr(policy, "_jitter", lambda: 1.0)
    client.get_user("alice")
    assert sleep.calls == pytest.approx([0.1, 0.2, 0.4, 0.8])
    monkeypatch.undo()
    for _ in range(4):
        rsps.get(f"{BASE}/users/alice", status=503, json=envelope("ERR_DOWN"))
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    sleep.calls.clear()
    client.get_user("alice")
    for attempt, delay in enumerate(sleep.calls):
        assert 0.1 * 2**attempt * 0.5 <= delay <= 0.1 * 2**attempt


def test_retries_are_bounded(rsps, client, sleep) -> None:
    for _ in range(3):
        rsps.get(f"{BASE}/users/alice", status=503, json=envelope("ERR_DOWN"))
    with pytest.raises(UpstreamUnavailableError):
        client.get_user("alice")
    assert len(rsps.calls) == 3 == client.options.max_retries + 1


def test_429_honours_retry_after(rsps, client, sleep) -> None:
    rsps.get(f"{BASE}/users/alice", status=429, json=envelope("ERR_TOO_MANY_REQUESTS"), headers={"Retry-After": "2"})
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    client.get_user("alice")
    assert sleep.calls == [2.0]


def test_retry_after_past_the_deadline_gives_up_at_once(rsps, client, sleep) -> None:
    rsps.get(f"{BASE}/users/alice", status=429, json=envelope("ERR_TOO_MANY_REQUESTS"), headers={"Retry-After": "60"})
    with pytest.raises(RateLimitedError) as info:
        client.get_user("alice")
    assert info.value.retry_after == 60 and sleep.calls == []


def test_connection_errors_are_retried(rsps, client, sleep) -> None:
    rsps.get(f"{BASE}/users/alice", body=requests.ConnectionError("reset by peer"))
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    assert client.get_user("alice").uid == "alice"
    assert len(sleep.calls) == 1


def test_read_timeout_is_not_retried(rsps, client, sleep) -> None:
    rsps.get(f"{BASE}/users/alice", body=requests.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeoutError):
        client.get_user("alice")
    assert sleep.calls == [] and len(rsps.calls) == 1


def test_connect_timeout_is_retried_then_unavailable(rsps, client) -> None:
    for _ in range(3):
        rsps.get(f"{BASE}/users/alice", body=requests.ConnectTimeout("no route"))
    with pytest.raises(UpstreamUnavailableError):
        client.get_user("alice")
    assert len(rsps.calls) == 3


def test_timeouts_shrink_to_the_remaining_deadline(rsps, sleep) -> None:
    client = CometChatClient("app123", "eu", KEY, total_deadline=1.0, read_timeout=5.0, sleep=sleep)
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    client.get_user("alice")
    connect, read = rsps.calls[0].request.req_kwargs["timeout"]
    assert read <= 1.0 and connect <= 1.0


def test_retried_create_that_meets_its_own_user_is_not_a_conflict(rsps, client) -> None:
    # First attempt: CometChat created the user, but the gateway answered 502.
    rsps.post(f"{BASE}/users", status=502, body=b"<html>bad gateway</html>")
    rsps.post(f"{BASE}/users", status=400, json=envelope("ERR_UID_ALREADY_EXISTS"))
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    rsps.post(f"{BASE}/users/alice/auth_tokens", json={"data": TOKEN})
    user = client.create_user("alice", "Alice", with_auth_token=True)
    assert user.uid == "alice" and user.auth_token == TOKEN["authToken"]


def test_retried_create_meeting_someone_elses_user_is_a_conflict(rsps, client) -> None:
    rsps.post(f"{BASE}/users", body=requests.ConnectionError("reset"))
    rsps.post(f"{BASE}/users", status=400, json=envelope("ERR_UID_ALREADY_EXISTS"))
    rsps.get(f"{BASE}/users/alice", json={"data": {**USER, "name": "Another Alice"}})
    with pytest.raises(UidAlreadyExistsError):
        client.create_user("alice", "Alice")


def test_plain_duplicate_is_a_conflict_in_one_call(rsps, client) -> None:
    rsps.post(f"{BASE}/users", status=400, json=envelope("ERR_UID_ALREADY_EXISTS"))
    with pytest.raises(UidAlreadyExistsError):
        client.create_user("alice", "Alice")
    assert len(rsps.calls) == 1


def test_mint_token_returning_user_is_one_call(rsps, client) -> None:
    rsps.post(f"{BASE}/users/alice/auth_tokens", json={"data": TOKEN})
    token, created = client.mint_token("alice")
    assert not created and token.auth_token == TOKEN["authToken"] and len(rsps.calls) == 1


def test_mint_token_new_user_is_two_calls(rsps, client) -> None:
    rsps.post(f"{BASE}/users/bob/auth_tokens", status=404, json=envelope("ERR_UID_NOT_FOUND"))
    rsps.post(
        f"{BASE}/users",
        json={"data": {"uid": "bob", "name": "Bob", "authToken": "bob_tok"}},
        match=[matchers.json_params_matcher({"uid": "bob", "name": "Bob", "withAuthToken": True})],
    )
    token, created = client.mint_token("bob", name="Bob")
    assert created and token.auth_token == "bob_tok" and len(rsps.calls) == 2


def test_mint_token_loses_a_create_race(rsps, client) -> None:
    rsps.post(f"{BASE}/users/bob/auth_tokens", status=404, json=envelope("ERR_UID_NOT_FOUND"))
    rsps.post(f"{BASE}/users", status=400, json=envelope("ERR_UID_ALREADY_EXISTS"))
    rsps.post(f"{BASE}/users/bob/auth_tokens", json={"data": {"uid": "bob", "authToken": "bob_t2"}})
    token, created = client.mint_token("bob")
    assert not created and token.auth_token == "bob_t2"


OTHER = {"uid": "someone-else", "name": "S", "authToken": "someone-else_tok", "createdAt": 1700000000}


def test_an_answer_about_another_uid_is_a_bad_response_on_a_returning_mint(rsps, client) -> None:
    rsps.post(f"{BASE}/users/victim/auth_tokens", json={"data": OTHER})
    with pytest.raises(UpstreamBadResponseError):
        client.mint_token("victim")


def test_an_answer_about_another_uid_is_a_bad_response_on_a_first_login(rsps, client) -> None:
    rsps.post(f"{BASE}/users/victim/auth_tokens", status=404, json=envelope("ERR_UID_NOT_FOUND"))
    rsps.post(f"{BASE}/users", json={"data": OTHER})
    with pytest.raises(UpstreamBadResponseError):
        client.mint_token("victim")


@pytest.mark.parametrize(
    ("method", "url", "call"),
    [
        ("GET", "/users/victim", lambda c: c.get_user("victim")),
        ("PUT", "/users/victim", lambda c: c.update_user("victim", name="V")),
        ("POST", "/users", lambda c: c.create_user("victim", "V", with_auth_token=True)),
        ("GET", "/users/victim/auth_tokens/tok123", lambda c: c.get_auth_token("victim", "tok123")),
    ],
)
def test_no_answer_about_another_uid_is_passed_on(rsps, client, method, url, call) -> None:
    rsps.add(method, f"{BASE}{url}", json={"data": OTHER})
    with pytest.raises(UpstreamBadResponseError):
        call(client)


def test_an_answer_in_another_case_of_the_same_uid_is_the_same_user(rsps, client) -> None:
    rsps.post(f"{BASE}/users/alice/auth_tokens", json={"data": {**TOKEN, "uid": "Alice"}})
    assert client.create_auth_token("ALICE").auth_token == TOKEN["authToken"]


@pytest.mark.parametrize("prefix", ["X-RateLimit", "X-Rate-Limit"])
def test_rate_limit_headers_both_spellings(rsps, client, prefix) -> None:
    rsps.get(
        f"{BASE}/users/alice", json={"data": USER}, headers={f"{prefix}-Limit": "10000", f"{prefix}-Remaining": "9876"}
    )
    client.get_user("alice")
    assert (client.rate_limit.limit, client.rate_limit.remaining) == (10000, 9876)




def test_secrets_stay_out_of_reprs_errors_and_logs(rsps, client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    assert KEY not in repr(client) and KEY not in repr(client.transport)
    sent_key = [matchers.header_matcher({"apikey": KEY})]  # the key really is in play
    rsps.get(f"{BASE}/users/alice", status=503, json=envelope("ERR_DOWN"), match=sent_key)
    rsps.get(f"{BASE}/users/alice", status=401, json=envelope("AUTH_ERR_APIKEY_NOT_FOUND"), match=sent_key)
    with pytest.raises(UpstreamAuthError) as info:
        client.get_user("alice")
    error = info.value
    assert len(rsps.calls) == 2 and "retry 1" in caplog.text  # a logged retry, then the 401
    for shown in (str(error), repr(error), json.dumps([str(a) for a in error.args]), caplog.text):
        assert KEY not in shown


def test_revoke_retried_after_an_uncertain_failure_is_done(rsps, client) -> None:
    rsps.delete(f"{BASE}/users/alice/auth_tokens/tok", body=requests.ConnectionError("reset by peer"))
    rsps.delete(f"{BASE}/users/alice/auth_tokens/tok", status=404, json=envelope("ERR_AUTH_TOKEN_NOT_FOUND"))
    # Our first attempt may have revoked it: the retry's 404 means done, not an error.
    assert client.delete_auth_token("alice", "tok") is None
    assert [(c.request.method, c.request.url) for c in rsps.calls] == [
        ("DELETE", f"{BASE}/users/alice/auth_tokens/tok"),
        ("DELETE", f"{BASE}/users/alice/auth_tokens/tok"),
    ]


def test_refused_connection_is_known_not_to_have_been_sent(rsps, client) -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    refused = requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "refused")))
    rsps.post(f"{BASE}/users", body=refused)
    rsps.post(f"{BASE}/users", status=400, json=envelope("ERR_UID_ALREADY_EXISTS"))
    with pytest.raises(UidAlreadyExistsError):  # nothing of ours was created: a real conflict
        client.create_user("alice", "Alice")
    assert len(rsps.calls) == 2


def test_retry_logs_never_show_the_token_in_a_path(rsps, client, caplog) -> None:
    secret = "alice_1700000000" + "f" * 30
    rsps.delete(f"{BASE}/users/alice/auth_tokens/{secret}", status=503, json=envelope("ERR_DOWN"))
    rsps.delete(f"{BASE}/users/alice/auth_tokens/{secret}", json={"data": {"success": True}})
    client.delete_auth_token("alice", secret)
    assert "retry 1" in caplog.text and secret not in caplog.text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        (" 2 ", 2.0),
        ("9" * 5000, MAX_RETRY_AFTER),
        # RFC 9110 delay-seconds is digits only: no exponent, fraction, sign, other scripts' digits
        ("1e3", None),
        ("1.5", None),
        ("+5", None),
        ("1_000", None),
        ("0x10", None),
        ("\u0663", None),
        ("0", 0.0),
        ("99999999", MAX_RETRY_AFTER),
        ("inf", None),
        ("-inf", None),
        ("nan", None),
        ("1e999", None),
        ("-5", None),
        ("soon", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: now
        ("Mon, 99 Foo 2015 99:99:99 GMT", None),
    ],
)
def test_retry_after_is_finite_and_bounded_or_none(header, expected) -> None:
    assert parse_retry_after(header) == expected


@given(st.text(max_size=60) | st.from_regex(r"[A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{1,6} [\d:]{1,9} [A-Z+-]{0,5}"))
def test_no_retry_after_crashes_or_escapes_the_bounds(header) -> None:
    seconds = parse_retry_after(header)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= MAX_RETRY_AFTER)


def test_retry_after_as_an_http_date() -> None:
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(soon) <= 31


@pytest.mark.parametrize("header", ["inf", "nan", "-1", "1e999", "99999999", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_any_retry_after_gives_finite_sleeps_and_a_finite_error(rsps, client, sleep, header) -> None:
    rsps.assert_all_requests_are_fired = False  # a long wait gives up at once
    for _ in range(3):
        rsps.get(
            f"{BASE}/users/alice", status=429, json=envelope("ERR_TOO_MANY_REQUESTS"), headers={"Retry-After": header}
        )
    with pytest.raises(RateLimitedError) as info:
        client.get_user("alice")
    assert all(math.isfinite(s) and 0 <= s < client.options.total_deadline for s in sleep.calls)
    assert math.isfinite(info.value.retry_after) and 1 <= info.value.retry_after <= MAX_RETRY_AFTER


def test_an_answer_past_the_size_cap_is_a_bad_response(rsps, sleep) -> None:
    client = CometChatClient("app123", "eu", KEY, sleep=sleep, max_response_bytes=1000)
    body = json.dumps({"data": USER}).encode()
    rsps.get(f"{BASE}/users/alice", body=body.ljust(1000))  # exactly the cap: fine
    assert client.get_user("alice").uid == "alice"
    rsps.get(f"{BASE}/users/alice", body=body.ljust(1001))
    with pytest.raises(UpstreamBadResponseError) as info:
        client.get_user("alice")
    assert "1000 bytes" in info.value.message and len(rsps.calls) == 2 and sleep.calls == []


def test_the_default_size_cap_is_one_megabyte(rsps, client) -> None:
    padding = " " * (DEFAULT_MAX_RESPONSE_BYTES + 1)
    rsps.get(f"{BASE}/users/alice", body=json.dumps({"data": USER}) + padding)
    with pytest.raises(UpstreamBadResponseError):
        client.get_user("alice")


def test_a_redirect_is_not_followed_so_the_key_stays_home(rsps, client) -> None:
    rsps.assert_all_requests_are_fired = False  # elsewhere must never be asked
    rsps.get(f"{BASE}/users/alice", status=302, headers={"Location": "https://elsewhere.example/steal"})
    rsps.get("https://elsewhere.example/steal", json={"data": USER})
    with pytest.raises(UpstreamBadResponseError) as info:
        client.get_user("alice")
    assert info.value.status == 302 and len(rsps.calls) == 1


def test_maybe_applied_tells_whether_cometchat_may_have_acted(rsps, client) -> None:
    rsps.post(f"{BASE}/users", status=400, json=envelope("ERR_BAD_REQUEST"))
    with pytest.raises(ValidationError) as info:
        client.create_user("alice", "Alice")
    assert info.value.maybe_applied is False  # refused, and no earlier attempt
    for _ in range(3):
        rsps.post(f"{BASE}/users", status=504, body=b"")
    with pytest.raises(UpstreamTimeoutError) as info:
        client.create_user("alice", "Alice")
    assert info.value.maybe_applied is True
    for _ in range(3):
        rsps.post(f"{BASE}/users", status=503, json=envelope("ERR_DOWN"))
    with pytest.raises(UpstreamUnavailableError) as info:
        client.create_user("alice", "Alice")
    assert info.value.maybe_applied is False  # a 503 is never acted on


def test_observers_hear_every_attempt_with_templated_endpoints(rsps, client) -> None:
    heard: list[UpstreamAttempt] = []
    client.transport.observers.append(heard.append)
    rsps.post(f"{BASE}/users/alice/auth_tokens", status=503, json=envelope("ERR_SERVICE_UNAVAILABLE"))
    rsps.post(f"{BASE}/users/alice/auth_tokens", json={"data": TOKEN})
    rsps.delete(
        f"{BASE}/users/alice/auth_tokens/{TOKEN['authToken']}", status=404, json=envelope("ERR_AUTH_TOKEN_NOT_FOUND")
    )
    rsps.get(f"{BASE}/users/alice", status=429, json=envelope("ERR_TOO_MANY_REQUESTS"), headers={"Retry-After": "60"})
    rsps.get(f"{BASE}/users/alice", body=requests.ConnectionError("reset by peer"))
    client.create_auth_token("alice")
    with pytest.raises(AuthTokenNotFoundError):
        client.delete_auth_token("alice", TOKEN["authToken"])
    with pytest.raises(RateLimitedError):
        client.get_user("alice")  # Retry-After 60 is past the deadline: no retry
    with pytest.raises(UpstreamUnavailableError):
        client.transport.options = replace(client.transport.options, max_retries=0)
        client.get_user("alice")
    seen = [(a.endpoint, a.outcome, a.status, a.code, a.attempt) for a in heard]
    assert seen == [
        ("POST /users/{uid}/auth_tokens", "server_error", 503, "ERR_SERVICE_UNAVAILABLE", 1),
        ("POST /users/{uid}/auth_tokens", "ok", 200, None, 2),
        ("DELETE /users/{uid}/auth_tokens/{authToken}", "client_error", 404, "ERR_AUTH_TOKEN_NOT_FOUND", 1),
        ("GET /users/{uid}", "rate_limited", 429, "ERR_TOO_MANY_REQUESTS", 1),
        ("GET /users/{uid}", "connection_error", None, None, 1),
    ]
    assert all(a.seconds >= 0 for a in heard)
    assert "alice" not in repr(heard) and TOKEN["authToken"] not in repr(heard)


def test_a_failing_observer_never_breaks_the_call(rsps, client, caplog) -> None:
    def broken(_attempt: UpstreamAttempt) -> None:
        raise RuntimeError("observer bug")

    heard: list[UpstreamAttempt] = []
    client.transport.observers.extend([broken, heard.append])
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    assert client.get_user("alice").uid == "alice"
    assert [a.outcome for a in heard] == ["ok"]
    assert "an upstream observer failed" in caplog.text


def test_a_timed_out_attempt_is_told_as_a_timeout(rsps, client) -> None:
    heard: list[UpstreamAttempt] = []
    client.transport.observers.append(heard.append)
    rsps.get(f"{BASE}/users/alice", body=requests.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeoutError):
        client.get_user("alice")
    assert [(a.outcome, a.status) for a in heard] == [("timeout", None)]


# ---- edges found by mutation testing (scripts/mutation.py) ------------------------------
# These kill the mutants of cometchat/client.py that survived the tests above: what each
# endpoint method sends, its defaults, and what it says.


def body_of(call) -> dict:
    import json

    return json.loads(call.request.body) if call.request.body else {}


def test_the_constructor_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="^api_key is required$"):
        CometChatClient(base_url="http://127.0.0.1:1/v3")  # the key's default is no key
    for app_id, region in (("app", None), (None, "eu")):
        with pytest.raises(ValueError, match="^app_id and region are required unless base_url is given$"):
            CometChatClient(app_id, region, KEY)
    with pytest.raises(ValueError, match="^region must be one of us, eu, in$"):
        CometChatClient("app", "mars", KEY)


def test_the_constructor_hands_every_tuning_argument_to_the_transport() -> None:
    made = []

    def factory() -> requests.adapters.HTTPAdapter:
        made.append(requests.adapters.HTTPAdapter())
        return made[-1]

    client = CometChatClient(
        base_url="http://127.0.0.1:1/v3", api_key=KEY, connect_timeout=1.5, read_timeout=2.5, adapter_factory=factory
    )
    assert (client.options.connect_timeout, client.options.read_timeout) == (1.5, 2.5)
    assert client.transport.session.get_adapter("http://127.0.0.1:1/") is made[0]


def test_every_method_is_told_to_observers_in_upper_case(rsps, client) -> None:
    heard: list[UpstreamAttempt] = []
    client.transport.observers.append(heard.append)
    rsps.post(f"{BASE}/users", json={"data": USER})
    rsps.put(f"{BASE}/users/alice", json={"data": USER})
    rsps.delete(f"{BASE}/users/alice", json={"data": {}})
    rsps.get(f"{BASE}/users/alice/auth_tokens/tok", json={"data": TOKEN})
    rsps.delete(f"{BASE}/users/alice/auth_tokens", json={"data": {}})
    rsps.get(f"{BASE}/users", json={"data": []})
    client.create_user("alice", "Alice")
    client.update_user("alice", name="Alice")
    client.delete_user("alice")
    client.get_auth_token("alice", "tok")
    client.flush_auth_tokens("alice")
    list(client.iter_users())
    assert [a.endpoint for a in heard] == [
        "POST /users",
        "PUT /users/{uid}",
        "DELETE /users/{uid}",
        "GET /users/{uid}/auth_tokens/{authToken}",
        "DELETE /users/{uid}/auth_tokens",
        "GET /users",
    ]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"data": "not an object"}, "CometChat answered with an unexpected data shape"),
        ({"data": {"uid": "alice", "name": "Alice"}}, "CometChat created the user but returned no authToken"),
    ],
)
def test_a_bad_shape_says_what_was_wrong(rsps, client, answer, message) -> None:
    rsps.post(f"{BASE}/users/alice/auth_tokens", status=404, json=envelope("ERR_UID_NOT_FOUND"))
    rsps.post(f"{BASE}/users", json=answer)
    with pytest.raises(UpstreamBadResponseError) as info:
        client.mint_token("alice")
    assert info.value.message == message


def test_a_list_call_without_a_list_says_so(rsps, client) -> None:
    rsps.get(f"{BASE}/users", json={"data": {}})
    with pytest.raises(UpstreamBadResponseError) as info:
        list(client.iter_users())
    assert info.value.message == "CometChat answered a list call without a list"


def test_a_page_without_pagination_is_the_last_page(rsps, client) -> None:
    rsps.get(f"{BASE}/users", json={"data": [USER]})  # no meta at all
    assert [u.uid for u in client.iter_users()] == ["alice"]
    assert len(rsps.calls) == 1


def test_list_calls_send_their_defaults_and_filters(rsps, client) -> None:
    rsps.get(f"{BASE}/users", json={"data": []}, match=[matchers.query_param_matcher({"perPage": "100", "page": "1"})])
    rsps.get(
        f"{BASE}/users",
        json={"data": []},
        match=[
            matchers.query_param_matcher({"perPage": "100", "page": "1", "searchKey": "ali", "status": "available"})
        ],
    )
    rsps.get(
        f"{BASE}/users/alice/auth_tokens",
        json={"data": []},
        match=[matchers.query_param_matcher({"perPage": "100", "page": "1"})],
    )
    assert list(client.iter_users()) == []
    assert list(client.iter_users(search_key="ali", status="available")) == []
    assert list(client.iter_auth_tokens("alice")) == []


def test_create_auth_token_without_force_sends_no_force(rsps, client) -> None:
    rsps.post(f"{BASE}/users/alice/auth_tokens", json={"data": TOKEN})
    client.create_auth_token("alice", force=False)
    assert body_of(rsps.calls[0]) == {}


def test_create_user_sends_every_profile_field_and_no_token_unless_asked(rsps, client) -> None:
    rsps.post(f"{BASE}/users", json={"data": USER})
    client.create_user("Alice", "Alice", link="https://a.example/p", role="Admin", status_message="hi")
    assert body_of(rsps.calls[0]) == {
        "uid": "alice",
        "name": "Alice",
        "link": "https://a.example/p",
        "role": "admin",
        "statusMessage": "hi",
    }


def test_update_user_sends_every_profile_field_and_needs_no_name(rsps, client) -> None:
    rsps.put(f"{BASE}/users/alice", json={"data": USER})
    client.update_user(
        "alice",
        avatar="https://a.example/a.png",
        link="https://a.example/p",
        role="mod",
        metadata={"plan": "pro"},
        tags=["t"],
        status_message="away",
    )
    assert body_of(rsps.calls[0]) == {
        "avatar": "https://a.example/a.png",
        "link": "https://a.example/p",
        "role": "mod",
        "metadata": {"plan": "pro"},
        "tags": ["t"],
        "statusMessage": "away",
    }


def test_a_retried_create_mints_a_forced_token(rsps, client) -> None:
    rsps.post(f"{BASE}/users", status=502, body=b"bad gateway")
    rsps.post(f"{BASE}/users", status=400, json={"error": {"code": "ERR_UID_ALREADY_EXISTS", "message": "m"}})
    rsps.get(f"{BASE}/users/alice", json={"data": USER})
    rsps.post(f"{BASE}/users/alice/auth_tokens", json={"data": TOKEN})
    client.create_user("alice", "Alice", with_auth_token=True)
    assert body_of(rsps.calls[-1]) == {"force": True}


def test_mint_token_forces_a_token_on_both_paths(rsps, client) -> None:
    rsps.post(f"{BASE}/users/alice/auth_tokens", json={"data": TOKEN})
    client.mint_token("alice")
    rsps.post(f"{BASE}/users/bob/auth_tokens", status=404, json=envelope("ERR_UID_NOT_FOUND"))
    rsps.post(f"{BASE}/users", status=400, json=envelope("ERR_UID_ALREADY_EXISTS"))
    rsps.post(f"{BASE}/users/bob/auth_tokens", json={"data": {"uid": "bob", "authToken": "bob_t"}})
    client.mint_token("bob")
    assert body_of(rsps.calls[0]) == {"force": True} and body_of(rsps.calls[-1]) == {"force": True}


def test_mint_token_creates_with_the_avatar_and_returns_the_new_users_token(rsps, client) -> None:
    avatar = "https://a.example/b.png"
    rsps.post(f"{BASE}/users/bob/auth_tokens", status=404, json=envelope("ERR_UID_NOT_FOUND"))
    rsps.post(f"{BASE}/users", json={"data": {"uid": "bob", "name": "bob", "authToken": "bob_t", "createdAt": 17}})
    token, created = client.mint_token("bob", avatar=avatar)
    assert body_of(rsps.calls[1])["avatar"] == avatar
    assert created and (token.uid, token.auth_token, token.created_at) == ("bob", "bob_t", 17)


def test_mint_token_validates_the_avatar_before_any_call(rsps, client) -> None:
    from cometchat import ValidationError

    with pytest.raises(ValidationError):
        client.mint_token("bob", avatar="javascript:alert(1)")
    assert len(rsps.calls) == 0


def test_deleting_an_unknown_user_is_an_error(rsps, client) -> None:
    rsps.delete(f"{BASE}/users/ghost", status=404, json=envelope("ERR_UID_NOT_FOUND"))
    with pytest.raises(UidNotFoundError):
        client.delete_user("ghost")


# ---- answers about another uid ------------------------------------------------------------


@pytest.mark.parametrize(("answered", "accepted"), [("alice", True), ("ALICE", True), ("mallory", False), (None, False)])
def test_an_answer_about_another_uid_never_reaches_the_caller(rsps, client, answered, accepted) -> None:
    rsps.get(f"{BASE}/users/alice", json={"data": {**USER, "uid": answered}})
    if accepted:
        assert client.get_user("alice").uid == answered
    else:
        with pytest.raises(UpstreamBadResponseError, match="another uid"):
            client.get_user("alice")


def test_an_import_answer_counts_only_the_uids_sent(rsps, client) -> None:
    created = {"success": True, "data": {"uid": "imp-1", "name": "I"}}
    rsps.post(f"{BASE}/data_import/users", json={"data": {"IMP-1": created, "stranger": created, "a b": created}})
    outcomes = client.import_users({"imp-1": {"name": "I"}})
    assert list(outcomes) == ["imp-1"] and outcomes["imp-1"].ok


def user(uid: str) -> dict:
    return {"uid": uid, "name": uid.title(), "role": "default", "status": "offline", "createdAt": 1700000000}


@responses.activate
def test_import_sends_one_users_map_and_reads_each_row(client) -> None:
    answer = {
        "data": {
            "ann": {"success": True, "data": user("ann")},
            "bob": {"success": False, "error": {"code": "ERR_UID_ALREADY_EXISTS", "message": "exists"}},
            "cyd": {"success": False, "error": {"code": "ERR_BAD_REQUEST", "message": "bad", "details": {"x": ["y"]}}},
            "intruder": {"success": True, "data": user("intruder")},
        }
    }
    responses.post(BASE + "/data_import/users", json=answer)
    outcomes = client.import_users(
        {"Ann": {"name": "Ann", "tags": ["a"]}, "bob": {"name": "Bob"}, "cyd": {"name": "Cyd"}, "dee": {"name": "D"}}
    )
    sent = json.loads(responses.calls[0].request.body)
    assert sent == {
        "users": {
            "ann": {"uid": "ann", "name": "Ann", "tags": ["a"]},
            "bob": {"uid": "bob", "name": "Bob"},
            "cyd": {"uid": "cyd", "name": "Cyd"},
            "dee": {"uid": "dee", "name": "D"},
        }
    }
    assert set(outcomes) == {"ann", "bob", "cyd"}  # dee's fate unknown; intruder never sent
    assert outcomes["ann"].ok and outcomes["ann"].user.uid == "ann"
    assert isinstance(outcomes["bob"].error, UidAlreadyExistsError)
    assert isinstance(outcomes["cyd"].error, ValidationError) and outcomes["cyd"].error.details == {"x": ["y"]}


@pytest.mark.parametrize(
    "users",
    [
        {},
        {f"u{n}": {"name": "N"} for n in range(MAX_IMPORT_USERS + 1)},
        {"Ann": {"name": "A"}, "ann": {"name": "B"}},  # the same uid once lowercased
        {"bad uid": {"name": "N"}},
        {"ann": {"name": ""}},
    ],
)
@responses.activate
def test_import_refuses_bad_batches_locally(client, users) -> None:
    with pytest.raises(ValidationError):
        client.import_users(users)
    assert not responses.calls


@responses.activate
def test_import_row_of_the_wrong_shape_is_a_bad_response(client) -> None:
    responses.post(BASE + "/data_import/users", json={"data": {"ann": "yes"}})
    with pytest.raises(UpstreamBadResponseError):
        client.import_users({"ann": {"name": "Ann"}})


@responses.activate
def test_reactivate_sends_uids_to_activate(client) -> None:
    responses.put(BASE + "/users", json={"data": {"nonDeactivatedUids": ["ann"]}})
    assert client.reactivate_users(["Ann", "bob"]) == ["ann"]
    assert json.loads(responses.calls[0].request.body) == {"uidsToActivate": ["ann", "bob"]}


@pytest.mark.parametrize("uids", [[], [f"u{n}" for n in range(MAX_REACTIVATE_UIDS + 1)], ["no spaces"]])
@responses.activate
def test_reactivate_refuses_bad_input_locally(client, uids) -> None:
    with pytest.raises(ValidationError):
        client.reactivate_users(uids)
    assert not responses.calls
