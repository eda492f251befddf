"""Deprovisioning is final: after DELETE /users/<uid> (deactivate or permanent), no login in
flight and no still-valid JWT re-creates or re-activates the user, for DEPROVISION_RETENTION;
POST /users by a service caller (the explicit re-creation) ends that."""

from __future__ import annotations

import threading

import pytest

from tests.helpers import app_env, as_user, service
from tests.stores import closed_port_url
from token_server import create_app, deprovisioned
from token_server.config import ConfigError, load_settings
from token_server.deprovisioned import Deprovisioned, MemoryTombstones, SqliteTombstones

UID = "gone-user"
USER = f"/api/cometchat/users/{UID}"
MINT = f"/api/cometchat/token/{UID}"


def server(**env: str):
    app = create_app(app_env(**env))
    return app, app.test_client(), app.extensions["token_server.emulator"]


def exists(upstream, uid: str = UID) -> bool:
    return uid in upstream.users


def delete(http, permanent: bool = True):
    answer = http.delete(USER + ("?permanent=true" if permanent else ""), headers=service())
    assert answer.status_code == 200, answer.json
    return answer


@pytest.mark.parametrize("body", [None, {"deviceId": "phone-1"}])
def test_a_still_valid_jwt_does_not_recreate_a_permanently_deleted_user(body) -> None:
    """The issue's break: any later login with the user's JWT created the user again."""
    _, http, upstream = server()
    jwt = as_user(UID)  # issued before the delete, valid for minutes more
    assert http.post(MINT, json=body, headers=jwt).status_code == 200
    delete(http, permanent=True)
    before = upstream.requests
    for route in (MINT, "/api/cometchat/token"):
        answer = http.post(route, json=body, headers=jwt)
        assert answer.status_code == 404 and answer.json["error"]["code"] == "ERR_UID_NOT_FOUND"
    assert upstream.requests == before  # refused before any upstream call
    assert not exists(upstream)
    # The twin: another user still logs in, with a JWT or through a service key.
    assert http.post("/api/cometchat/token/still-here", json=body, headers=as_user("still-here")).status_code == 200
    assert http.post("/api/cometchat/token/also-here", headers=service()).status_code == 200


def test_a_service_key_login_does_not_recreate_a_deleted_user_either() -> None:
    _, http, upstream = server()
    assert http.post(MINT, headers=service()).status_code == 200
    delete(http, permanent=True)
    assert http.post(MINT, headers=service()).status_code == 404
    assert not exists(upstream)


def test_a_deactivated_user_is_refused_without_an_upstream_call() -> None:
    _, http, upstream = server()
    assert http.post(MINT, headers=as_user(UID)).status_code == 200
    delete(http, permanent=False)
    before = upstream.requests
    assert http.post(MINT, headers=as_user(UID)).status_code == 404
    assert upstream.requests == before


def race_the_delete(app, http, *, permanent: bool = True) -> list[int]:
    """Run the DELETE after the login passed its checks and before its mint reaches CometChat."""
    client = app.extensions["token_server.client"]
    original, raced = client.mint_token, []

    def mint_token(uid, **kwargs):
        if not raced:  # the DELETE from another thread (another request), to its end, then the mint
            deleting = threading.Thread(target=lambda: raced.append(delete(http, permanent=permanent).status_code))
            deleting.start()
            deleting.join(30)
        return original(uid, **kwargs)

    client.mint_token = mint_token
    return raced


@pytest.mark.parametrize("body", [None, {"deviceId": "phone-1"}])
def test_a_login_in_flight_when_the_user_is_deleted_does_not_recreate_it(body) -> None:
    """The issue's break: a login in flight when DELETE ?permanent=true ran created the user
    again (and answered a working token)."""
    app, http, upstream = server()
    assert http.post(MINT, headers=service()).status_code == 200
    raced = race_the_delete(app, http)
    answer = http.post(MINT, json=body, headers=as_user(UID))
    assert raced == [200]
    assert answer.status_code == 404 and answer.json["error"]["code"] == "ERR_UID_NOT_FOUND", answer.json
    assert not exists(upstream)  # created by the raced mint, deleted again
    if body:
        sessions = app.extensions["token_server.devices"].store.devices(UID)
        assert sessions == []  # no record left for a token that is gone


def test_a_login_minted_between_the_flush_and_the_deactivation_gets_no_token() -> None:
    """The DELETE marks the tombstone, flushes, then deactivates; a login whose mint lands
    between the flush and the deactivation used to be answered a token (dormant, alive again
    on a reactivation with --keep-tokens). It is answered 404 instead."""
    app, http, upstream = server()
    assert http.post(MINT, headers=service()).status_code == 200
    client = app.extensions["token_server.client"]
    original = client.mint_token

    def mint_inside_the_delete(uid, **kwargs):
        deprovisioned.current().mark(uid, "deactivated")  # the DELETE's first steps ...
        client.flush_auth_tokens(uid)
        token = original(uid, **kwargs)  # ... this login's mint ...
        client.delete_user(uid)  # ... and the DELETE's last step
        return token

    client.mint_token = mint_inside_the_delete
    answer = http.post(MINT, headers=as_user(UID))
    assert answer.status_code == 404 and "authToken" not in answer.get_data(as_text=True)
    # The twin: a user that was not deleted logs in through the same code.
    client.mint_token = original
    assert http.post("/api/cometchat/token/someone-else", headers=as_user("someone-else")).status_code == 200


def test_an_explicit_recreation_by_a_service_ends_the_tombstone() -> None:
    _, http, upstream = server()
    assert http.post(MINT, headers=as_user(UID)).status_code == 200
    delete(http, permanent=True)
    # The user itself cannot re-create itself with its old JWT ...
    before = upstream.requests
    mine = http.post("/api/cometchat/users", json={"uid": UID, "name": "Me again"}, headers=as_user(UID))
    assert mine.status_code == 403 and upstream.requests == before and not exists(upstream)
    # ... a service can, and from then on the user logs in as before.
    created = http.post("/api/cometchat/users", json={"uid": UID, "name": "Back"}, headers=service())
    assert created.status_code == 201
    assert http.post(MINT, headers=as_user(UID)).status_code == 200


def test_the_tombstone_lasts_its_retention_and_no_longer() -> None:
    now = [1_000_000.0]
    gone = Deprovisioned(MemoryTombstones(), retention=3600, clock=lambda: now[0])
    gone.mark(UID, "permanent")
    now[0] += 3599
    assert gone.gone(UID) == "permanent"
    now[0] += 2
    assert gone.gone(UID) is None


def test_the_retention_is_configured_and_validated() -> None:
    assert load_settings(app_env()).deprovision_retention == 24 * 3600
    assert load_settings(app_env(DEPROVISION_RETENTION="7d")).deprovision_retention == 7 * 86400
    for bad in ("24", "30m", "soon", "0"):
        with pytest.raises(ConfigError, match="DEPROVISION_RETENTION"):
            load_settings(app_env(DEPROVISION_RETENTION=bad))


def test_workers_sharing_a_sqlite_file_share_the_tombstones(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    _, deleting, upstream_a = server(SESSION_STORE_URI=uri)
    _, other, _ = server(SESSION_STORE_URI=uri)
    delete(deleting, permanent=True)
    assert other.post(MINT, headers=as_user(UID)).status_code == 404
    assert other.post("/api/cometchat/token/someone-else", headers=as_user("someone-else")).status_code == 200
    assert SqliteTombstones(tmp_path / "store.sqlite3").get(UID, 0) == "permanent"




def test_a_tombstone_store_that_is_down_fails_safe() -> None:
    """The delete is answered (the user is gone upstream); this worker still refuses the user
    from its own memory; a valid login of anyone else is answered."""
    _, http, upstream = server(SESSION_STORE_URI=closed_port_url())
    assert http.post(MINT, headers=as_user(UID)).status_code == 200
    delete(http, permanent=True)
    assert not exists(upstream)
    assert http.post(MINT, headers=as_user(UID)).status_code == 404
    assert http.post("/api/cometchat/token/someone-else", headers=as_user("someone-else")).status_code == 200


def test_the_tombstone_is_written_before_the_user_is_deleted_upstream(monkeypatch) -> None:
    """Written first, so a login racing the delete finds it when its mint completes."""
    from token_server import lifecycle

    _, http, _ = server()
    assert http.post(MINT, headers=service()).status_code == 200
    seen = []
    original = lifecycle.deprovision_steps  # the route's steps (token_server.core.users)

    def deprovision_steps(uid, **kwargs):
        seen.append(deprovisioned.current().gone(uid))
        return (yield from original(uid, **kwargs))

    monkeypatch.setattr(lifecycle, "deprovision_steps", deprovision_steps)
    delete(http, permanent=True)
    assert seen == ["permanent"]




def test_a_recreation_the_store_cannot_record_is_refused_before_creating_anything() -> None:
    """With the store out, ending the tombstone would fail and the re-created user would be
    refused its logins once the store is back: 503, nothing created. Any other user is created."""
    _, http, upstream = server(SESSION_STORE_URI=closed_port_url())
    assert http.post(MINT, headers=service()).status_code == 200
    delete(http, permanent=True)
    before = upstream.requests
    answer = http.post("/api/cometchat/users", json={"uid": UID, "name": "Back"}, headers=service())
    assert answer.status_code == 503 and answer.json["error"]["code"] == "ERR_STORE_UNAVAILABLE"
    assert answer.headers["Retry-After"] == "5"
    assert upstream.requests == before and not exists(upstream)
    other = http.post("/api/cometchat/users", json={"uid": "new-user", "name": "New"}, headers=service())
    assert other.status_code == 201
