"""The token and user routes, as a blueprint any Flask app can register.

``identify_caller(request) -> Caller`` is the app's own way of knowing who calls: the
stand-alone server passes its service-key / JWT :class:`~token_server.auth.Authenticator`;
an existing Flask backend can pass a function reading its own session instead.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from flask import Blueprint, Response, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from cometchat import CometChatClient, CometChatError
from cometchat.validation import check_auth_token, normalize_uid

from .auth import Caller, IdentifyCaller
from .errors import ApiError, handle_api_error, handle_cometchat_error

URL_PREFIX = "/api/cometchat"
MINT_FIELDS = frozenset({"name", "avatar"})
CREATE_FIELDS = frozenset({"uid", "name", "avatar", "link", "role", "metadata", "tags"})


def bad_request(message: str, field: str | None = None) -> ApiError:
    details = {field: [message]} if field else None
    return ApiError(400, "ERR_BAD_REQUEST", message, details=details)


def read_json_object(allowed: frozenset[str], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``), refusing unknown fields."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        body: Any = {}
    else:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"Unknown field(s): {', '.join(unknown)}.", unknown[0])
    for name in required:
        if body.get(name) in (None, ""):
            raise bad_request(f"The {name} field is required.", name)
    return body


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def create_token_blueprint(
    client: CometChatClient | Callable[[], CometChatClient],
    identify_caller: IdentifyCaller,
    *,
    limiter: Limiter | None = None,
    per_user_limit: str = "30 per minute",
    per_address_limit: str = "120 per minute",
    name: str = "cometchat_tokens",
) -> Blueprint:
    """Build the blueprint; register it with ``url_prefix=URL_PREFIX`` to keep the contract's URLs.

    With a ``limiter`` (Flask-Limiter), minting and creating are limited per end user and
    per client address; service callers are trusted backends and are not limited.
    """
    bp = Blueprint(name, __name__)
    # The blueprint answers its own errors in the contract's JSON shape, whatever the host app does.
    bp.register_error_handler(ApiError, handle_api_error)
    bp.register_error_handler(CometChatError, handle_cometchat_error)
    get_client: Callable[[], CometChatClient] = client if callable(client) else (lambda: client)  # type: ignore[assignment]

    def caller() -> Caller:
        if "cometchat_caller" not in g:
            g.cometchat_caller = identify_caller(request)
        return g.cometchat_caller

    def authorize(uid: Any, *, field: str = "uid") -> str:
        who = caller()  # 401 comes before 400: say nothing about inputs to strangers
        if not isinstance(uid, str):
            raise bad_request(f"The {field} must be a string.", field)
        uid = normalize_uid(uid)
        if not who.may_act_for(uid):
            raise ApiError(403, "ERR_FORBIDDEN", "You may only act on your own uid.")
        return uid

    limited: Callable[[Callable[..., Response]], Callable[..., Response]] = lambda view: view  # noqa: E731
    if limiter is not None:

        def user_key() -> str:
            return f"user:{caller().uid}"

        def not_a_user() -> bool:
            return caller().kind != "user"

        def is_service() -> bool:
            return caller().kind == "service"

        per_user = limiter.limit(per_user_limit, key_func=user_key, exempt_when=not_a_user, scope="cometchat-user")
        per_address = limiter.limit(
            per_address_limit, key_func=get_remote_address, exempt_when=is_service, scope="cometchat-address"
        )

        def limited(view: Callable[..., Response]) -> Callable[..., Response]:
            return per_address(per_user(view))

    def mint(uid: str) -> Response:
        body = read_json_object(MINT_FIELDS)
        for key in MINT_FIELDS & set(body):
            if not isinstance(body[key], str):
                raise bad_request(f"The {key} must be a string.", key)
        token, _created = get_client().get_or_create_token(uid, name=body.get("name"), avatar=body.get("avatar"))
        return no_store(jsonify({"uid": token.uid, "authToken": token.auth_token}))

    @bp.post("/token/<path:uid>")
    @limited
    def mint_for_uid(uid: str) -> Response:
        return mint(authorize(uid))

    @bp.post("/token")
    @limited
    def mint_for_caller() -> Response:
        who = caller()
        if who.uid is None:
            raise ApiError(
                401, "ERR_NO_USER_IDENTITY", "This route needs a user's token; use /token/<uid> with a service key."
            )
        return mint(who.uid)

    @bp.post("/users")
    @limited
    def create_user() -> Response:
        caller()
        body = read_json_object(CREATE_FIELDS, required=("uid", "name"))
        uid = authorize(body["uid"])
        if body.get("role") is not None and not caller().is_trusted:
            # A role decides what a user may do in the chat: never self-assigned.
            raise ApiError(403, "ERR_FORBIDDEN", "Only a service caller may set a role.")
        # The client validates every profile field before it makes any request.
        user = get_client().create_user(
            uid,
            body["name"],
            avatar=body.get("avatar"),
            link=body.get("link"),
            role=body.get("role"),
            metadata=body.get("metadata"),
            tags=body.get("tags"),
            with_auth_token=True,
        )
        response = jsonify({"user": user.to_dict(), "authToken": user.auth_token})
        response.status_code = 201
        return no_store(response)

    @bp.get("/users/<path:uid>")
    def get_user(uid: str) -> Response:
        uid = authorize(uid)
        return no_store(jsonify({"user": get_client().get_user(uid).to_dict()}))

    @bp.post("/token/<path:uid>/revoke")
    def revoke(uid: str) -> Response:
        uid = authorize(uid)
        body = read_json_object(frozenset({"authToken", "all"}))
        if set(body) == {"authToken"}:
            token = body["authToken"]
            if not isinstance(token, str):
                raise bad_request("The authToken must be a string.", "authToken")
            get_client().delete_auth_token(uid, check_auth_token(token))
            return no_store(jsonify({"uid": uid, "revoked": "token"}))
        if set(body) == {"all"} and body["all"] is True:  # not 1, not "true"
            get_client().flush_auth_tokens(uid)
            return no_store(jsonify({"uid": uid, "revoked": "all"}))
        raise bad_request('Send {"authToken": "<token>"} to revoke one token, or {"all": true} to revoke all.')

    return bp
