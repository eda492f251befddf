"""The token routes' rules: mint (or reuse a device's token) and revoke.

``POST /token/<uid>``, ``POST /token`` and ``POST /token/<uid>/revoke``; each a generator
driven by :mod:`.drive` (see there), answering an :class:`~.answers.Answer`."""

from __future__ import annotations

from typing import Any

from cometchat.validation import check_auth_token

from ..devices import DeviceBusy
from ..ops import metrics
from . import deleted
from .answers import Answer, ok
from .checks import authorize, device_fields, own_uid
from .drive import Devices, Rule, Upstream
from .errors import bad_request, device_busy
from .inputs import Request, json_object

MINT_FIELDS = frozenset({"name", "avatar", "deviceId", "fresh"})
REVOKE_FIELDS = frozenset({"authToken", "all"})


def mint_for_uid(request: Request, uid: Any) -> Rule[Answer]:
    """``POST /token/<uid>``: a token for ``uid``, if the caller may act for it."""
    return mint(request, authorize(request.caller, uid))


def mint_for_caller(request: Request) -> Rule[Answer]:
    """``POST /token``: a token for the calling end user."""
    return mint(request, own_uid(request.caller))


def mint(request: Request, uid: str) -> Rule[Answer]:
    """A fresh token for ``uid`` (an authorized, normalised uid), creating the user at first
    login; with a ``deviceId``, the device's current token when it has a usable one."""
    body = json_object(request.body, MINT_FIELDS)
    for key in {"name", "avatar"} & set(body):
        if not isinstance(body[key], str):
            raise bad_request(f"The {key} must be a string.", key)
    name, avatar = body.get("name"), body.get("avatar")
    who = request.caller
    if who.has_profile and who.uid == uid:
        # The backend vouches for this profile: the body's is ignored, so an end user cannot
        # choose its own display name when the backend supplies one.
        name, avatar = who.name, who.avatar
    device_id, fresh = device_fields(body)
    if device_id is not None:
        return _device_login(uid, device_id, fresh=fresh, name=name, avatar=avatar)
    return _mint(uid, name=name, avatar=avatar)


def _mint(uid: str, *, name: str | None, avatar: str | None) -> Rule[Answer]:
    yield from deleted.refuse_if_gone(uid)  # a deleted user is not created again by a login
    token, created = yield Upstream("mint_token", (uid,), {"name": name, "avatar": avatar})
    yield from deleted.settle_mint(uid)  # a login that raced a delete: undone, 404
    metrics.count_mint(user_created=created)
    yield Devices("note_mint", (uid,))  # it pushes the user's oldest device tokens toward archival
    return ok({"uid": token.uid, "authToken": token.auth_token})


def _device_login(uid: str, device_id: str, *, fresh: bool, name: str | None, avatar: str | None) -> Rule[Answer]:
    yield from deleted.refuse_if_gone(uid)
    try:
        login = yield Devices(
            "login", (uid, device_id), {"fresh": fresh, "name": name, "avatar": avatar}, with_client=True
        )
    except DeviceBusy:
        raise device_busy() from None
    # A login that raced a delete: undone (its device record too), 404.
    yield from deleted.settle_mint(uid, forget_devices=True)
    metrics.count_device_token(reused=login.reused)
    if not login.reused:
        metrics.count_mint(user_created=login.user_created)
    return ok(
        {
            "uid": login.token.uid,
            "authToken": login.token.auth_token,
            "deviceId": device_id,
            "reused": login.reused,
            "createdAt": login.created_at,
        }
    )


def revoke(request: Request, uid: Any) -> Rule[Answer]:
    """``POST /token/<uid>/revoke``: one token (``{"authToken": ...}``) or all (``{"all": true}``);
    the devices that held them are forgotten (best effort)."""
    uid = authorize(request.caller, uid)
    body = json_object(request.body, REVOKE_FIELDS)
    if set(body) == {"authToken"}:
        token = body["authToken"]
        if not isinstance(token, str):
            raise bad_request("The authToken must be a string.", "authToken")
        token = check_auth_token(token)
        yield Upstream("delete_auth_token", (uid, token))
        yield Devices("forget_token", (uid, token))
        return ok({"uid": uid, "revoked": "token"})
    if set(body) == {"all"} and body["all"] is True:  # not 1, not "true"
        # The records are read before the revoke: a login that stores a new token after it keeps it.
        before = yield Devices("snapshot", (uid,))
        yield Upstream("flush_auth_tokens", (uid,))
        yield Devices("forget_all", (uid, before))
        return ok({"uid": uid, "revoked": "all"})
    raise bad_request('Send {"authToken": "<token>"} to revoke one token, or {"all": true} to revoke all.')
