"""The token and user routes: each view checks who calls and what was sent, then makes
one client call (route -> ``CometChatClient`` method -> upstream).

The views reach the client and the caller through the app they run in, so any Flask app
can carry them: :func:`init_app` registers them with the app's client and its own
``identify_caller(request) -> Caller`` (the stand-alone server passes its service-key /
JWT :class:`~token_server.auth.Authenticator`; an existing backend, its session login).
The caller is identified before the view, once, by :mod:`token_server.caller`; the steps
before a view are listed in :mod:`token_server.pipeline`.
"""

from __future__ import annotations

from typing import Any, Iterable

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from cometchat import CometChatClient, CometChatError, Profile
from cometchat.validation import UNSETTABLE, check_auth_token, normalize_uid

from . import caller, codes, deprovisioned, lifecycle, sameorigin
from .auth import Caller, IdentifyCaller
from .body import read_json_object, refuse_body
from .errors import ApiError, bad_request, handle_api_error, handle_cometchat_error
from .nocache import no_store
from .ops import metrics
from .pipeline import BLUEPRINT, URL_PREFIX

__all__ = ["URL_PREFIX", "bp", "current_caller", "init_app"]

# Where init_app leaves the client for the views.
CLIENT = "token_server.client"
MINT_FIELDS = frozenset({"name", "avatar", "deviceId", "fresh"})
CREATE_FIELDS = frozenset({"uid", *Profile.FIELDS})
REVOKE_FIELDS = frozenset({"authToken", "all"})
UPDATE_FIELDS = frozenset(Profile.FIELDS)
# ?permanent= -> the answer's "deleted"
DELETE_MODES: dict[str, deprovisioned.Mode] = {"false": "deactivated", "true": "permanent"}

bp = Blueprint(BLUEPRINT, __name__)
# The blueprint answers its own errors in the contract's JSON shape, whatever the host app does.
bp.register_error_handler(ApiError, handle_api_error)
bp.register_error_handler(CometChatError, handle_cometchat_error)


def init_app(
    app: Flask,
    client: CometChatClient,
    identify_caller: IdentifyCaller | None = None,
    *,
    allowed_origins: Iterable[str] = (),
) -> None:
    """Add the routes under ``URL_PREFIX`` to ``app``, answering with ``client``.

    A host app passes its ``identify_caller(request) -> Caller`` (and the other sites whose
    pages may call, ``allowed_origins``): the same-site rule and the caller step are added
    here, before the views. ``create_app`` adds those steps itself and passes neither. For
    rate limits, call :func:`token_server.limits.init_app` after this."""
    if identify_caller is not None:
        sameorigin.init_app(app, allowed_origins)
        caller.init_app(app, identify_caller)
    if not caller.installed(app):
        raise RuntimeError("the routes need a caller step: pass identify_caller, or call caller.init_app first")
    app.extensions[CLIENT] = client
    app.register_blueprint(bp, url_prefix=URL_PREFIX)


def client() -> CometChatClient:
    return current_app.extensions[CLIENT]


def current_caller() -> Caller:
    """Who is calling, as the caller step identified it (its refusal again, if it refused)."""
    return caller.current_caller()


def authorize(uid: Any) -> str:
    """The uid, normalised, if the caller may act for it (else 401, 400 or 403)."""
    who = current_caller()  # 401 comes before 400: say nothing about inputs to strangers
    if not isinstance(uid, str):
        raise bad_request("The uid must be a string.", "uid")
    uid = normalize_uid(uid)
    if not who.may_act_for(uid):
        raise ApiError(403, codes.ERR_FORBIDDEN, "You may only act on your own uid.")
    return uid


def require_trusted(message: str) -> None:
    if not current_caller().is_trusted:
        raise ApiError(403, codes.ERR_FORBIDDEN, message)


def _mint(uid: str) -> Response:
    body = read_json_object(MINT_FIELDS)
    for key in {"name", "avatar"} & set(body):
        if not isinstance(body[key], str):
            raise bad_request(f"The {key} must be a string.", key)
    name, avatar = body.get("name"), body.get("avatar")
    who = current_caller()
    if who.has_profile and who.uid == uid:
        # The backend vouches for this profile: the body's is ignored, so an end user cannot
        # choose its own display name when the backend supplies one.
        name, avatar = who.name, who.avatar
    device_id, fresh = sessions_views.device_fields(body)
    deprovisioned.refuse_mint_if_gone(uid)  # a deleted user is not created again by a login
    if device_id is not None:
        return sessions_views.device_login(uid, device_id, fresh=fresh, name=name, avatar=avatar)
    token, created = client().mint_token(uid, name=name, avatar=avatar)
    deprovisioned.settle_mint(client(), uid)  # a login that raced a delete: undone, 404
    metrics.count_mint(user_created=created)
    sessions_views.device_tokens().note_mint(uid)  # it pushes the user's oldest device tokens toward archival
    return no_store(jsonify({"uid": token.uid, "authToken": token.auth_token}))


@bp.post("/token/<path:uid>")
def mint_for_uid(uid: str) -> Response:
    return _mint(authorize(uid))


@bp.post("/token")
def mint_for_caller() -> Response:
    uid = current_caller().uid
    if uid is None:
        raise ApiError(
            401, codes.ERR_NO_USER_IDENTITY, "This route needs a user's token; use /token/<uid> with a service key."
        )
    return _mint(uid)


@bp.post("/users")
def create_user() -> Response:
    current_caller()
    body = read_json_object(CREATE_FIELDS, required=("uid", "name"))
    uid = authorize(body["uid"])
    deprovisioned.allow_recreation(uid, current_caller().is_trusted)  # a deleted user: a service's call
    if body.get("role") is not None:
        # A role decides what a user may do in the chat: never self-assigned.
        require_trusted("Only a service caller may set a role.")
    # The client validates every profile field before it makes any request.
    user = client().create_user(uid, **Profile.from_api(body).kwargs(), with_auth_token=True)
    metrics.count_mint(user_created=True)
    return no_store(jsonify({"user": user.to_dict(), "authToken": user.auth_token}), 201)


@bp.get("/users/<path:uid>")
def get_user(uid: str) -> Response:
    uid = authorize(uid)
    return no_store(jsonify({"user": client().get_user(uid).to_dict()}))


@bp.get("/users/<path:uid>/presence")
def get_presence(uid: str) -> Response:
    """The last connection status CometChat reported by webhook (token_server/webhooks/presence.py)."""
    return webhook_route.presence_answer(authorize(uid))


@bp.post("/token/<path:uid>/revoke")
def revoke(uid: str) -> Response:
    uid = authorize(uid)
    body = read_json_object(REVOKE_FIELDS)
    if set(body) == {"authToken"}:
        token = body["authToken"]
        if not isinstance(token, str):
            raise bad_request("The authToken must be a string.", "authToken")
        token = check_auth_token(token)
        client().delete_auth_token(uid, token)
        sessions_views.device_tokens().forget_token(uid, token)
        return no_store(jsonify({"uid": uid, "revoked": "token"}))
    if set(body) == {"all"} and body["all"] is True:  # not 1, not "true"
        # The records are read before the revoke: a login that stores a new token after it keeps it.
        before = sessions_views.device_tokens().snapshot(uid)
        client().flush_auth_tokens(uid)
        sessions_views.device_tokens().forget_all(uid, before)
        return no_store(jsonify({"uid": uid, "revoked": "all"}))
    raise bad_request('Send {"authToken": "<token>"} to revoke one token, or {"all": true} to revoke all.')


@bp.patch("/users/<path:uid>")
def update_user(uid: str) -> Response:
    """Profile sync. JSON null unsets avatar, link or metadata (CometChat's ``unset``)."""
    uid = authorize(uid)
    body = read_json_object(UPDATE_FIELDS)
    if not body:
        raise bad_request(f"Send at least one of: {', '.join(sorted(UPDATE_FIELDS))}.")
    if "role" in body:
        require_trusted("Only a service caller may set a role.")
    unset = [key for key in UNSETTABLE if key in body and body[key] is None]
    for key in sorted(UPDATE_FIELDS - set(UNSETTABLE)):
        if key in body and body[key] is None:
            raise bad_request(f"The {key} cannot be null; only avatar, link and metadata can be unset.", key)
    user = client().update_user(uid, **Profile.from_api(body).kwargs(), unset=unset)
    return no_store(jsonify({"user": user.to_dict()}))


@bp.delete("/users/<path:uid>")
def delete_user(uid: str) -> Response:
    """Deprovision: revoke every token, THEN deactivate (or delete for good); see
    :mod:`token_server.lifecycle` for why in that order. A uid already gone is the same success."""
    current_caller()
    require_trusted("Only a service caller may delete a user.")
    uid = authorize(uid)
    unknown = sorted(set(request.args) - {"permanent"})
    if unknown:  # a typo (?permanant=true) must not deactivate where a delete was meant
        raise bad_request(f"Unknown option {unknown[0]!r}; the only option is permanent.", unknown[0])
    mode = DELETE_MODES.get(request.args.get("permanent", "false").lower())
    if mode is None:
        raise bad_request("permanent must be true or false.", "permanent")
    refuse_body("Send no body: the options go in the query string.")
    deprovisioned.current().mark(uid, mode)  # before upstream: a login racing the delete sees it
    before = sessions_views.device_tokens().snapshot(uid)  # read before the revoke: later records stay
    lifecycle.deprovision(client(), uid, permanent=mode == "permanent")
    sessions_views.device_tokens().forget_all(uid, before)
    return no_store(jsonify({"uid": uid, "deleted": mode}))


# The device-session views (GET/DELETE .../sessions) register on ``bp`` too.
from .devices import views as sessions_views  # noqa: E402
from .webhooks import flask_route as webhook_route  # noqa: E402
