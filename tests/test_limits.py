"""The per-user and per-address limits hold on every route that calls upstream."""

from __future__ import annotations

from token_server import create_app

from .helpers import app_env, as_user, service

UID = "cometchat-uid-1"
UPSTREAM_ROUTES = [
    ("POST", f"/api/cometchat/token/{UID}", None),
    ("POST", "/api/cometchat/token", None),
    ("GET", f"/api/cometchat/users/{UID}", None),
    ("POST", f"/api/cometchat/token/{UID}/revoke", {"all": True}),
    ("POST", "/api/cometchat/users", {"uid": UID, "name": "Again"}),
]


def limited_app(**env: str):
    app = create_app(app_env(**env))
    return app, app.test_client(), app.extensions["token_server.emulator"]


def test_a_user_limited_on_mint_is_limited_on_every_upstream_route() -> None:
    app, http, upstream = limited_app(RATE_LIMIT_PER_USER="2 per minute")
    headers = as_user(UID)
    assert [http.post(f"/api/cometchat/token/{UID}", headers=headers).status_code for _ in range(2)] == [200, 200]
    before = upstream.requests
    for method, path, body in UPSTREAM_ROUTES:
        answer = http.open(path, method=method, json=body, headers=headers)
        assert answer.status_code == 429, (method, path, answer.json)
        assert answer.json["error"]["code"] == "ERR_TOO_MANY_REQUESTS" and int(answer.headers["Retry-After"]) >= 1
    assert upstream.requests == before
    # The budget is the user's: another user and a trusted backend still get through.
    assert http.get("/api/cometchat/users/cometchat-uid-2", headers=as_user("cometchat-uid-2")).status_code == 200
    assert http.get(f"/api/cometchat/users/{UID}", headers=service()).status_code == 200


def test_reads_and_revokes_spend_the_same_budget_as_mints() -> None:
    _, http, _ = limited_app(RATE_LIMIT_PER_USER="2 per minute")
    headers = as_user(UID)
    assert http.get(f"/api/cometchat/users/{UID}", headers=headers).status_code == 200
    revoke = http.post(f"/api/cometchat/token/{UID}/revoke", json={"all": True}, headers=headers)
    assert revoke.status_code == 200
    assert http.post(f"/api/cometchat/token/{UID}", headers=headers).status_code == 429


def test_an_address_limited_on_mint_is_limited_on_every_upstream_route() -> None:
    _, http, upstream = limited_app(RATE_LIMIT_PER_ADDRESS="1 per minute")
    assert http.post(f"/api/cometchat/token/{UID}", headers=as_user(UID)).status_code == 200
    before = upstream.requests
    for n, (method, path, body) in enumerate(UPSTREAM_ROUTES):
        # Other users, same address: the address's budget is spent.
        answer = http.open(
            path.replace(UID, f"user-{n}"),
            method=method,
            json=body and {**body, "uid": f"user-{n}"},
            headers=as_user(f"user-{n}"),
        )
        assert answer.status_code == 429, (method, path, answer.json)
    assert upstream.requests == before


def test_healthz_is_never_limited() -> None:
    _, http, _ = limited_app(RATE_LIMIT_PER_ADDRESS="1 per minute")
    assert [http.get("/healthz").status_code for _ in range(3)] == [200] * 3
