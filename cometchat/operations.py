"""What each client method does, written once for both clients, with no I/O.

Each operation is a generator: it validates its input, yields the ``Call``s it needs one
at a time, receives each decoded answer (or the call's error, thrown in where it yielded),
and returns the method's typed result. ``CometChatClient`` drives an operation with
blocking calls, ``AsyncCometChatClient`` with awaited ones; the rules (validation, the
shape checks, recovering our own retried create or revoke) live here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Generator, Mapping, Sequence, TypeVar

from . import endpoints, validation
from .endpoints import MAX_IMPORT_USERS, MAX_REACTIVATE_UIDS, Endpoint
from .errors import (
    AuthTokenNotFoundError,
    CometChatError,
    PushTokenNotFoundError,
    UidAlreadyExistsError,
    UidNotFoundError,
    UpstreamBadResponseError,
    ValidationError,
)
from .models import AuthToken, ImportOutcome, Profile, PushToken, User

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One CometChat call an operation asks for."""

    endpoint: Endpoint
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    query: Mapping[str, Any] | None = None


Op = Generator[Call, dict[str, Any], T]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    more: bool


def data_object(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise UpstreamBadResponseError("CometChat answered with an unexpected data shape")
    return data


def data_for(uid: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The data object of an answer about ``uid`` (normalised): an answer about any other
    user (a confused proxy, a cache, a bug upstream) must never reach this uid's caller."""
    data = data_object(body)
    if validation.uid_or_none(str(data.get("uid", ""))) != uid:
        raise UpstreamBadResponseError("CometChat answered about another uid than the one asked for")
    return data


# ---- users -------------------------------------------------------------------------------


def create_user(
    uid: str,
    name: str,
    *,
    avatar: str | None = None,
    link: str | None = None,
    role: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    status_message: str | None = None,
    with_auth_token: bool = False,
) -> Op[User]:
    uid = validation.normalize_uid(uid)
    profile = Profile(name=name, avatar=avatar, link=link, role=role, metadata=metadata, tags=tags)
    body = validation.check_user_fields({**profile.to_api(), "statusMessage": status_message})
    body["uid"] = uid
    if with_auth_token:
        body["withAuthToken"] = True
    try:
        answer = yield Call(endpoints.CREATE_USER, body=body)
    except UidAlreadyExistsError as exc:
        if not exc.maybe_applied:
            raise
        existing = yield from get_user(uid)
        if existing.name != body["name"]:
            raise  # someone else's user took the uid meanwhile: a real conflict
        if not with_auth_token:
            return existing
        token = yield from create_auth_token(uid, force=True)
        return replace(existing, auth_token=token.auth_token)
    return User.from_api(data_for(uid, answer))


def get_user(uid: str) -> Op[User]:
    uid = validation.normalize_uid(uid)
    answer = yield Call(endpoints.GET_USER, {"uid": uid})
    return User.from_api(data_for(uid, answer))


def update_user(
    uid: str,
    *,
    name: str | None = None,
    avatar: str | None = None,
    link: str | None = None,
    role: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    status_message: str | None = None,
    unset: Sequence[str] = (),
) -> Op[User]:
    uid = validation.normalize_uid(uid)
    profile = Profile(name=name, avatar=avatar, link=link, role=role, metadata=metadata, tags=tags)
    body = validation.check_user_fields({**profile.to_api(), "statusMessage": status_message}, require_name=False)
    if unset:
        body["unset"] = validation.check_unset(unset)
    answer = yield Call(endpoints.UPDATE_USER, {"uid": uid}, body=body)
    return User.from_api(data_for(uid, answer))


def delete_user(uid: str, *, permanent: bool = False) -> Op[None]:
    uid = validation.normalize_uid(uid)
    try:
        yield Call(endpoints.DELETE_USER, {"uid": uid}, body={"permanent": True} if permanent else None)
    except UidNotFoundError as exc:
        if not exc.maybe_applied:  # else our own earlier attempt did it
            raise


def reactivate_users(uids: Sequence[str]) -> Op[list[str]]:
    checked = [validation.normalize_uid(uid) for uid in uids]
    if not 1 <= len(checked) <= MAX_REACTIVATE_UIDS:
        raise validation.invalid("uidsToActivate", f"Send 1 to {MAX_REACTIVATE_UIDS} uids.")
    answer = yield Call(endpoints.REACTIVATE_USERS, body={"uidsToActivate": checked})
    listed = data_object(answer).get("nonDeactivatedUids", [])
    if not isinstance(listed, list):
        raise UpstreamBadResponseError("CometChat answered a reactivation with an unexpected shape")
    return [str(uid) for uid in listed]


def users_query(per_page: int, search_key: str | None, status: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"perPage": validation.check_per_page(per_page)}
    if search_key:
        query["searchKey"] = search_key
    if status:
        query["status"] = validation.check_user_status(status)
    return query


def tokens_walk(uid: str, per_page: int) -> tuple[dict[str, str], dict[str, Any]]:
    """The path parameters and the query of a walk through a user's tokens."""
    return {"uid": validation.normalize_uid(uid)}, {"perPage": validation.check_per_page(per_page)}


def page(endpoint: Endpoint, params: Mapping[str, str], query: Mapping[str, Any], number: int) -> Op[Page]:
    """One page of a list call, and whether another follows."""
    answer = yield Call(endpoint, params, query={**query, "page": number})
    items = answer.get("data")
    if not isinstance(items, list):
        raise UpstreamBadResponseError("CometChat answered a list call without a list")
    pagination = (answer.get("meta") or {}).get("pagination") or {}
    total_pages = pagination.get("total_pages")
    return Page(items, bool(items) and isinstance(total_pages, int) and number < total_pages)


# ---- auth tokens -------------------------------------------------------------------------


def create_auth_token(uid: str, *, force: bool = True) -> Op[AuthToken]:
    uid = validation.normalize_uid(uid)
    answer = yield Call(endpoints.MINT_TOKEN, {"uid": uid}, body={"force": True} if force else {})
    return AuthToken.from_api(data_for(uid, answer))


def get_auth_token(uid: str, auth_token: str) -> Op[AuthToken]:
    uid = validation.normalize_uid(uid)
    auth_token = validation.check_auth_token(auth_token)
    answer = yield Call(endpoints.GET_TOKEN, {"uid": uid, "authToken": auth_token})
    return AuthToken.from_api(data_for(uid, answer))


def delete_auth_token(uid: str, auth_token: str) -> Op[None]:
    uid = validation.normalize_uid(uid)
    auth_token = validation.check_auth_token(auth_token)
    try:
        yield Call(endpoints.DELETE_TOKEN, {"uid": uid, "authToken": auth_token})
    except AuthTokenNotFoundError as exc:
        if not exc.maybe_applied:  # else our own earlier attempt revoked it
            raise


def flush_auth_tokens(uid: str) -> Op[None]:
    uid = validation.normalize_uid(uid)
    yield Call(endpoints.FLUSH_TOKENS, {"uid": uid})


def mint_token(uid: str, *, name: str | None = None, avatar: str | None = None) -> Op[tuple[AuthToken, bool]]:
    uid = validation.normalize_uid(uid)
    profile = validation.check_user_fields({"name": name or uid, "avatar": avatar})
    try:
        return (yield from create_auth_token(uid, force=True)), False
    except UidNotFoundError:
        pass
    try:
        user = yield from create_user(uid, profile["name"], avatar=profile.get("avatar"), with_auth_token=True)
    except UidAlreadyExistsError:
        return (yield from create_auth_token(uid, force=True)), False
    if not user.auth_token:
        raise UpstreamBadResponseError("CometChat created the user but returned no authToken")
    return AuthToken(uid=user.uid, auth_token=user.auth_token, created_at=user.created_at), True


# ---- push tokens -------------------------------------------------------------------------


def _push_tokens(auth_token: str, answer: Mapping[str, Any]) -> list[PushToken]:
    """The registrations of ``auth_token`` in an answer: one about another token is dropped."""
    items = data_object(answer).get("pushTokens")
    if not isinstance(items, list):
        raise UpstreamBadResponseError("CometChat answered a push token call without a pushTokens list")
    tokens = [PushToken.from_api(item) for item in items if isinstance(item, dict)]
    return [token for token in tokens if token.auth_token == auth_token]


def register_push_token(auth_token: str, push_token: str, platform: str, *, provider_id: str | None = None) -> Op[None]:
    """What the SDK's ``registerPushToken`` does for a signed-in device (tests and tools)."""
    body = {
        "authToken": validation.check_auth_token(auth_token),
        "pushToken": validation.check_push_token(push_token),
        "platform": validation.check_push_name("platform", platform),
    }
    if provider_id is not None:
        body["providerId"] = validation.check_push_name("providerId", provider_id)
    yield Call(endpoints.REGISTER_PUSH_TOKEN, body=body)


def list_push_tokens(auth_token: str) -> Op[list[PushToken]]:
    auth_token = validation.check_auth_token(auth_token)
    answer = yield Call(endpoints.LIST_PUSH_TOKENS, query={"authToken": auth_token})
    return _push_tokens(auth_token, answer)


def delete_push_token(push_token: str, auth_token: str) -> Op[None]:
    push_token = validation.check_push_token(push_token)
    auth_token = validation.check_auth_token(auth_token)
    try:
        yield Call(endpoints.DELETE_PUSH_TOKEN, {"pushToken": push_token}, body={"authToken": auth_token})
    except PushTokenNotFoundError as exc:
        if not exc.maybe_applied:  # else our own earlier attempt deleted it
            raise


# ---- data import -------------------------------------------------------------------------


def import_users(users: Mapping[str, Mapping[str, Any]]) -> Op[dict[str, ImportOutcome]]:
    rows: dict[str, dict[str, Any]] = {}
    for raw_uid, fields in users.items():
        uid = validation.normalize_uid(raw_uid)
        rows[uid] = {"uid": uid, **validation.check_user_fields(fields)}
    if not 1 <= len(rows) <= MAX_IMPORT_USERS or len(rows) != len(users):
        raise validation.invalid("users", f"Send 1 to {MAX_IMPORT_USERS} distinct uids.")
    answer = data_object((yield Call(endpoints.IMPORT_USERS, body={"users": rows})))
    outcomes: dict[str, ImportOutcome] = {}
    for key, row in answer.items():
        answered = validation.uid_or_none(str(key))
        if answered is None or answered not in rows:
            continue  # not ours: never trust an answer about a uid we did not send
        if not isinstance(row, dict):
            raise UpstreamBadResponseError("CometChat answered an import row with an unexpected shape")
        if row.get("success") is True and isinstance(row.get("data"), dict):
            outcomes[answered] = ImportOutcome(answered, user=User.from_api(row["data"]))
        else:
            outcomes[answered] = ImportOutcome(answered, error=_row_error(row.get("error")))
    return outcomes


def _row_error(envelope: Any) -> CometChatError:
    """The error of one failed import row, from its ``error`` object."""
    envelope = envelope if isinstance(envelope, dict) else {}
    code = str(envelope.get("code") or "") or None
    message = str(envelope.get("message") or "") or "CometChat did not import this row"
    details = envelope.get("details") if isinstance(envelope.get("details"), dict) else None
    kind = {"ERR_UID_ALREADY_EXISTS": UidAlreadyExistsError, "ERR_BAD_REQUEST": ValidationError}
    return kind.get(code or "", CometChatError)(message, code=code, details=details)
