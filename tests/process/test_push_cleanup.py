"""Push registrations go with their auth token: every revoke the server makes deletes the
token's push tokens first (at the emulator, which keeps them as CometChat does), and a failure
there never blocks the revoke."""

from __future__ import annotations

import pytest

from cometchat import CometChatClient, UpstreamUnavailableError
from tests.helpers import app_env, service
from token_server import create_app
from token_server.ops.metrics import REGISTRY
from token_server.routes import CLIENT

UID = "cometchat-uid-1"


@pytest.fixture
def server():
    app = create_app(app_env(), announce=False)
    return app, app.test_client(), app.extensions[CLIENT], app.extensions["token_server.emulator"]


def login(http, device: str | None = None, **body) -> str:
    payload = {"deviceId": device, **body} if device else body
    answer = http.post(f"/api/cometchat/token/{UID}", json=payload or None, headers=service())
    assert answer.status_code == 200, answer.json
    return answer.json["authToken"]


def registered(emulator, uid: str = UID) -> int:
    return emulator.push.count(uid)


def test_a_revoked_devices_push_token_is_gone(server) -> None:
    _, http, client, emulator = server
    client.register_push_token(login(http, "phone"), "fcm-phone", "fcm")
    client.register_push_token(login(http, "laptop"), "fcm-laptop", "fcm")
    assert registered(emulator) == 2
    assert http.delete(f"/api/cometchat/users/{UID}/sessions/phone", headers=service()).status_code == 200
    assert [item["pushToken"] for item in emulator.push.listed(None)] == ["fcm-laptop"]


def test_a_fresh_login_drops_the_replaced_tokens_push_token(server) -> None:
    _, http, client, emulator = server
    old = login(http, "phone")
    client.register_push_token(old, "fcm-phone", "fcm")
    new = login(http, "phone", fresh=True)
    assert new != old and registered(emulator) == 0


def test_revoking_one_token_drops_its_push_token(server) -> None:
    _, http, client, emulator = server
    token = login(http)
    client.register_push_token(token, "apns-1", "apns")
    answer = http.post(f"/api/cometchat/token/{UID}/revoke", json={"authToken": token}, headers=service())
    assert answer.status_code == 200 and registered(emulator) == 0


@pytest.mark.parametrize("how", ["revoke-all", "delete-user"])
def test_signing_out_everywhere_drops_every_push_token(server, how) -> None:
    _, http, client, emulator = server
    for n in range(3):
        client.register_push_token(login(http, f"device-{n}"), f"fcm-{n}", "fcm")
    login(http)  # a token without a push registration
    if how == "revoke-all":
        answer = http.post(f"/api/cometchat/token/{UID}/revoke", json={"all": True}, headers=service())
    else:
        answer = http.delete(f"/api/cometchat/users/{UID}", headers=service())
    assert answer.status_code == 200 and registered(emulator) == 0


def test_the_push_token_goes_before_the_auth_token(server, monkeypatch) -> None:
    _, http, client, _ = server
    token = login(http)
    client.register_push_token(token, "fcm-1", "fcm")
    calls: list[str] = []
    for name in ("delete_push_token", "delete_auth_token"):
        real = getattr(CometChatClient, name)
        monkeypatch.setattr(CometChatClient, name, lambda self, *a, _r=real, _n=name: calls.append(_n) or _r(self, *a))
    http.post(f"/api/cometchat/token/{UID}/revoke", json={"authToken": token}, headers=service())
    assert calls == ["delete_push_token", "delete_auth_token"]


def test_a_failed_cleanup_is_counted_and_never_blocks_the_revoke(server, monkeypatch) -> None:
    _, http, client, emulator = server
    token = login(http, "phone")
    client.register_push_token(token, "fcm-phone", "fcm")

    def down(self, auth_token):
        raise UpstreamUnavailableError("push service down")

    monkeypatch.setattr(CometChatClient, "list_push_tokens", down)
    before = REGISTRY.get_sample_value("token_server_push_token_cleanups_total", {"outcome": "failed"}) or 0
    answer = http.delete(f"/api/cometchat/users/{UID}/sessions/phone", headers=service())
    assert answer.status_code == 200 and answer.json["revoked"] is True
    assert token not in {t.auth_token for t in client.iter_auth_tokens(UID)}  # revoked all the same
    assert REGISTRY.get_sample_value("token_server_push_token_cleanups_total", {"outcome": "failed"}) == before + 1
