"""Dev mode's test JWTs: the end-user route tried locally, and never a way in elsewhere."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.helpers import app_env, bearer, service
from token_server import create_app
from token_server.auth import Authenticator
from token_server.config import load_settings
from token_server.dev.devjwt import DEV_JWT_ISSUER, DEV_JWT_LIFETIME, DEV_JWT_PATH, DevJwtIssuer

DEV_ENV = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}


@pytest.fixture
def dev_http():
    return create_app(DEV_ENV).test_client()


def dev_jwt(client, uid: str) -> str:
    answer = client.post(DEV_JWT_PATH, json={"uid": uid})
    assert answer.status_code == 200, answer.json
    return answer.json["jwt"]


def test_a_test_jwt_mints_for_its_own_uid_only(dev_http) -> None:
    answer = dev_http.post(DEV_JWT_PATH, json={"uid": "Alice"})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json["uid"] == "alice" and answer.json["expiresIn"] == DEV_JWT_LIFETIME
    token = answer.json["jwt"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["iss"] == DEV_JWT_ISSUER
    assert claims["exp"] - claims["iat"] == DEV_JWT_LIFETIME

    mint = dev_http.post("/api/cometchat/token", headers=bearer(token))
    assert mint.status_code == 200 and mint.json["uid"] == "alice" and mint.json["authToken"].startswith("alice_")
    other = dev_http.post("/api/cometchat/token/bob", headers=bearer(token))
    assert other.status_code == 403 and other.json["error"]["code"] == "ERR_FORBIDDEN"
    # Without a token the dev server still acts for anyone, as before.
    assert dev_http.post("/api/cometchat/token/bob").status_code == 200


def test_bad_input_is_refused(dev_http) -> None:
    for body in ({}, {"uid": "a b"}, {"uid": 7}, {"uid": "alice", "role": "admin"}):
        answer = dev_http.post(DEV_JWT_PATH, json=body)
        assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST", body


def test_only_callers_on_this_machine_get_one(dev_http) -> None:
    """The Host header is the caller's to choose, its address is not. The dev-mode guard refuses
    a remote caller before this route's own check (a 404) is reached."""
    answer = dev_http.post(DEV_JWT_PATH, json={"uid": "alice"}, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert answer.status_code == 403 and answer.json["error"]["code"] == "ERR_NOT_LOCAL"
    assert dev_http.post(DEV_JWT_PATH, json={"uid": "alice"}, environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_a_test_jwt_from_another_dev_server_or_out_of_date_is_refused(dev_http) -> None:
    foreign = dev_jwt(create_app(DEV_ENV).test_client(), "alice")  # each start makes its own secret
    answer = dev_http.post("/api/cometchat/token", headers=bearer(foreign))
    assert answer.status_code == 401 and answer.json["error"]["code"] == "ERR_INVALID_TOKEN"

    app = create_app(DEV_ENV)
    issuer: DevJwtIssuer = app.extensions["token_server.dev_jwt"]
    now = int(time.time())
    expired = jwt.encode({"sub": "alice", "iss": DEV_JWT_ISSUER, "exp": now - 60}, issuer.secret, algorithm="HS256")
    answer = app.test_client().post("/api/cometchat/token", headers=bearer(expired))
    assert answer.status_code == 401 and answer.json["error"]["code"] == "ERR_TOKEN_EXPIRED"
    unsigned = jwt.encode({"sub": "alice", "iss": DEV_JWT_ISSUER, "exp": now + 60}, None, algorithm="none")
    assert app.test_client().post("/api/cometchat/token", headers=bearer(unsigned)).status_code == 401


def test_a_production_app_never_serves_the_route_nor_accepts_a_test_jwt(dev_http) -> None:
    token = dev_jwt(dev_http, "alice")
    for env in (app_env(), app_env(AUTH_JWT_SECRET=None), app_env(TOKEN_SERVER_API_KEYS=None)):
        app = create_app(env)
        http = app.test_client()
        assert "token_server.dev_jwt" not in app.extensions
        assert http.post(DEV_JWT_PATH, json={"uid": "alice"}, headers=service()).status_code == 404
        answer = http.post("/api/cometchat/token", headers=bearer(token))
        assert answer.status_code == 401, env


def test_the_authenticator_ignores_an_issuer_next_to_real_caller_auth() -> None:
    """Whatever wiring hands it an issuer, a server that authenticates callers never takes a test JWT."""
    issuer = DevJwtIssuer()
    authenticate = Authenticator(load_settings(app_env(AUTH_JWT_SECRET=None)), issuer)
    app = create_app(app_env())
    with app.test_request_context(headers=bearer(issuer.issue("alice"))):
        from flask import request

        from token_server.errors import ApiError

        with pytest.raises(ApiError) as refused:
            authenticate(request)
    assert refused.value.status == 401
