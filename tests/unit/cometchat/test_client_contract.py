"""One contract, two clients: every case runs against ``CometChatClient`` and
``AsyncCometChatClient`` (the ``kind`` parameter) on a scripted upstream (``responses`` or
``httpx.MockTransport``). The same contract over real sockets: tests/process/test_client.py."""

from __future__ import annotations

import inspect
import threading

import pytest

from cometchat import (
    AsyncCometChatClient,
    AuthTokenNotFoundError,
    CometChatClient,
    PushTokenNotFoundError,
    RateLimitedError,
    UidAlreadyExistsError,
    UidNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    ValidationError,
)
from cometchat.budget import MemoryBudgetStore, QuotaSpentError, UpstreamBudget
from cometchat.endpoints import DELETE_TOKEN
from cometchat.policy import UpstreamAttempt
from tests.clients import KINDS, Upstream

BASE = "https://app123.api-eu.cometchat.io/v3"
KEY = "rest-key-SECRET-contract"
USER = {"uid": "alice", "name": "Alice", "role": "default", "createdAt": 1700000000}
TOKEN = {"uid": "alice", "authToken": "alice_1700000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "createdAt": 1700000000}


def envelope(code: str, message: str = "msg") -> dict:
    return {"error": {"code": code, "message": message, "devMessage": "internal"}}


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def upstream():
    scripted = Upstream(BASE)
    yield scripted
    scripted.stop()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(kind, upstream, slept):
    driver = upstream.client(kind, api_key=KEY, sleep=slept.append)
    yield driver
    driver.close()


# ---- what is sent, what comes back -------------------------------------------------------


def test_a_user_is_read_with_the_key_and_typed(upstream, client) -> None:
    upstream.add("GET", "/users/alice", json={"data": USER})
    user = client.get_user("Alice")
    assert (user.uid, user.name, user.created_at, user.tags) == ("alice", "Alice", 1700000000, ())
    assert upstream.sent[0].headers["apikey"] == KEY and upstream.sent[0].method == "GET"


def test_a_first_login_creates_the_user_with_its_token_in_one_more_call(upstream, client) -> None:
    upstream.add("POST", "/users/alice/auth_tokens", status=404, json=envelope("ERR_UID_NOT_FOUND"))
    upstream.add("POST", "/users", json={"data": {**USER, "authToken": TOKEN["authToken"]}})
    token, created = client.mint_token("alice", name="Alice", avatar="https://a.example/a.png")
    assert created is True and token.auth_token == TOKEN["authToken"]
    assert upstream.sent[0].json == {"force": True}
    assert upstream.sent[1].json == {
        "name": "Alice",
        "avatar": "https://a.example/a.png",
        "uid": "alice",
        "withAuthToken": True,
    }


def test_a_returning_user_costs_one_call(upstream, client) -> None:
    upstream.add("POST", "/users/alice/auth_tokens", json={"data": TOKEN})
    token, created = client.mint_token("alice", name="Ignored")
    assert (token.auth_token, created) == (TOKEN["authToken"], False)
    assert len(upstream.sent) == 1


def test_a_path_segment_keeps_its_shape_on_the_wire(upstream, client) -> None:
    # Past validation on purpose: the encoding alone keeps ".." from climbing a level.
    upstream.add("DELETE", "/users/alice/auth_tokens/%2E%2E%2Fx", json={"data": {}})
    client.run(client.transport.request(DELETE_TOKEN, {"uid": "alice", "authToken": "../x"}))
    assert upstream.sent[0].path == "/v3/users/alice/auth_tokens/%2E%2E%2Fx"


def test_lists_walk_every_page(upstream, client) -> None:
    meta = {"pagination": {"total_pages": 2}}
    upstream.add("GET", "/users", json={"data": [USER], "meta": meta})
    upstream.add("GET", "/users", json={"data": [{**USER, "uid": "bob"}], "meta": meta})
    assert [u.uid for u in client.iter_users(per_page=1, status="available")] == ["alice", "bob"]
    assert [s.query for s in upstream.sent] == [
        {"perPage": "1", "status": "available", "page": "1"},
        {"perPage": "1", "status": "available", "page": "2"},
    ]


def test_an_import_reports_each_row(upstream, client) -> None:
    answer = {
        "alice": {"success": True, "data": USER},
        "bob": {"success": False, "error": envelope("ERR_UID_ALREADY_EXISTS")["error"]},
    }
    upstream.add("POST", "/data_import/users", json={"data": answer})
    outcomes = client.import_users({"alice": {"name": "Alice"}, "bob": {"name": "Bob"}})
    assert outcomes["alice"].ok and isinstance(outcomes["bob"].error, UidAlreadyExistsError)


# ---- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, envelope("ERR_UID_NOT_FOUND"), UidNotFoundError),
        (401, envelope("AUTH_ERR_APIKEY_NOT_FOUND"), UpstreamAuthError),
        (400, envelope("ERR_BAD_REQUEST"), ValidationError),
        (500, None, UpstreamBadResponseError),
    ],
)
def test_each_refusal_is_its_error_class_and_never_retried(upstream, client, status, body, error) -> None:
    upstream.add("GET", "/users/alice", status=status, json=body, body=None if body else b"<html>oops</html>")
    with pytest.raises(error) as info:
        client.get_user("alice")
    assert info.value.status == status and len(upstream.sent) == 1


def test_bad_input_is_refused_before_any_call(upstream, client) -> None:
    with pytest.raises(ValidationError):
        client.get_user("no spaces")
    with pytest.raises(ValidationError):
        client.import_users({f"u{n}": {"name": "N"} for n in range(51)})
    assert upstream.sent == []


def test_an_answer_about_another_uid_is_refused(upstream, client) -> None:
    upstream.add("POST", "/users/alice/auth_tokens", json={"data": {**TOKEN, "uid": "mallory"}})
    with pytest.raises(UpstreamBadResponseError, match="another uid"):
        client.create_auth_token("alice")


def test_a_body_past_the_cap_is_refused(kind, upstream, slept) -> None:
    client = upstream.client(kind, api_key=KEY, sleep=slept.append, max_response_bytes=100)
    upstream.add("GET", "/users/alice", json={"data": {**USER, "metadata": {"pad": "x" * 200}}})
    with pytest.raises(UpstreamBadResponseError, match="more than 100 bytes"):
        client.get_user("alice")
    client.close()


# ---- retries -----------------------------------------------------------------------------


def test_retry_after_is_honoured_then_the_call_succeeds(upstream, client, slept) -> None:
    upstream.add("GET", "/users/alice", status=503, json=envelope("ERR_DOWN"), headers={"Retry-After": "2"})
    upstream.add("GET", "/users/alice", json={"data": USER})
    assert client.get_user("alice").uid == "alice"
    assert slept == [2.0]


def test_a_429_whose_wait_ends_past_the_deadline_is_reported_with_it(upstream, client, slept) -> None:
    upstream.add(
        "GET", "/users/alice", status=429, json=envelope("ERR_TOO_MANY_REQUESTS"), headers={"Retry-After": "60"}
    )
    with pytest.raises(RateLimitedError) as info:
        client.get_user("alice")
    assert info.value.retry_after == 60 and slept == []


def test_a_read_timeout_is_a_504_at_once(upstream, client) -> None:
    upstream.add("GET", "/users/alice", fail="read_timeout")
    with pytest.raises(UpstreamTimeoutError) as info:
        client.get_user("alice")
    assert info.value.maybe_applied is True and len(upstream.sent) == 1


def test_connection_failures_are_retried_then_reported(upstream, client, slept) -> None:
    for _ in range(3):
        upstream.add("GET", "/users/alice", fail="connect_timeout")
    with pytest.raises(UpstreamUnavailableError) as info:
        client.get_user("alice")
    assert len(upstream.sent) == 3 and len(slept) == 2 and info.value.maybe_applied is False


def test_our_own_create_retried_after_a_broken_connection_is_not_a_conflict(upstream, client) -> None:
    upstream.add("POST", "/users", fail="broken")
    upstream.add("POST", "/users", status=400, json=envelope("ERR_UID_ALREADY_EXISTS"))
    upstream.add("GET", "/users/alice", json={"data": USER})
    upstream.add("POST", "/users/alice/auth_tokens", json={"data": TOKEN})
    user = client.create_user("alice", "Alice", with_auth_token=True)
    assert user.auth_token == TOKEN["authToken"]


def test_our_own_revoke_retried_after_a_broken_connection_is_done(upstream, client) -> None:
    upstream.add("DELETE", f"/users/alice/auth_tokens/{TOKEN['authToken']}", fail="broken")
    upstream.add(
        "DELETE",
        f"/users/alice/auth_tokens/{TOKEN['authToken']}",
        status=404,
        json=envelope("ERR_AUTH_TOKEN_NOT_FOUND"),
    )
    client.delete_auth_token("alice", TOKEN["authToken"])
    upstream.add(
        "DELETE",
        f"/users/alice/auth_tokens/{TOKEN['authToken']}",
        status=404,
        json=envelope("ERR_AUTH_TOKEN_NOT_FOUND"),
    )
    with pytest.raises(AuthTokenNotFoundError):
        client.delete_auth_token("alice", TOKEN["authToken"])


# ---- observers, rate limits, the budget ---------------------------------------------------


def test_observers_hear_each_attempt_as_a_template_with_the_quota_left(kind, upstream, slept) -> None:
    heard: list[UpstreamAttempt] = []
    client = upstream.client(kind, api_key=KEY, sleep=slept.append, observers=[heard.append])
    upstream.add("POST", "/users/alice/auth_tokens", status=502, json=envelope("ERR_BAD_GATEWAY"))
    upstream.add(
        "POST",
        "/users/alice/auth_tokens",
        json={"data": TOKEN},
        headers={"X-RateLimit-Remaining": "41", "X-RateLimit-Limit": "50"},
    )
    client.create_auth_token("alice")
    assert [(a.endpoint, a.outcome, a.status, a.attempt, a.rate_limit_remaining) for a in heard] == [
        ("POST /users/{uid}/auth_tokens", "server_error", 502, 1, None),
        ("POST /users/{uid}/auth_tokens", "ok", 200, 2, 41),
    ]
    assert (client.rate_limit.limit, client.rate_limit.remaining) == (50, 41)
    client.close()


class SpentStore(MemoryBudgetStore):
    """An in-memory store that says the quota is spent, remembering the thread that asked."""

    def __init__(self, spent: bool) -> None:
        super().__init__()
        self.spent = spent
        self.threads: list[int] = []

    def begin(self, key, window, now, window_end):
        self.threads.append(threading.get_ident())
        return 30.0 if self.spent else super().begin(key, window, now, window_end)


def test_a_spent_budget_refuses_before_any_call_and_a_valid_call_still_goes_through(kind, upstream, slept) -> None:
    spent = UpstreamBudget(SpentStore(True), BASE)
    refused = upstream.client(kind, api_key=KEY, sleep=slept.append, budget=spent)
    with pytest.raises(QuotaSpentError) as info:
        refused.create_auth_token("alice")
    assert info.value.retry_after == 30 and upstream.sent == []
    refused.close()
    allowed = upstream.client(kind, api_key=KEY, sleep=slept.append, budget=UpstreamBudget(SpentStore(False), BASE))
    upstream.add("POST", "/users/alice/auth_tokens", json={"data": TOKEN})
    assert allowed.create_auth_token("alice").auth_token == TOKEN["authToken"]
    allowed.close()


class SpentAfter(MemoryBudgetStore):
    """Lets ``allowed`` attempts through, then says the quota is spent."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed

    def begin(self, key, window, now, window_end):
        self.allowed -= 1
        return None if self.allowed >= 0 else 30.0


def test_a_call_the_budget_ends_after_an_attempt_that_may_have_landed_says_so(kind, upstream, slept) -> None:
    upstream.add("POST", "/users/alice/auth_tokens", status=502, json=envelope("ERR_BAD_GATEWAY"))
    client = upstream.client(kind, api_key=KEY, sleep=slept.append, budget=UpstreamBudget(SpentAfter(1), BASE))
    with pytest.raises(QuotaSpentError) as info:
        client.create_auth_token("alice")
    # The 502 may hide a token CometChat minted: the refusal that ends the call carries it.
    assert info.value.maybe_applied is True and len(upstream.sent) == 1 and len(slept) == 1
    client.close()


def test_the_budget_hears_a_429_and_refuses_the_next_call_until_its_wait_ends(kind, upstream, slept) -> None:
    upstream.add(
        "GET", "/users/alice", status=429, json=envelope("ERR_TOO_MANY_REQUESTS"), headers={"Retry-After": "30"}
    )
    client = upstream.client(kind, api_key=KEY, sleep=slept.append, budget=UpstreamBudget(MemoryBudgetStore(), BASE))
    with pytest.raises(RateLimitedError):
        client.get_user("alice")
    with pytest.raises(QuotaSpentError) as info:
        client.get_user("alice")
    assert len(upstream.sent) == 1 and 0 < info.value.retry_after <= 30
    client.close()


def test_the_async_client_keeps_a_blocking_budget_store_off_the_event_loop(upstream) -> None:
    class BlockingStore:
        def __init__(self) -> None:
            self.threads: list[int] = []

        def begin(self, key, slot, now, slot_ttl):
            self.threads.append(threading.get_ident())
            return None

        def end(self, key, settlement, now):
            self.threads.append(threading.get_ident())

    store = BlockingStore()
    client = upstream.client("async", api_key=KEY, budget=UpstreamBudget(store, BASE))
    upstream.add("POST", "/users/alice/auth_tokens", json={"data": TOKEN})
    client.create_auth_token("alice")
    loop_thread = threading.get_ident()  # run_until_complete runs the loop in this thread
    assert len(store.threads) == 2 and loop_thread not in store.threads
    client.close()


# ---- push tokens ------------------------------------------------------------------------

PUSH = {
    "authToken": TOKEN["authToken"],
    "pushToken": "fcm:APA91b/x.y",
    "platform": "fcm_android",
    "providerId": "fcm-provider-2",
    "uid": "alice",
    "createdAt": "2024-03-11T07:27:59.412Z",
    "updatedAt": "2024-03-13T11:24:47.776Z",
}


def test_push_tokens_are_listed_by_auth_token_and_typed(upstream, client) -> None:
    stranger = {**PUSH, "authToken": "bob_1700000000bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "pushToken": "other"}
    upstream.add("GET", "/notifications/push/v1/tokens", json={"data": {"pushTokens": [PUSH, stranger]}})
    tokens = client.list_push_tokens(TOKEN["authToken"])
    assert [(t.push_token, t.platform, t.provider_id, t.uid) for t in tokens] == [
        ("fcm:APA91b/x.y", "fcm_android", "fcm-provider-2", "alice")
    ]  # an answer about another auth token never reaches this caller
    assert tokens[0].created_at is not None and tokens[0].created_at.year == 2024
    assert upstream.sent[0].query == {"authToken": TOKEN["authToken"]} and "fcm:" not in repr(tokens[0])


def test_a_push_token_is_deleted_with_its_auth_token_in_the_body(upstream, client) -> None:
    upstream.add("DELETE", "/notifications/push/v1/tokens/fcm%3AAPA91b%2Fx%2Ey", json={"data": {"pushTokens": []}})
    client.delete_push_token("fcm:APA91b/x.y", TOKEN["authToken"])
    assert upstream.sent[0].json == {"authToken": TOKEN["authToken"]}


def test_an_unknown_push_token_is_its_own_error(upstream, client) -> None:
    upstream.add("DELETE", "/notifications/push/v1/tokens/gone", status=404, json=envelope("ERR_TOKEN_NOT_FOUND"))
    with pytest.raises(PushTokenNotFoundError):
        client.delete_push_token("gone", TOKEN["authToken"])


def test_a_push_token_is_registered_as_the_sdk_does(upstream, client) -> None:
    upstream.add("POST", "/notifications/push/v1/tokens", json={"data": {"pushTokens": [PUSH]}})
    client.register_push_token(TOKEN["authToken"], "fcm:APA91b/x.y", "fcm_android", provider_id="fcm-provider-2")
    assert upstream.sent[0].json == {k: PUSH[k] for k in ("authToken", "pushToken", "platform", "providerId")}


@pytest.mark.parametrize("push_token", ["", "has space", "x" * 4097, None])
def test_a_bad_push_token_costs_no_call(upstream, client, push_token) -> None:
    with pytest.raises(ValidationError):
        client.delete_push_token(push_token, TOKEN["authToken"])
    with pytest.raises(ValidationError):
        client.list_push_tokens("../x")
    assert upstream.sent == []


# ---- the two clients stay one -------------------------------------------------------------


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_both_clients_have_the_same_methods_with_the_same_signatures() -> None:
    sync, asynchronous = public_methods(CometChatClient), public_methods(AsyncCometChatClient)
    assert sync.pop("close") and asynchronous.pop("aclose")
    assert sync.keys() == asynchronous.keys()
    for name, signature in sync.items():
        other = asynchronous[name]
        assert list(signature.parameters.values()) == list(other.parameters.values()), name
        returns = str(signature.return_annotation).replace("Iterator[", "AsyncIterator[")
        assert returns == str(other.return_annotation), name
        is_coroutine = inspect.iscoroutinefunction(getattr(AsyncCometChatClient, name))
        is_async_gen = inspect.isasyncgenfunction(getattr(AsyncCometChatClient, name))
        assert is_coroutine or is_async_gen, name
    shared = ("app_id", "region", "api_key", "base_url", "options", "budget", "observers", "tuning")
    init_sync = inspect.signature(CometChatClient.__init__).parameters
    init_async = inspect.signature(AsyncCometChatClient.__init__).parameters
    assert [init_sync[name] for name in shared] == [init_async[name] for name in shared]
    for name in ("base_url", "options", "observers", "rate_limit"):
        assert isinstance(getattr(CometChatClient, name), property)
        assert isinstance(getattr(AsyncCometChatClient, name), property)


def test_the_budget_is_asked_for_the_bucket_of_the_endpoint_table(kind, upstream, slept) -> None:
    asked: list[tuple[str, str, str | None]] = []

    class Recording(UpstreamBudget):
        def spend(self, method, url_path, *, bucket=None):
            asked.append((method, url_path, bucket))
            return super().spend(method, url_path, bucket=bucket)

    client = upstream.client(kind, api_key=KEY, sleep=slept.append, budget=Recording(MemoryBudgetStore(), BASE))
    upstream.add("POST", "/users/alice/auth_tokens", json={"data": TOKEN})
    upstream.add("POST", "/data_import/users", json={"data": {}})
    client.create_auth_token("alice")
    client.import_users({"bob": {"name": "Bob"}})
    client.close()
    # The template, never a path with a uid in it; the bucket from the table, never parsed.
    assert asked == [("POST", "/users/{uid}/auth_tokens", "core"), ("POST", "/data_import/users", "import")]




def test_an_answer_that_cannot_be_decoded_is_a_bad_response(upstream, client) -> None:
    upstream.add("GET", "/users/alice", body=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    with pytest.raises(UpstreamBadResponseError) as info:
        client.get_user("alice")
    assert info.value.maybe_applied is True and len(upstream.sent) == 1


def test_a_call_cancelled_while_the_budget_store_answers_still_settles_its_attempt(upstream) -> None:
    """asyncio cancels (a timeout, a client gone): the store thread still counts the attempt in
    flight, so the transport settles it when the thread lands, never leaving the count short."""
    import asyncio

    entered, release, ended = threading.Event(), threading.Event(), threading.Event()

    class SlowStore:
        def begin(self, key, slot, now, slot_ttl):
            entered.set()
            release.wait(5)
            return None

        def end(self, key, settlement, now):
            ended.set()

    client = upstream.client("async", api_key=KEY, budget=UpstreamBudget(SlowStore(), BASE))

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(client.client.create_auth_token("alice"))
        await asyncio.to_thread(entered.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        await asyncio.to_thread(ended.wait, 5)

    client.run(cancel_midway())
    client.close()
    assert ended.is_set() and upstream.sent == []
