"""The routes as a blueprint in someone else's Flask app, with that app's own idea of the caller."""

from __future__ import annotations

import pytest
from flask import Flask, session

from cometchat import CometChatClient, UidNotFoundError
from cometchat.emulator import EmulatorState, Fault, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from token_server import limits, routes
from token_server.auth import Caller
from token_server.config import Settings
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


class RecordingClient:
    """A client double: records every call it gets and answers "no such user"."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, method: str):
        def record(*args, **kwargs):
            self.calls.append((method, args))
            raise UidNotFoundError("no such user", status=404, code="ERR_UID_NOT_FOUND")

        return record


@pytest.fixture
def recorded():
    client = RecordingClient()
    app = Flask("existing_backend")
    routes.init_app(app, client, lambda request: Caller.dev())  # type: ignore[arg-type]
    return app.test_client(), client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/token/bad%21uid", None),
        ("POST", "/token/" + "x" * 101, None),
        ("POST", "/token/%C3%BCml", None),
        ("GET", "/users/has%20space", None),
        ("POST", "/token/a.b/revoke", {"all": True}),
        ("POST", "/users", {"uid": "bad uid", "name": "X"}),
        ("POST", "/users", {"uid": "..", "name": "X"}),
    ],
)
def test_the_routes_own_uid_check_answers_before_any_client_call(recorded, method, path, body) -> None:
    http, client = recorded
    answer = http.open(URL_PREFIX + path, method=method, json=body)
    assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert client.calls == []


def test_the_views_reach_the_client_through_the_app(recorded) -> None:
    http, client = recorded
    answer = http.get(URL_PREFIX + "/users/Good-Uid")
    assert answer.status_code == 404
    assert client.calls == [("get_user", ("good-uid",))]


def test_a_host_app_can_rate_limit_the_routes_as_the_server_does(host) -> None:
    app, _ = host
    limits.init_app(app, Settings(rate_limit_per_user="1 per minute"))
    http = app.test_client()
    http.post("/login/cometchat-uid-1")
    assert http.post(URL_PREFIX + "/token").status_code == 200
    limited = http.get(URL_PREFIX + "/users/cometchat-uid-1")
    assert limited.status_code == 429 and limited.json["error"]["code"] == "ERR_TOO_MANY_REQUESTS"
    assert int(limited.headers["Retry-After"]) >= 1


@pytest.fixture
def profiled_host():
    """A backend whose ``identify`` vouches for each user's profile (or, for bob, for none)."""
    state = EmulatorState(api_keys=["k"])
    emulator = create_emulator_app(state)
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", backoff=0.001, adapter_factory=lambda: WSGIAdapter(emulator)
    )
    profiles = {
        "alice": {"name": "Alice Backend", "avatar": "https://cdn.example/alice.png"},
        "bob": {},
        "carol": {"name": "x" * 500, "avatar": "javascript:alert(1)"},  # nothing CometChat accepts
    }
    app = Flask("profiled_backend")

    def identify(request) -> Caller:
        uid = request.headers["X-Test-User"]
        return Caller.user(uid, **profiles[uid])

    routes.init_app(app, client, identify)
    return app.test_client(), client


def test_the_backend_profile_names_a_new_user_and_the_body_is_ignored(profiled_host) -> None:
    http, client = profiled_host
    body = {"name": "I Chose This", "avatar": "https://evil.example/me.png"}
    answer = http.post(URL_PREFIX + "/token", json=body, headers={"X-Test-User": "alice"})
    assert answer.status_code == 200
    user = client.get_user("alice")
    assert (user.name, user.avatar) == ("Alice Backend", "https://cdn.example/alice.png")


def test_without_a_backend_profile_the_body_still_names_a_new_user(profiled_host) -> None:
    http, client = profiled_host
    answer = http.post(URL_PREFIX + "/token", json={"name": "Bob Body"}, headers={"X-Test-User": "bob"})
    assert answer.status_code == 200 and client.get_user("bob").name == "Bob Body"


def test_a_profile_cometchat_would_refuse_never_refuses_the_login(profiled_host, caplog) -> None:
    http, client = profiled_host
    answer = http.post(URL_PREFIX + "/token", json={"name": "Carol"}, headers={"X-Test-User": "carol"})
    assert answer.status_code == 200 and client.get_user("carol").name == "Carol"
    assert "left out" in caplog.text and "x" * 500 not in caplog.text
