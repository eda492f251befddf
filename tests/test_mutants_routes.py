"""Tests that kill the mutants of token_server/routes.py which survived its route tests
(scripts/mutation.py): the caller is identified once per request, refusals name the field
and say why, and every answer carrying a token forbids caching for HTTP/1.0 caches too."""

from __future__ import annotations

import pytest
from flask import Flask

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from token_server import routes
from token_server.auth import Caller
from token_server.routes import URL_PREFIX


@pytest.fixture
def host():
    emulator = create_emulator_app(EmulatorState(api_keys=["k"]))
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", backoff=0.001, adapter_factory=lambda: WSGIAdapter(emulator)
    )
    identified: list[str] = []

    def identify(request) -> Caller:
        identified.append(request.path)
        return Caller.user(request.headers.get("X-User", "someone"))

    app = Flask("host")
    routes.init_app(app, client, identify)
    return app.test_client(), identified


def error_of(answer) -> tuple[int, dict]:
    return answer.status_code, answer.json["error"]


def test_the_caller_is_identified_once_per_request(host) -> None:
    http, identified = host
    answer = http.post(URL_PREFIX + "/users", json={"uid": "someone", "name": "S"})
    assert answer.status_code == 201
    assert identified == [URL_PREFIX + "/users"]


def test_refusals_name_the_field_and_say_why(host) -> None:
    http, _ = host
    status, error = error_of(http.post(URL_PREFIX + "/users", json={"uid": 5, "name": "S"}))
    assert status == 400 and error["message"] == "The uid must be a string."
    assert error["details"] == {"uid": ["The uid must be a string."]}
    status, error = error_of(http.post(URL_PREFIX + "/token/someone", json={"name": 5}))
    assert status == 400 and error["details"] == {"name": ["The name must be a string."]}
    status, error = error_of(http.post(URL_PREFIX + "/token/another"))
    assert (status, error["code"], error["message"]) == (403, "ERR_FORBIDDEN", "You may only act on your own uid.")


def test_answers_with_a_token_forbid_caching_for_old_caches_too(host) -> None:
    http, _ = host
    for answer in (
        http.post(URL_PREFIX + "/token/someone"),
        http.post(URL_PREFIX + "/users", json={"uid": "fresh", "name": "F"}, headers={"X-User": "fresh"}),
        http.get(URL_PREFIX + "/users/someone"),
    ):
        assert answer.status_code in (200, 201)
        assert (answer.headers["Cache-Control"], answer.headers["Pragma"]) == ("no-store", "no-cache")
