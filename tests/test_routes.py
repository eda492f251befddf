"""Every route and error through the Flask test client, on the in-process emulator."""

from __future__ import annotations

import pytest

from cometchat.emulator import Fault

from .helpers import as_user, service


def calls(upstream) -> int:
    return upstream.requests


# ---- minting ---------------------------------------------------------------------------


def test_mint_for_a_returning_user_is_one_upstream_call(http, upstream) -> None:
    before = calls(upstream)
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == 200
    assert set(answer.json) == {"uid", "authToken"} and answer.json["uid"] == "cometchat-uid-1"
    assert answer.headers["Cache-Control"] == "no-store"
    assert calls(upstream) == before + 1


def test_every_mint_is_a_fresh_token(http) -> None:
    tokens = {http.post("/api/cometchat/token/cometchat-uid-2", headers=service()).json["authToken"] for _ in range(3)}
    assert len(tokens) == 3


def test_mint_creates_a_first_time_user_in_at_most_one_more_call(http, upstream) -> None:
    before = calls(upstream)
    answer = http.post("/api/cometchat/token/New-Person", json={"name": "New Person"}, headers=service())
    assert answer.status_code == 200 and answer.json["uid"] == "new-person"
    assert calls(upstream) == before + 2
    assert upstream.get_user("new-person")["name"] == "New Person"
    assert upstream.tokens[answer.json["authToken"]] == "new-person"


def test_mint_without_a_name_uses_the_uid(http, upstream) -> None:
    http.post("/api/cometchat/token/nameless", headers=service())
    assert upstream.get_user("nameless")["name"] == "nameless"


def test_mint_for_the_caller_uses_the_jwt_uid(http) -> None:
    answer = http.post("/api/cometchat/token", headers=as_user("cometchat-uid-3"))
    assert answer.status_code == 200 and answer.json["uid"] == "cometchat-uid-3"


def test_mint_for_the_caller_without_a_user_identity_is_401(http) -> None:
    answer = http.post("/api/cometchat/token", headers=service())
    assert answer.status_code == 401 and answer.json["error"]["code"] == "ERR_NO_USER_IDENTITY"


# ---- users -----------------------------------------------------------------------------


def test_create_user_with_first_token_in_one_call(http, upstream) -> None:
    before = calls(upstream)
    body = {
        "uid": "carol",
        "name": "Carol",
        "avatar": "https://example.com/c.png",
        "metadata": {"team": "a"},
        "tags": ["beta"],
        "link": "https://example.com/carol",
        "role": "moderator",
    }
    answer = http.post("/api/cometchat/users", json=body, headers=service())
    assert answer.status_code == 201, answer.json
    assert calls(upstream) == before + 1
    user = answer.json["user"]
    assert user["uid"] == "carol" and user["metadata"] == {"team": "a"} and user["role"] == "moderator"
    assert "authToken" not in user and answer.json["authToken"].startswith("carol_")
    assert answer.headers["Cache-Control"] == "no-store"


def test_create_existing_user_is_409(http) -> None:
    answer = http.post("/api/cometchat/users", json={"uid": "cometchat-uid-1", "name": "X"}, headers=service())
    assert answer.status_code == 409 and answer.json["error"]["code"] == "ERR_UID_ALREADY_EXISTS"


def test_get_user(http) -> None:
    answer = http.get("/api/cometchat/users/COMETCHAT-UID-4", headers=service())
    assert answer.status_code == 200 and answer.json["user"]["name"] == "Susan Marie"
    missing = http.get("/api/cometchat/users/nobody", headers=service())
    assert missing.status_code == 404 and missing.json["error"]["code"] == "ERR_UID_NOT_FOUND"


# ---- revoking --------------------------------------------------------------------------


def test_revoke_one_token(http, upstream) -> None:
    token = http.post("/api/cometchat/token/cometchat-uid-5", headers=service()).json["authToken"]
    other = http.post("/api/cometchat/token/cometchat-uid-5", headers=service()).json["authToken"]
    answer = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json={"authToken": token}, headers=service())
    assert answer.status_code == 200 and answer.json == {"uid": "cometchat-uid-5", "revoked": "token"}
    assert token not in upstream.tokens and other in upstream.tokens
    again = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json={"authToken": token}, headers=service())
    assert again.status_code == 404 and again.json["error"]["code"] == "ERR_AUTH_TOKEN_NOT_FOUND"


def test_revoke_all_tokens(http, upstream) -> None:
    for _ in range(2):
        http.post("/api/cometchat/token/cometchat-uid-5", headers=service())
    answer = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json={"all": True}, headers=service())
    assert answer.status_code == 200 and answer.json["revoked"] == "all"
    assert upstream.list_tokens("cometchat-uid-5") == []


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"all": False},
        {"all": "yes"},
        {"authToken": 5},
        {"authToken": ""},
        {"authToken": "t", "all": True},
        {"token": "t"},
        [1],
    ],
)
def test_revoke_anything_else_is_400_without_an_upstream_call(http, upstream, body) -> None:
    before = calls(upstream)
    answer = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json=body, headers=service())
    assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert calls(upstream) == before


# ---- bad input costs nothing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("post", "/api/cometchat/token/has%20space", {}),
        ("post", "/api/cometchat/token/a/b", {}),
        ("post", "/api/cometchat/token/" + "x" * 101, {}),
        ("post", "/api/cometchat/token/%C3%BCml", {}),
        ("post", "/api/cometchat/token/ok", {"data": "{not json", "content_type": "application/json"}),
        ("post", "/api/cometchat/token/ok", {"json": [1, 2]}),
        ("post", "/api/cometchat/token/ok", {"json": "a string"}),
        ("post", "/api/cometchat/token/ok", {"json": {"name": 5}}),
        ("post", "/api/cometchat/token/ok", {"json": {"name": "n" * 101}}),
        ("post", "/api/cometchat/token/ok", {"json": {"nickname": "x"}}),
        ("post", "/api/cometchat/token/ok", {"json": {"avatar": "not a url"}}),
        ("post", "/api/cometchat/users", {"json": {"name": "No uid"}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "no-name"}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "metadata": [1]}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "tags": "a"}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "tags": ["t"] * 26}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "withAuthToken": False}}),
        ("post", "/api/cometchat/users", {"json": {"uid": 7, "name": "X"}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "metadata": {"k": "v" * 6000}}}),
        ("get", "/api/cometchat/users/bad%21uid", {}),
    ],
)
def test_bad_input_is_400_and_costs_no_upstream_call(http, upstream, method, path, kwargs) -> None:
    before = calls(upstream)
    answer = getattr(http, method)(path, headers=service(), **kwargs)
    assert answer.status_code == 400, answer.json
    error = answer.json["error"]
    assert error["code"] == "ERR_BAD_REQUEST" and error["message"]
    assert calls(upstream) == before


def test_body_over_the_cap_is_413(http, upstream) -> None:
    before = calls(upstream)
    answer = http.post(
        "/api/cometchat/users", data="{" + " " * 70_000 + "}", headers=service(), content_type="application/json"
    )
    assert answer.status_code == 413 and answer.json["error"]["code"] == "ERR_BODY_TOO_LARGE"
    assert calls(upstream) == before


def test_unknown_route_and_wrong_method_answer_json(http) -> None:
    missing = http.get("/api/cometchat/nothing", headers=service())
    assert missing.status_code == 404 and missing.json["error"]["code"] == "ERR_NOT_FOUND"
    wrong = http.delete("/api/cometchat/token/x", headers=service())
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "ERR_METHOD_NOT_ALLOWED"
    assert "POST" in wrong.headers["Allow"]


def test_healthz_makes_no_upstream_call(http, upstream) -> None:
    before = calls(upstream)
    answer = http.get("/healthz")
    assert answer.status_code == 200 and answer.json == {"status": "ok"}
    assert calls(upstream) == before


def test_no_demo_page_outside_dev_mode(http) -> None:
    assert http.get("/").status_code == 404
    assert http.put("/emulator/v3.0/me").status_code == 404


# ---- upstream failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        ([Fault("status", status=503)] * 3, 503, "ERR_UPSTREAM_UNAVAILABLE"),
        ([Fault("status", status=429, retry_after=60)], 503, "ERR_UPSTREAM_RATE_LIMITED"),
        ([Fault("status", status=500)], 502, "ERR_UPSTREAM_BAD_RESPONSE"),
        ([Fault("html")] * 3, 502, "ERR_UPSTREAM_BAD_RESPONSE"),
        ([Fault("malformed")], 502, "ERR_UPSTREAM_BAD_RESPONSE"),
        ([Fault("status", status=504)] * 3, 504, "ERR_UPSTREAM_TIMEOUT"),
    ],
)
def test_upstream_failures_map_to_json_5xx(app, http, upstream, faults, status, code) -> None:
    app.extensions["token_server.client"].backoff = 0.001
    upstream.faults.extend(faults)
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == status and answer.json["error"]["code"] == code
    assert "devMessage" not in answer.text and "Injected" not in answer.text
    if status == 503:
        assert int(answer.headers["Retry-After"]) >= 1
    if code == "ERR_UPSTREAM_RATE_LIMITED":
        assert answer.headers["Retry-After"] == "60"


def test_a_burst_shorter_than_the_retry_budget_is_absorbed(app, http, upstream) -> None:
    app.extensions["token_server.client"].backoff = 0.001
    upstream.faults.extend([Fault("status", status=503), Fault("status", status=502)])
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200


def test_upstream_rejecting_our_key_is_a_loud_502(http, upstream, caplog) -> None:
    upstream.api_keys = frozenset({"some-other-key"})
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == 502 and answer.json["error"]["code"] == "ERR_UPSTREAM_MISCONFIGURED"
    assert any(r.levelname == "ERROR" and "REST KEY" in r.getMessage() for r in caplog.records)
