"""The routes as a blueprint in someone else's Flask app, with that app's own idea of the caller."""

from __future__ import annotations

import pytest
from flask import Flask, session

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, Fault, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from token_server import routes
from token_server.auth import Caller
from token_server.errors import ApiError
from token_server.routes import URL_PREFIX


@pytest.fixture
def host():
    state = EmulatorState(api_keys=["k"])
    emulator = create_emulator_app(state)
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", backoff=0.001, adapter_factory=lambda: WSGIAdapter(emulator)
    )

    app = Flask("existing_backend")
    app.secret_key = "test-only"

    def identify(request) -> Caller:  # this app's own session login
        if "user" not in session:
            raise ApiError(401, "ERR_UNAUTHORIZED", "Sign in first.")
        return Caller.user(session["user"])

    @app.post("/login/<uid>")
    def login(uid):
        session["user"] = uid
        return "ok"

    routes.init_app(app, client, identify)
    return app, state


def test_existing_app_mints_for_its_signed_in_user(host) -> None:
    app, _ = host
    http = app.test_client()
    assert http.post(URL_PREFIX + "/token").status_code == 401
    http.post("/login/cometchat-uid-1")
    answer = http.post(URL_PREFIX + "/token")
    assert answer.status_code == 200 and answer.json["uid"] == "cometchat-uid-1"
    other = http.post(URL_PREFIX + "/token/cometchat-uid-2")
    assert other.status_code == 403 and other.json["error"]["code"] == "ERR_FORBIDDEN"


def test_blueprint_errors_are_json_without_app_wide_handlers(host) -> None:
    app, state = host
    http = app.test_client()
    http.post("/login/cometchat-uid-1")
    state.faults.extend([Fault("status", status=503)] * 3)
    answer = http.post(URL_PREFIX + "/token")
    assert answer.status_code == 503 and answer.json["error"]["code"] == "ERR_UPSTREAM_UNAVAILABLE"
    bad = http.post(URL_PREFIX + "/token/cometchat-uid-1", data="{oops", content_type="application/json")
    assert bad.status_code == 400 and bad.json["error"]["code"] == "ERR_BAD_REQUEST"
