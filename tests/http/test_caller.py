"""The request pipeline of the routes: the caller is identified once per request, in a step of
its own before the limits, which only read it; a refused caller never disturbs the limits."""

from __future__ import annotations

import pytest
from flask import Flask

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from tests.helpers import app_env, as_user, bearer, service
from token_server import caller, create_app, limits, pipeline, routes
from token_server.auth import Caller, unauthorized
from token_server.config import Settings

UID = "cometchat-uid-1"
MINT = f"/api/cometchat/token/{UID}"
JUNK = bearer("junk-junk-junk-junk")


def test_create_app_lists_the_steps_in_order() -> None:
    app = create_app(app_env())
    steps = app.before_request_funcs[pipeline.BLUEPRINT]
    names = [f"{step.__module__}.{step.__name__}" for step in steps]
    assert names == [
        "token_server.sameorigin.refuse_cross_site",
        "token_server.caller.identify",
        "token_server.limits.check_limits",
    ]


def test_the_caller_is_identified_once_per_request_and_the_limits_only_read_it(monkeypatch) -> None:
    app = create_app(app_env())
    identify = app.extensions[caller.IDENTIFY_CALLER]
    calls: list[str] = []
    app.extensions[caller.IDENTIFY_CALLER] = lambda request: calls.append(request.path) or identify(request)
    http = app.test_client()
    assert http.post(MINT, headers=as_user(UID)).status_code == 200  # authorize() asks the caller again
    new_user = {"uid": "cometchat-uid-new", "name": "A"}
    assert http.post("/api/cometchat/users", json=new_user, headers=as_user("cometchat-uid-new")).status_code == 201
    assert http.post(MINT, headers=JUNK).status_code == 401
    assert calls == [MINT, "/api/cometchat/users", MINT]  # once each, 401 included


def test_limits_need_the_caller_step_before_them() -> None:
    with pytest.raises(RuntimeError, match="caller step"):
        limits.init_app(Flask("host"), Settings())


def host_app(storage_uri: str, per_user: str) -> Flask:
    """A host app whose identify raises 401 for strangers, limited per user."""
    state = EmulatorState(api_keys=["k"])
    emulator = create_emulator_app(state)
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", adapter_factory=lambda: WSGIAdapter(emulator)
    )
    app = Flask("host")

    def identify(request) -> Caller:
        if request.headers.get("X-User"):
            return Caller.user(request.headers["X-User"])
        raise unauthorized("Sign in first.")

    routes.init_app(app, client, identify)
    limits.init_app(
        app,
        Settings(
            ratelimit_storage_uri=storage_uri, rate_limit_per_user=per_user, rate_limit_auth_failures="1000/minute"
        ),
    )
    return app


def mix_strangers_in(app: Flask, rounds: int) -> list[int]:
    http = app.test_client()
    answers = []
    for _ in range(rounds):
        assert http.post(MINT).status_code == 401
        answers.append(http.post(MINT, headers={"X-User": UID}).status_code)
        assert http.post(MINT).status_code == 401
    return answers




def test_401s_mixed_in_do_not_unshare_the_per_user_limit_in_memory() -> None:
    assert mix_strangers_in(host_app("memory://", "5 per minute"), 8) == [200] * 5 + [429] * 3


def test_a_preflight_is_never_identified() -> None:
    app = create_app(app_env(CORS_ORIGINS="https://app.example"))
    app.extensions[caller.IDENTIFY_CALLER] = lambda request: pytest.fail("identified a preflight")
    answer = app.test_client().options(
        MINT, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_a_service_key_is_a_service_caller_for_the_limits(monkeypatch) -> None:
    app = create_app(app_env(RATE_LIMIT_PER_ADDRESS="1 per minute"))
    http = app.test_client()
    assert [http.post(MINT, headers=service()).status_code for _ in range(3)] == [200] * 3
