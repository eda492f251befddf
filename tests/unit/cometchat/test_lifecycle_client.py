"""The client's data-import and reactivation calls (`responses`), the emulator's reactivation,
and the deprovisioning order of ``token_server.lifecycle`` against the emulator."""

from __future__ import annotations

import json

import pytest
import responses

from cometchat import CometChatClient, UidAlreadyExistsError, UpstreamBadResponseError, ValidationError
from cometchat.client import MAX_IMPORT_USERS, MAX_REACTIVATE_UIDS
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.endpoints import REACTIVATE_USERS
from cometchat.inprocess import WSGIAdapter
from token_server import lifecycle

BASE = "https://app123.api-eu.cometchat.io/v3"
KEY = "rest-key-SECRET-123"


@pytest.fixture
def client() -> CometChatClient:
    return CometChatClient(base_url=BASE, api_key=KEY, sleep=lambda s: None)


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


# ---- against the in-process emulator ------------------------------------------------------


@pytest.fixture
def emulated() -> tuple[CometChatClient, EmulatorState]:
    state = EmulatorState(api_keys=["k"])
    app = create_emulator_app(state)
    return CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", adapter_factory=lambda: WSGIAdapter(app)
    ), state


def test_reactivation_brings_old_tokens_back_unless_they_were_flushed(emulated) -> None:
    client, state = emulated
    kept = client.create_auth_token("cometchat-uid-1").auth_token
    client.delete_user("cometchat-uid-1")  # deactivated WITHOUT a flush
    assert client.reactivate_users(["cometchat-uid-1", "cometchat-uid-2", "nobody"]) == ["cometchat-uid-1"]
    assert state.login(kept)["uid"] == "cometchat-uid-1"  # the documented hazard

    lost = client.create_auth_token("cometchat-uid-2").auth_token
    assert lifecycle.deprovision(client, "cometchat-uid-2") == "deactivated"
    assert lifecycle.reactivate(client, ["cometchat-uid-2"]) == ["cometchat-uid-2"]
    assert client.get_user("cometchat-uid-2").uid == "cometchat-uid-2"
    with pytest.raises(Exception, match="AUTH_TOKEN_NOT_FOUND|auth token"):
        state.login(lost)


def test_reactivate_flushes_a_token_minted_during_a_deprovisioning(emulated) -> None:
    client, state = emulated
    client.flush_auth_tokens("cometchat-uid-3")
    racing = client.create_auth_token("cometchat-uid-3").auth_token  # between flush and deactivate
    client.delete_user("cometchat-uid-3")
    lifecycle.reactivate(client, ["cometchat-uid-3"])
    assert not state.users["cometchat-uid-3"].tokens
    with pytest.raises(Exception, match="AUTH_TOKEN_NOT_FOUND|auth token"):
        state.login(racing)
    kept = client.create_auth_token("cometchat-uid-4").auth_token
    client.delete_user("cometchat-uid-4")
    lifecycle.reactivate(client, ["cometchat-uid-4"], keep_tokens=True)
    assert state.login(kept)["uid"] == "cometchat-uid-4"


def test_emulator_refuses_a_bad_reactivation(emulated) -> None:
    client, state = emulated
    for body in ({}, {"uidsToActivate": "x"}, {"uidsToActivate": [f"u{n}" for n in range(MAX_REACTIVATE_UIDS + 1)]}):
        with pytest.raises(ValidationError):
            client.transport.request(REACTIVATE_USERS, body=body)
