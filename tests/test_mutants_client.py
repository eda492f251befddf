"""Tests that kill the mutants of cometchat/client.py which survived tests/test_client.py
(scripts/mutation.py): what each endpoint method sends, its defaults, and what it says."""

from __future__ import annotations

import pytest
import requests
import responses
from responses import matchers
from responses.registries import OrderedRegistry

from cometchat import CometChatClient, UidNotFoundError, UpstreamBadResponseError, transport

BASE = "https://app123.api-eu.cometchat.io/v3"
KEY = "rest-key-for-mutants"
USER = {"uid": "alice", "name": "Alice", "createdAt": 1700000000}
TOKEN = {"uid": "alice", "authToken": "alice_1700000000aaaa", "createdAt": 1700000000}


def envelope(code: str) -> dict:
    return {"error": {"message": "msg", "code": code}}


@pytest.fixture
def client() -> CometChatClient:
    return CometChatClient("app123", "eu", KEY, sleep=lambda _s: None)


@pytest.fixture
def rsps():
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        yield mock


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
    assert (client.transport.connect_timeout, client.transport.read_timeout) == (1.5, 2.5)
    assert client.transport.session.get_adapter("http://127.0.0.1:1/") is made[0]


def test_every_method_is_told_to_observers_in_upper_case(rsps, client) -> None:
    heard: list[transport.UpstreamAttempt] = []
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
