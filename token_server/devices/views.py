"""The device parts of the token routes, and the sessions routes, on the token blueprint:
``GET /users/<uid>/sessions`` and ``DELETE /users/<uid>/sessions/<deviceId>``."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify

from .. import codes, deprovisioned
from ..body import read_json_object
from ..errors import ApiError, bad_request
from ..ops import metrics
from ..routes import authorize, bp, client, no_store
from . import DEVICE_ID, DeviceBusy, DeviceTokens, MemorySessionStore, StoreUnavailable, TokenCipher
from .service import TOKEN_LIMIT, TokenUnreadable, note_token_count

SESSIONS = "token_server.devices"
STORE_RETRY_AFTER = "5"
BUSY_RETRY_AFTER = "1"


def init_app(app: Flask, tokens: DeviceTokens) -> None:
    app.extensions[SESSIONS] = tokens


def device_tokens_of(app: Flask) -> DeviceTokens:
    tokens: DeviceTokens = app.extensions[SESSIONS]
    return tokens


def device_tokens() -> DeviceTokens:
    """The app's device sessions; an app that wired none gets one in this process."""
    tokens = current_app.extensions.get(SESSIONS)
    if tokens is None:
        tokens = DeviceTokens(MemorySessionStore(), TokenCipher.ephemeral())
        tokens = current_app.extensions.setdefault(SESSIONS, tokens)
    return tokens


def check_device_id(value: Any) -> str:
    if not isinstance(value, str) or not DEVICE_ID.fullmatch(value):
        raise bad_request("The deviceId must be 1 to 100 of A-Z, a-z, 0-9, _ and -.", "deviceId")
    return value


def device_fields(body: dict[str, Any]) -> tuple[str | None, bool]:
    """The body's ``deviceId`` (None when absent) and ``fresh`` (a JSON boolean)."""
    fresh = body.get("fresh", False)
    if not isinstance(fresh, bool):
        raise bad_request("fresh must be true or false.", "fresh")
    if "deviceId" not in body:
        if "fresh" in body:
            raise bad_request("fresh needs a deviceId: without one every token is fresh already.", "fresh")
        return None, False
    return check_device_id(body["deviceId"]), fresh


def device_login(uid: str, device_id: str, *, fresh: bool, name: str | None, avatar: str | None) -> Response:
    try:
        login = device_tokens().login(client(), uid, device_id, fresh=fresh, name=name, avatar=avatar)
    except DeviceBusy:
        raise ApiError(
            503,
            codes.ERR_DEVICE_BUSY,
            "Other logins of this device are replacing its token; try again shortly.",
            headers={"Retry-After": BUSY_RETRY_AFTER},
        ) from None
    # A login that raced a delete: undone (its device record too), 404.
    deprovisioned.settle_mint(client(), uid, forget=lambda: device_tokens().forget_all(uid))
    metrics.count_device_token(reused=login.reused)
    if not login.reused:
        metrics.count_mint(user_created=login.user_created)
    return no_store(
        jsonify(
            {
                "uid": login.token.uid,
                "authToken": login.token.auth_token,
                "deviceId": device_id,
                "reused": login.reused,
                "createdAt": login.created_at,
            }
        )
    )


def _store_unavailable() -> ApiError:
    return ApiError(
        503,
        codes.ERR_STORE_UNAVAILABLE,
        "The session store is not answering; try again shortly.",
        headers={"Retry-After": STORE_RETRY_AFTER},
    )


def upstream_token_count(uid: str) -> int:
    """How many tokens CometChat holds for the user (its token list); warns near the limit."""
    count = sum(1 for _ in client().iter_auth_tokens(uid, per_page=100))
    note_token_count(uid, count)
    return count


@bp.get("/users/<path:uid>/sessions")
def list_sessions(uid: str) -> Response:
    uid = authorize(uid)
    read_json_object(frozenset())
    try:
        found = device_tokens().sessions(uid)
    except StoreUnavailable:
        raise _store_unavailable() from None
    tokens = upstream_token_count(uid)
    sessions = [{"deviceId": s.device_id, "createdAt": s.created_at, "lastUsedAt": s.last_used_at} for s in found]
    return no_store(jsonify({"uid": uid, "sessions": sessions, "tokens": tokens, "limit": TOKEN_LIMIT}))


@bp.delete("/users/<path:uid>/sessions/<device_id>")
def delete_session(uid: str, device_id: str) -> Response:
    uid = authorize(uid)
    device_id = check_device_id(device_id)
    read_json_object(frozenset())
    try:
        device_tokens().revoke_device(client(), uid, device_id)
    except StoreUnavailable:
        raise _store_unavailable() from None
    except TokenUnreadable:
        # Never "revoked: true" for a token this server did not revoke: it is still live upstream.
        raise ApiError(
            409,
            codes.ERR_SESSION_UNREADABLE,
            "The device's token was sealed with a key this server does not hold (SESSION_STORE_KEY): "
            "it was not revoked. Add the older key to SESSION_STORE_KEY, or revoke the user's tokens.",
        ) from None
    except DeviceBusy:
        raise ApiError(
            503,
            codes.ERR_DEVICE_BUSY,
            "Logins of this device kept replacing its token during the sign-out; try again shortly.",
            headers={"Retry-After": BUSY_RETRY_AFTER},
        ) from None
    return no_store(jsonify({"uid": uid, "deviceId": device_id, "revoked": True}))
