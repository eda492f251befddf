"""The dev-mode upstream trace: what the token server did at CometChat, told to the demo page,
and never by a production server."""

from __future__ import annotations

import json

from flask import Flask

from cometchat.policy import UpstreamAttempt
from tests.helpers import app_env, http_client, service
from token_server import create_app
from token_server.config import load_settings
from token_server.dev import devtrace

DEV = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}


def trace_of(response) -> list[dict]:
    return json.loads(response.headers[devtrace.HEADER])


def test_a_returning_user_costs_one_round_trip() -> None:
    answer = create_app(DEV).test_client().post("/api/cometchat/token/cometchat-uid-1")
    assert answer.status_code == 200
    [call] = trace_of(answer)
    assert call["call"] == "POST /users/{uid}/auth_tokens"
    assert (call["status"], call["outcome"], call["attempt"]) == (200, "ok", 1)
    assert call["ms"] >= 0


def test_a_new_user_is_created_with_its_token() -> None:
    answer = create_app(DEV).test_client().post("/api/cometchat/token/first-timer", json={"name": "First"})
    assert answer.status_code == 200
    missing, created = trace_of(answer)
    assert (missing["call"], missing["status"], missing["code"]) == (
        "POST /users/{uid}/auth_tokens",
        404,
        "ERR_UID_NOT_FOUND",
    )
    assert (created["call"], created["status"]) == ("POST /users", 200)


def test_the_trace_never_names_a_uid_or_token() -> None:
    http = create_app(DEV).test_client()
    token = http.post("/api/cometchat/token/cometchat-uid-2").json["authToken"]
    answer = http.post("/api/cometchat/token/cometchat-uid-2/revoke", json={"authToken": token})
    assert answer.status_code == 200
    header = answer.headers[devtrace.HEADER]
    assert "cometchat-uid-2" not in header and token not in header
    # The token's push registrations first (token_server/pushtokens.py), then the revoke.
    calls = [step["call"] for step in trace_of(answer)]
    assert calls == ["GET /notifications/push/v1/tokens", "DELETE /users/{uid}/auth_tokens/{authToken}"]


def test_a_request_without_upstream_calls_says_so() -> None:
    answer = create_app(DEV).test_client().get("/api/cometchat/users/not%20valid")
    assert answer.status_code == 400
    assert trace_of(answer) == []


def test_a_production_server_sends_no_trace() -> None:
    http = http_client()
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == 200
    assert devtrace.HEADER not in answer.headers


def test_the_trace_refuses_to_install_outside_dev_mode() -> None:
    app = create_app(app_env())
    client = app.extensions["token_server.client"]
    observers = list(client.transport.observers)
    devtrace.init_app(app, load_settings(app_env()), client)
    assert client.transport.observers == observers
    answer = app.test_client().post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert devtrace.HEADER not in answer.headers


def test_codes_that_are_not_codes_are_left_out() -> None:
    odd = UpstreamAttempt("GET /users/{uid}", "client_error", 400, "<script>\r\n", 0.001, 1)
    assert "code" not in devtrace.entry(odd)
    assert devtrace.entry(odd)["status"] == 400


def test_the_trace_is_bounded() -> None:
    app = Flask(__name__)
    settings = load_settings(DEV)
    from cometchat import CometChatClient

    client = CometChatClient(base_url="http://upstream.invalid/v3", api_key="k")
    devtrace.init_app(app, settings, client)
    attempt = UpstreamAttempt("GET /users/{uid}", "ok", 200, None, 0.001, 1)

    @app.get("/api/cometchat/many")
    def many() -> str:
        for _ in range(devtrace.MAX_ENTRIES * 2):
            client.transport.observers[-1](attempt)
        return "ok"

    assert len(trace_of(app.test_client().get("/api/cometchat/many"))) == devtrace.MAX_ENTRIES
