"""GET /readyz through the Flask test client: a store down is not ready, JWKS keys not loaded are not ready until they are, another module adds a check in one line."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import app_env, http_client
from tests.jwks import AUDIENCE, JwksServer
from tests.stores import closed_port_url
from token_server import create_app
from token_server.ops import readiness


def test_a_store_down_is_not_ready() -> None:
    answer = http_client(RATELIMIT_STORAGE_URI=closed_port_url()).get("/readyz")
    assert answer.status_code == 503
    assert answer.json["failing"] == ["rate_limit_store", "budget_store", "session_store"]
    assert answer.json["checks"]["rate_limit_store"] == "the rate-limit store is not reachable"


def test_jwks_keys_not_loaded_is_not_ready_until_they_are() -> None:
    server = JwksServer()
    server.publish(rsa.generate_private_key(public_exponent=65537, key_size=2048), "k1", "RS256")
    try:
        server.status = 500
        app = create_app(app_env(AUTH_JWT_SECRET=None, AUTH_JWKS_URL=server.url, AUTH_JWT_AUDIENCE=AUDIENCE))
        keys = app.extensions["token_server.authenticator"].jwks
        http = app.test_client()
        answer = http.get("/readyz")
        assert answer.status_code == 503 and answer.json["failing"] == ["jwks"]
        assert server.url not in json.dumps(answer.json)
        keys._fetched.wait(5)  # the check started a fetch (it never waits for it)
        assert server.fetches == 1
        server.status = 200
        keys._attempted_at -= 60  # the next fetch is due (JWKS_MIN_REFRESH)
        http.get("/readyz")
        keys._fetched.wait(5)
        assert http.get("/readyz").status_code == 200
    finally:
        server.close()


def test_another_module_adds_a_check_in_one_line() -> None:
    app = create_app(app_env())
    readiness.add_check(app, "session_store", lambda: "the session store is not reachable")
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503 and answer.json["failing"] == ["session_store"]
