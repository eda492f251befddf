"""The device routes' rules: ``GET /users/<uid>/sessions`` (the user's devices, never a token)
and ``DELETE /users/<uid>/sessions/<deviceId>`` (revoke one device's token, forget the device)."""

from __future__ import annotations

from typing import Any

from ..devices import DeviceBusy, StoreUnavailable
from ..devices.service import TOKEN_LIMIT, TokenUnreadable, note_token_count
from .answers import Answer, ok
from .checks import authorize, check_device_id
from .drive import CountTokens, Devices, Rule
from .errors import device_busy, session_unreadable, store_unavailable
from .inputs import Request, json_object

SIGN_OUT_BUSY = "Logins of this device kept replacing its token during the sign-out; try again shortly."


def list_sessions(request: Request, uid: Any) -> Rule[Answer]:
    uid = authorize(request.caller, uid)
    json_object(request.body, frozenset())
    try:
        found = yield Devices("sessions", (uid,))
    except StoreUnavailable:
        raise store_unavailable() from None
    tokens = yield CountTokens(uid)  # CometChat's own count: warns near its limit
    note_token_count(uid, tokens)
    sessions = [{"deviceId": s.device_id, "createdAt": s.created_at, "lastUsedAt": s.last_used_at} for s in found]
    return ok({"uid": uid, "sessions": sessions, "tokens": tokens, "limit": TOKEN_LIMIT})


def delete_session(request: Request, uid: Any, device_id: Any) -> Rule[Answer]:
    uid = authorize(request.caller, uid)
    device_id = check_device_id(device_id)
    json_object(request.body, frozenset())
    try:
        yield Devices("revoke_device", (uid, device_id), with_client=True)
    except StoreUnavailable:
        raise store_unavailable() from None
    except TokenUnreadable:
        raise session_unreadable() from None
    except DeviceBusy:
        raise device_busy(SIGN_OUT_BUSY) from None
    return ok({"uid": uid, "deviceId": device_id, "revoked": True})
