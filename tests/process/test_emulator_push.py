"""The emulator's push token registrations (docs/cometchat-api.md, "Push tokens"), driven by
the client over real HTTP: one per auth token, 100 per user, a shared push token belongs to the
last auth token that registered it, and a revoked auth token leaves its registration behind."""

from __future__ import annotations

import pytest

from cometchat import AuthTokenNotFoundError, PushTokenNotFoundError
from cometchat.emulator import MAX_PUSH_TOKENS_PER_USER
from tests.process.test_emulator import raw

UID = "cometchat-uid-1"


def mint(client) -> str:
    return client.create_auth_token(UID).auth_token


def test_a_push_token_is_registered_listed_and_deleted(emulator_client) -> None:
    token = mint(emulator_client)
    emulator_client.register_push_token(token, "fcm:device/1", "fcm_web", provider_id="fcm-provider-1")
    [listed] = emulator_client.list_push_tokens(token)
    assert (listed.push_token, listed.auth_token, listed.uid, listed.platform, listed.provider_id) == (
        "fcm:device/1",
        token,
        UID,
        "fcm_web",
        "fcm-provider-1",
    )
    assert listed.created_at is not None and listed.created_at.tzinfo is not None
    emulator_client.delete_push_token("fcm:device/1", token)
    assert emulator_client.list_push_tokens(token) == []
    with pytest.raises(PushTokenNotFoundError):
        emulator_client.delete_push_token("fcm:device/1", token)


def test_one_push_token_per_auth_token_and_a_shared_one_follows_the_last_login(emulator_client) -> None:
    first, second = mint(emulator_client), mint(emulator_client)
    emulator_client.register_push_token(first, "push-a", "fcm_android")
    emulator_client.register_push_token(first, "push-b", "fcm_android")  # replaces push-a
    assert [t.push_token for t in emulator_client.list_push_tokens(first)] == ["push-b"]
    emulator_client.register_push_token(second, "push-b", "fcm_android")  # the same device signs in again
    assert emulator_client.list_push_tokens(first) == []
    assert [t.push_token for t in emulator_client.list_push_tokens(second)] == ["push-b"]
    with pytest.raises(PushTokenNotFoundError):  # the registration is not the first token's any more
        emulator_client.delete_push_token("push-b", first)


def test_a_user_keeps_at_most_100_registrations_and_a_new_device_still_registers(emulator, emulator_client) -> None:
    tokens = [mint(emulator_client) for _ in range(MAX_PUSH_TOKENS_PER_USER)]
    for n, token in enumerate(tokens):
        emulator_client.register_push_token(token, f"push-{n}", "apns_ios_device")
    newest = mint(emulator_client)  # the 101st auth token archives the first; its registration stays
    emulator_client.register_push_token(newest, "push-new", "apns_ios_device")
    assert emulator_client.list_push_tokens(tokens[0]) == []  # the user's oldest registration made room
    assert [t.push_token for t in emulator_client.list_push_tokens(newest)] == ["push-new"]
    assert raw(emulator, "GET", "/_emulator/stats").json()["push_tokens"] == MAX_PUSH_TOKENS_PER_USER


def test_revoking_an_auth_token_leaves_its_push_registration(emulator_client) -> None:
    token = mint(emulator_client)
    emulator_client.register_push_token(token, "push-left-behind", "fcm_android")
    emulator_client.delete_auth_token(UID, token)
    assert [t.push_token for t in emulator_client.list_push_tokens(token)] == ["push-left-behind"]
    emulator_client.delete_push_token("push-left-behind", token)  # the server's job, before revoking
    assert emulator_client.list_push_tokens(token) == []


def test_only_a_valid_auth_token_registers(emulator, emulator_client) -> None:
    with pytest.raises(AuthTokenNotFoundError):
        emulator_client.register_push_token("cometchat-uid-1_0000000000nope", "push-x", "fcm_android")
    bad = raw(emulator, "POST", "/v3/notifications/push/v1/tokens", json={"authToken": mint(emulator_client)})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "ERR_BAD_REQUEST"
    no_auth = raw(emulator, "DELETE", "/v3/notifications/push/v1/tokens/push-x", json={})
    assert no_auth.status_code == 400
