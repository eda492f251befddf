"""Cross-site requests are refused by the routes (403), whatever identifies the caller: the
host app below signs users in with a session cookie, as the README's flask-login example."""

from __future__ import annotations

import pytest
from flask import Flask, session

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from tests.helpers import app_env, service
from token_server import create_app, routes
from token_server.auth import Caller
from token_server.errors import ApiError
from token_server.routes import URL_PREFIX
from token_server.sameorigin import is_cross_site

OWN = "http://localhost"  # the test client's requests go to http://localhost/
FRONT_END = "https://app.example"


@pytest.fixture
def host():
    state = EmulatorState(api_keys=["k"])
    emulator = create_emulator_app(state)
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", adapter_factory=lambda: WSGIAdapter(emulator)
    )
    app = Flask("cookie_backend")
    app.secret_key = "test-only"

    def identify(request) -> Caller:
        if "user" not in session:
            raise ApiError(401, "ERR_UNAUTHORIZED", "Sign in first.")
        return Caller.user(session["user"])

    @app.post("/login/<uid>")
    def login(uid):
        session["user"] = uid
        return "ok"

    routes.init_app(app, client, identify, allowed_origins=[FRONT_END])
    http = app.test_client()
    http.post("/login/cometchat-uid-1")
    return http, state


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:8080"},  # another port is another origin
        {"Origin": "https://localhost"},  # another scheme too
        {"Sec-Fetch-Site": "cross-site"},  # a cross-site GET or form post may send no Origin
        {"Origin": OWN, "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_signed_in_users_cookie_does_not_mint_for_another_site(host, headers) -> None:
    http, state = host
    before = state.requests
    answer = http.post(URL_PREFIX + "/token", headers=headers)
    assert answer.status_code == 403 and answer.json["error"]["code"] == "ERR_CROSS_SITE"
    assert state.requests == before  # no upstream call, no token slot spent


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a backend or curl: no Origin
        {"Origin": OWN},  # the app's own page
        {"Origin": OWN, "Sec-Fetch-Site": "same-origin"},
        {"Origin": FRONT_END, "Sec-Fetch-Site": "cross-site"},  # listed: the app's own front end
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
    ],
)
def test_same_origin_listed_and_server_to_server_calls_still_work(host, headers) -> None:
    http, _ = host
    answer = http.post(URL_PREFIX + "/token", headers=headers)
    assert answer.status_code == 200 and answer.json["uid"] == "cometchat-uid-1"


def test_the_own_origin_follows_the_host_the_request_came_to(host) -> None:
    http, _ = host
    site = "https://chat.example"
    http.post("/login/cometchat-uid-1", base_url=site)
    assert http.post(URL_PREFIX + "/token", headers={"Origin": site}, base_url=site).status_code == 200
    assert http.post(URL_PREFIX + "/token", headers={"Origin": OWN}, base_url=site).status_code == 403


def test_the_server_refuses_cross_site_requests_before_identifying_anyone() -> None:
    app = create_app(app_env(CORS_ORIGINS=FRONT_END))
    http = app.test_client()
    evil = http.post(URL_PREFIX + "/token/cometchat-uid-1", headers={**service(), "Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json["error"]["code"] == "ERR_CROSS_SITE"
    listed = http.post(URL_PREFIX + "/token/cometchat-uid-1", headers={**service(), "Origin": FRONT_END})
    assert listed.status_code == 200 and listed.headers["Access-Control-Allow-Origin"] == FRONT_END
    preflight = http.options(
        URL_PREFIX + "/token/cometchat-uid-1",
        headers={"Origin": FRONT_END, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == FRONT_END
    # The side routes are not the blueprint's: a page of any site may read /healthz.
    assert http.get("/healthz", headers={"Origin": "https://evil.example"}).status_code == 200


def test_the_rule_alone() -> None:
    allowed = frozenset({FRONT_END})
    assert is_cross_site("https://evil.example", None, OWN, allowed)
    assert is_cross_site(None, "Cross-Site", OWN, allowed)
    assert not is_cross_site(FRONT_END, "cross-site", OWN, allowed)
    assert not is_cross_site(OWN, "same-origin", OWN, allowed)
    assert not is_cross_site(None, None, OWN, allowed)
