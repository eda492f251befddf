"""Who may act on which uid, and the checks of the inputs every route shares."""

from __future__ import annotations

from typing import Any

from cometchat.validation import normalize_uid

from .. import codes
from ..auth import Caller
from ..devices import DEVICE_ID
from .errors import ApiError, bad_request


def authorize(caller: Caller, uid: Any) -> str:
    """The uid, normalised, if ``caller`` may act for it (else 400 or 403). The caller was
    identified before (a stranger's 401 comes first: say nothing about inputs to strangers)."""
    if not isinstance(uid, str):
        raise bad_request("The uid must be a string.", "uid")
    normalized: str = normalize_uid(uid)
    if not caller.may_act_for(normalized):
        raise ApiError(403, codes.ERR_FORBIDDEN, "You may only act on your own uid.")
    return normalized


def require_trusted(caller: Caller, message: str) -> None:
    if not caller.is_trusted:
        raise ApiError(403, codes.ERR_FORBIDDEN, message)


def own_uid(caller: Caller) -> str:
    """The uid of a caller that is an end user (``POST /token``); 401 for a service caller."""
    if caller.uid is None:
        raise ApiError(
            401, codes.ERR_NO_USER_IDENTITY, "This route needs a user's token; use /token/<uid> with a service key."
        )
    return caller.uid


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
