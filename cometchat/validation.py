"""Local validation: a bad request is refused here and never costs an upstream call."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from .errors import ValidationError

UID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,100}")
MAX_NAME = 100
MAX_URL = 3000
MAX_TAGS = 25
MAX_TAG = 100
# CometChat's docs cap metadata somewhere between 1.6 K characters and 5 KB; we take 5 KB.
MAX_METADATA_BYTES = 5 * 1024
# Objects and arrays inside metadata: deeper would only reach Python's recursion limit.
MAX_METADATA_DEPTH = 32
MAX_ROLE = 100
MAX_STATUS_MESSAGE = 1024
# CometChat's list endpoints take perPage 1..1000 (default 100).
MAX_PER_PAGE = 1000
USER_STATUSES = ("available", "offline")
# CometChat's tokens are letters, digits, '_' and '-' (uid + '_' + digits + hex, seen so far).
# Nothing else is accepted: '.', '..' or '/' in a path would change which resource a call hits.
AUTH_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,512}")
# Push tokens (FCM, APNs) are printable ASCII without spaces, at most 4096 characters (CometChat's
# cap); the segment encoder keeps '/', '.' and ':' inside one path segment.
PUSH_TOKEN_PATTERN = re.compile(r"[!-~]{1,4096}")
# Push platforms are CometChat's names (fcm_android, apns_ios_device, ...); providers are ids.
PUSH_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,100}")

UNSETTABLE = ("avatar", "link", "metadata")


def invalid(field: str, message: str) -> ValidationError:
    return ValidationError(
        "Failed to validate the data sent with the request.",
        details={field: [message]},
    )


def normalize_uid(uid: Any) -> str:
    """Check a uid and lowercase it, as CometChat does on create and on every lookup."""
    if not isinstance(uid, str) or not UID_PATTERN.fullmatch(uid):
        raise invalid("uid", "The uid must be 1 to 100 characters of letters, digits, '_' or '-'.")
    return uid.lower()


def uid_or_none(uid: Any) -> str | None:
    """:func:`normalize_uid` for a uid someone else wrote (an upstream answer, a command
    line): None instead of an error when it is no valid uid."""
    try:
        return normalize_uid(uid)
    except ValidationError:
        return None


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid("name", "The name field is required.")
    if len(name) > MAX_NAME:
        raise invalid("name", f"The name may not be greater than {MAX_NAME} characters.")
    return name


def _check_url(field: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"https?://[^\s]+$", value):
        raise invalid(field, f"The {field} must be an http(s) URL.")
    if len(value) > MAX_URL:
        raise invalid(field, f"The {field} may not be greater than {MAX_URL} characters.")
    return value


def _check_short_text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise invalid(field, f"The {field} must be a string of at most {limit} characters.")
    return value


def _check_tags(value: Any) -> list[str]:
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise invalid("tags", f"The tags must be a list of at most {MAX_TAGS} strings.")
    for tag in value:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG:
            raise invalid("tags", f"Each tag must be a string of 1 to {MAX_TAG} characters.")
    return value


def _depth(value: Any) -> int:
    """How deep objects and arrays nest in ``value`` (without recursion)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > deepest:
                deepest = depth
                if deepest > MAX_METADATA_DEPTH:
                    break
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _check_metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("metadata", "The metadata must be a JSON object.")
    if _depth(value) > MAX_METADATA_DEPTH:
        raise invalid("metadata", f"The metadata may not nest more than {MAX_METADATA_DEPTH} levels deep.")
    try:  # NaN and infinities have no JSON form: sent, they would be invalid JSON
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise invalid("metadata", "The metadata may not hold NaN or infinite numbers.") from None
    except (TypeError, RecursionError):
        raise invalid("metadata", "The metadata must hold JSON values only, nested a sane depth.") from None
    if len(text.encode("utf-8")) > MAX_METADATA_BYTES:
        raise invalid("metadata", f"The metadata may not be larger than {MAX_METADATA_BYTES} bytes.")
    return value


def check_user_fields(fields: Mapping[str, Any], *, require_name: bool = True) -> dict[str, Any]:
    """Validate the optional profile fields of a user; returns the CometChat body (camelCase)."""
    body: dict[str, Any] = {}
    if require_name or "name" in fields:
        body["name"] = check_name(fields.get("name"))
    for key in ("avatar", "link"):
        if fields.get(key) is not None:
            body[key] = _check_url(key, fields[key])
    if fields.get("role") is not None:
        role = fields["role"]
        if not isinstance(role, str) or not UID_PATTERN.fullmatch(role) or len(role) > MAX_ROLE:
            raise invalid("role", "The role must be 1 to 100 characters of letters, digits, '_' or '-'.")
        body["role"] = role.lower()
    if fields.get("statusMessage") is not None:
        body["statusMessage"] = _check_short_text("statusMessage", fields["statusMessage"], MAX_STATUS_MESSAGE)
    if fields.get("metadata") is not None:
        body["metadata"] = _check_metadata(fields["metadata"])
    if fields.get("tags") is not None:
        body["tags"] = _check_tags(fields["tags"])
    return body


def check_unset(value: Any) -> list[str]:
    """The fields an update may remove (CometChat's ``unset``)."""
    if not isinstance(value, (list, tuple)) or any(key not in UNSETTABLE for key in value):
        raise invalid("unset", "Only avatar, link and metadata can be unset.")
    return list(value)


def check_auth_token(token: Any) -> str:
    if not isinstance(token, str) or not AUTH_TOKEN_PATTERN.fullmatch(token):
        raise invalid("authToken", "The authToken must be 1 to 512 characters of letters, digits, '_' or '-'.")
    return token


def check_push_token(token: Any) -> str:
    if not isinstance(token, str) or not PUSH_TOKEN_PATTERN.fullmatch(token):
        raise invalid("pushToken", "The pushToken must be 1 to 4096 printable characters without spaces.")
    return token


def check_push_name(field: str, value: Any) -> str:
    """A push platform or provider id."""
    if not isinstance(value, str) or not PUSH_NAME_PATTERN.fullmatch(value):
        raise invalid(field, f"The {field} must be 1 to 100 letters, digits, '_', '.' or '-'.")
    return value


def check_per_page(per_page: Any) -> int:
    if not isinstance(per_page, int) or isinstance(per_page, bool) or not 1 <= per_page <= MAX_PER_PAGE:
        raise invalid("perPage", f"perPage must be between 1 and {MAX_PER_PAGE}.")
    return per_page


def check_user_status(status: Any) -> str:
    if status not in USER_STATUSES:
        raise invalid("status", "The status must be 'available' or 'offline'.")
    return str(status)
