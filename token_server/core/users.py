"""The user routes' rules: create, read, update and delete (deprovision) a user."""

from __future__ import annotations

from typing import Any, Mapping

from cometchat import Profile
from cometchat.validation import UNSETTABLE

from .. import lifecycle
from ..ops import metrics
from . import deleted
from .answers import Answer, ok
from .checks import authorize, require_trusted
from .drive import Devices, Rule, Upstream
from .errors import bad_request
from .inputs import Request, json_object, refuse_body

CREATE_FIELDS = frozenset({"uid", *Profile.FIELDS})
UPDATE_FIELDS = frozenset(Profile.FIELDS)
DELETE_MODES = {"false": "deactivated", "true": "permanent"}  # ?permanent= -> the answer's "deleted"


def create_user(request: Request) -> Rule[Answer]:
    """``POST /users``: a user and its first token."""
    body = json_object(request.body, CREATE_FIELDS, required=("uid", "name"))
    uid = authorize(request.caller, body["uid"])
    yield from deleted.allow_recreation(uid, request.caller.is_trusted)  # a deleted user: a service's call
    if body.get("role") is not None:
        # A role decides what a user may do in the chat: never self-assigned.
        require_trusted(request.caller, "Only a service caller may set a role.")
    # The client validates every profile field before it makes any request.
    kwargs = {**Profile.from_api(body).kwargs(), "with_auth_token": True}
    user = yield Upstream("create_user", (uid,), kwargs)
    metrics.count_mint(user_created=True)
    return ok({"user": user.to_dict(), "authToken": user.auth_token}, 201)


def get_user(request: Request, uid: Any) -> Rule[Answer]:
    """``GET /users/<uid>``."""
    uid = authorize(request.caller, uid)
    user = yield Upstream("get_user", (uid,))
    return ok({"user": user.to_dict()})


def update_user(request: Request, uid: Any) -> Rule[Answer]:
    """``PATCH /users/<uid>``: profile sync. JSON null unsets avatar, link or metadata
    (CometChat's ``unset``)."""
    uid = authorize(request.caller, uid)
    body = json_object(request.body, UPDATE_FIELDS)
    if not body:
        raise bad_request(f"Send at least one of: {', '.join(sorted(UPDATE_FIELDS))}.")
    if "role" in body:
        require_trusted(request.caller, "Only a service caller may set a role.")
    unset = [key for key in UNSETTABLE if key in body and body[key] is None]
    for key in sorted(UPDATE_FIELDS - set(UNSETTABLE)):
        if key in body and body[key] is None:
            raise bad_request(f"The {key} cannot be null; only avatar, link and metadata can be unset.", key)
    user = yield Upstream("update_user", (uid,), {**Profile.from_api(body).kwargs(), "unset": unset})
    return ok({"user": user.to_dict()})


def delete_mode(query: Mapping[str, str]) -> str:
    """``?permanent=true|false`` -> the answer's ``deleted``; any other option is a 400."""
    unknown = sorted(set(query) - {"permanent"})
    if unknown:  # a typo (?permanant=true) must not deactivate where a delete was meant
        raise bad_request(f"Unknown option {unknown[0]!r}; the only option is permanent.", unknown[0])
    mode = DELETE_MODES.get(query.get("permanent", "false").lower())
    if mode is None:
        raise bad_request("permanent must be true or false.", "permanent")
    return mode


def delete_user(request: Request, uid: Any) -> Rule[Answer]:
    """``DELETE /users/<uid>``: deprovision, i.e. revoke every token, THEN deactivate (or delete
    for good); see :mod:`token_server.lifecycle` for why in that order. A uid already gone is the
    same success. Its devices are forgotten (best effort)."""
    require_trusted(request.caller, "Only a service caller may delete a user.")
    uid = authorize(request.caller, uid)
    mode = delete_mode(request.query)
    refuse_body(request.body, "Send no body: the options go in the query string.")
    yield from deleted.mark(uid, mode)  # before upstream: a login racing the delete sees it
    before = yield Devices("snapshot", (uid,))  # read before the revoke: later records stay
    yield from lifecycle.deprovision_steps(uid, permanent=mode == "permanent")
    yield Devices("forget_all", (uid, before))
    return ok({"uid": uid, "deleted": mode})
