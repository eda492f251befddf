"""Every answer that holds a token, a user, an error, metrics or a test JWT says "never store
me", with the same headers, from the one helper (token_server/nocache.py)."""

from __future__ import annotations

from flask import Response

from tests.helpers import bearer, http_client, service
from token_server import create_app
from token_server.dev.devjwt import DEV_JWT_PATH
from token_server.nocache import NO_STORE_HEADERS, no_store

METRICS_TOKEN = "metrics-token-for-tests-0123"


def assert_no_store(answer) -> None:
    for name, value in NO_STORE_HEADERS.items():
        assert answer.headers.get(name) == value, (answer.status_code, name, dict(answer.headers))


def test_the_helper_sets_both_headers_and_keeps_the_status_unless_told() -> None:
    kept = no_store(Response("x", status=201))
    assert kept.status_code == 201 and kept.headers["Cache-Control"] == "no-store"
    assert kept.headers["Pragma"] == "no-cache"
    assert no_store(Response("x"), 409).status_code == 409


def test_tokens_users_errors_and_metrics_are_never_stored() -> None:
    http = http_client(METRICS_TOKEN=METRICS_TOKEN)
    answers = [
        http.post("/api/cometchat/token/nocache-user", headers=service()),  # a token
        http.get("/api/cometchat/users/nocache-user", headers=service()),  # a user
        http.post("/api/cometchat/token/nocache-user"),  # 401
        http.get("/no/such/route"),  # 404 from Flask
        http.get("/metrics", headers=bearer(METRICS_TOKEN)),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 401, 404, 200]
    for answer in answers:
        assert_no_store(answer)


def test_a_test_jwt_is_never_stored() -> None:
    http = create_app({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}).test_client()
    answer = http.post(DEV_JWT_PATH, json={"uid": "alice"})
    assert answer.status_code == 200
    assert_no_store(answer)


def test_the_demo_page_may_be_cached_as_before() -> None:
    page = create_app({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}).test_client().get("/")
    assert page.status_code == 200 and "no-store" not in page.headers.get("Cache-Control", "")
