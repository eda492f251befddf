"""Reactivation and deprovisioning (``token_server.lifecycle``) against the in-process emulator:
old tokens come back unless they were flushed, a token minted during a deprovisioning is flushed."""

from __future__ import annotations

import pytest

from cometchat import CometChatClient, ValidationError
from cometchat.client import MAX_REACTIVATE_UIDS
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.endpoints import REACTIVATE_USERS
from cometchat.inprocess import WSGIAdapter
from token_server import lifecycle

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
