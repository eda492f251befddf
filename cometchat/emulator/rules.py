"""CometChat's documented input rules and error answers, as the emulator enforces them.

Written from the API's documentation (``docs/cometchat-api.md``), never imported from the
client's own validation: the emulator is the oracle the client is tested against, so a
wrong belief in the client must not become a wrong rule here.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

UID_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")  # ASCII only: "\u212a".lower() is a plain "k"
DIGITS_RE = re.compile(r"[0-9]{1,12}")
URL_RE = re.compile(r"https?://\S+")
MAX_NAME = 100
MAX_URL = 3000
MAX_TAGS = 25
MAX_TAG = 100
UNSETTABLE = ("avatar", "link", "metadata")
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 100
BAD_REQUEST_MESSAGE = "Failed to validate the data sent with the request."


class EmulatorError(Exception):
    """An answer in CometChat's error envelope."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(
    code: str, message: str, details: dict[str, Any] | None = None, dev_message: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "devMessage": dev_message or message, "source": "chat-api"}
    if details:
        error["details"] = details
    error["code"] = code
    return {"error": error}


def bad_request(field: str, message: str) -> EmulatorError:
    return EmulatorError(400, "ERR_BAD_REQUEST", BAD_REQUEST_MESSAGE, {field: [message]})


def uid_not_found(uid: str) -> EmulatorError:
    return EmulatorError(
        404,
        "ERR_UID_NOT_FOUND",
        f"The UID {uid} does not exist, please make sure you have created a user with UID {uid}.",
    )


def uid_exists(uid: str) -> EmulatorError:
    return EmulatorError(400, "ERR_UID_ALREADY_EXISTS", f"The UID {uid} already exists. Please use a different UID.")


def token_not_found() -> EmulatorError:
    return EmulatorError(404, "ERR_AUTH_TOKEN_NOT_FOUND", "Auth token does not exist.")


def check_uid(value: Any) -> str:
    """1..100 of a-z, 0-9, ``_``, ``-``; CometChat lowercases a uid on create and on lookup."""
    if value is None or value == "":
        raise bad_request("uid", "The uid field is required.")
    if not isinstance(value, str) or not UID_RE.fullmatch(value):
        raise bad_request("uid", "The uid may only contain letters, numbers, dashes and underscores (1 to 100).")
    return value.lower()


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request("name", "The name field is required.")
    if len(value) > MAX_NAME:
        raise bad_request("name", f"The name may not be greater than {MAX_NAME} characters.")
    return value


def _check_url(field: str, value: Any) -> str:
    if not isinstance(value, str) or not URL_RE.fullmatch(value):
        raise bad_request(field, f"The {field} format is invalid.")
    if len(value) > MAX_URL:
        raise bad_request(field, f"The {field} may not be greater than {MAX_URL} characters.")
    return value


def _check_string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise bad_request(field, f"The {field} must be a string.")
    return value


def _check_tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise bad_request("tags", "The tags must be an array.")
    if len(value) > MAX_TAGS:
        raise bad_request("tags", f"The tags may not have more than {MAX_TAGS} items.")
    if any(not isinstance(tag, str) or len(tag) > MAX_TAG for tag in value):
        raise bad_request("tags", f"Each tag must be a string of at most {MAX_TAG} characters.")
    return value


def _check_metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("metadata", "The metadata must be a JSON object.")
    return value


def check_profile(body: Mapping[str, Any], *, require_name: bool) -> dict[str, Any]:
    """The stored profile fields of a create or update body; null or absent fields are left out."""
    fields: dict[str, Any] = {}
    if require_name or "name" in body:
        fields["name"] = _check_name(body.get("name"))
    for key in ("avatar", "link"):
        if body.get(key) is not None:
            fields[key] = _check_url(key, body[key])
    for key in ("role", "statusMessage"):
        if body.get(key) is not None:
            fields[key] = _check_string(key, body[key])
    if body.get("metadata") is not None:
        fields["metadata"] = _check_metadata(body["metadata"])
    if body.get("tags") is not None:
        fields["tags"] = _check_tags(body["tags"])
    return fields


def check_unset(value: Any) -> list[str]:
    if not isinstance(value, list) or any(key not in UNSETTABLE for key in value):
        raise bad_request("unset", "The unset may only contain avatar, link and metadata.")
    return value


def check_timestamp(field: str, value: Any) -> int:
    """The import API takes UNIX seconds as numbers or digit strings and answers integers."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not DIGITS_RE.fullmatch(str(value)):
        raise bad_request(field, f"The {field} must be a UNIX timestamp in seconds.")
    return int(value)


def check_page(per_page: str | None, page: str | None) -> tuple[int, int]:
    try:
        per_page_n = int(per_page) if per_page is not None else DEFAULT_PER_PAGE
        page_n = int(page) if page is not None else 1
    except ValueError:
        raise bad_request("perPage", "The perPage and page must be integers.") from None
    if not 1 <= per_page_n <= MAX_PER_PAGE:
        raise bad_request("perPage", f"The per page must be between 1 and {MAX_PER_PAGE}.")
    if page_n < 1:
        raise bad_request("page", "The page must be at least 1.")
    return per_page_n, page_n
