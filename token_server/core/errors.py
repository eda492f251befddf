"""The ONE error mapping: any failure of the routes -> the contract's status, code, message and
headers, ``{"error": {"code", "message"[, "details"]}}`` (:func:`answer_for`, for every host)."""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping

from cometchat import errors as upstream

from .. import codes
from .answers import NO_STORE_HEADERS, Answer

log = logging.getLogger("token_server")

# How long to ask callers to wait when CometChat is down and said nothing itself.
DEFAULT_RETRY_AFTER = 5
# ... when our device store is not answering, and when other logins of one device race.
STORE_RETRY_AFTER = "5"
BUSY_RETRY_AFTER = "1"

# The HTTP errors a framework raises itself (unknown route, wrong method, body too large, not JSON).
HTTP_ERRORS: Mapping[int, tuple[str, str]] = {
    400: (codes.ERR_BAD_REQUEST, "The request could not be understood."),
    404: (codes.ERR_NOT_FOUND, "No such route."),
    405: (codes.ERR_METHOD_NOT_ALLOWED, "This route does not accept that method."),
    413: (codes.ERR_BODY_TOO_LARGE, "The request body is too large."),
    415: (codes.ERR_UNSUPPORTED_MEDIA_TYPE, "Send JSON."),
}


class ApiError(Exception):
    """A refusal in the contract's terms; raise it anywhere on the request path."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


# What answer_for maps to the contract; anything else is a bug (500, logged with its trace).
MAPPED_ERRORS: tuple[type[Exception], ...] = (ApiError, upstream.CometChatError)


def device_busy(message: str = "Other logins of this device are replacing its token; try again shortly.") -> ApiError:
    """Concurrent logins of one device kept replacing its token (``DeviceBusy``)."""
    return ApiError(503, codes.ERR_DEVICE_BUSY, message, headers={"Retry-After": BUSY_RETRY_AFTER})


def session_unreadable() -> ApiError:
    """A device's token sealed with a key this server does not hold (``TokenUnreadable``): it was
    not revoked, so never ``"revoked": true``; it is still live upstream."""
    return ApiError(
        409,
        codes.ERR_SESSION_UNREADABLE,
        "The device's token was sealed with a key this server does not hold (SESSION_STORE_KEY): "
        "it was not revoked. Add the older key to SESSION_STORE_KEY, or revoke the user's tokens.",
    )


def store_unavailable() -> ApiError:
    """The device store did not answer a call that has no answer without it (``StoreUnavailable``)."""
    return ApiError(
        503,
        codes.ERR_STORE_UNAVAILABLE,
        "The session store is not answering; try again shortly.",
        headers={"Retry-After": STORE_RETRY_AFTER},
    )


def user_deleted() -> ApiError:
    """A uid deprovisioned by ``DELETE /users/<uid>`` while its tombstone lasts: 404, as CometChat
    answers a deactivated or deleted uid (the user is gone, for the caller too)."""
    return ApiError(404, codes.ERR_UID_NOT_FOUND, "This user was deleted.")


def tombstones_unavailable() -> ApiError:
    """The store of deleted users did not answer a call that has no answer without it."""
    return ApiError(
        503,
        codes.ERR_STORE_UNAVAILABLE,
        "The store of deleted users is not answering; try again shortly.",
        headers={"Retry-After": STORE_RETRY_AFTER},
    )


def bad_request(message: str, field: str | None = None) -> ApiError:
    details = {field: [message]} if field else None
    return ApiError(400, codes.ERR_BAD_REQUEST, message, details=details)


def error_answer(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = dict(details)
    return Answer(status, {"error": body}, {**NO_STORE_HEADERS, **(headers or {})})


def http_error(status: int, name: str = "", *, allow: str | None = None) -> Answer:
    """The answer to an HTTP error a framework raised itself (``Allow`` with a 405)."""
    code, message = HTTP_ERRORS.get(status, (codes.http_code(status), name or "Error"))
    return error_answer(status, code, message, headers={"Allow": allow} if allow and status == 405 else None)


def _retry_after(seconds: float | None) -> dict[str, str]:
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        seconds = DEFAULT_RETRY_AFTER
    return {"Retry-After": str(max(int(math.ceil(seconds)), 1))}


def from_upstream(exc: upstream.CometChatError) -> ApiError:
    """Translate a client error into what our caller sees: upstream failures map to 502/503/504;
    an upstream rejection of OUR REST key is a 502, logged loudly, never a 401 to the caller.
    Upstream ``devMessage`` and raw bodies go to the log only."""
    if isinstance(exc, upstream.ValidationError):
        if exc.status is None:  # refused by the client's own checks: our words, safe to show
            return ApiError(400, codes.ERR_BAD_REQUEST, exc.message, details=exc.details)
        # CometChat's own wording stays in the log (answer_for).
        return ApiError(400, codes.ERR_BAD_REQUEST, "The chat service refused these values.")
    if isinstance(exc, upstream.UidAlreadyExistsError):
        return ApiError(409, codes.ERR_UID_ALREADY_EXISTS, "A user with this uid already exists.")
    if isinstance(exc, upstream.UidNotFoundError):
        return ApiError(404, codes.ERR_UID_NOT_FOUND, "No user with this uid exists.")
    if isinstance(exc, upstream.AuthTokenNotFoundError):
        return ApiError(404, codes.ERR_AUTH_TOKEN_NOT_FOUND, "This auth token does not exist.")
    if isinstance(exc, upstream.UpstreamAuthError):
        return ApiError(502, codes.ERR_UPSTREAM_MISCONFIGURED, "The chat service rejected this server's credentials.")
    if isinstance(exc, upstream.RateLimitedError):
        return ApiError(
            503,
            codes.ERR_UPSTREAM_RATE_LIMITED,
            "The chat service is busy; try again later.",
            headers=_retry_after(exc.retry_after),
        )
    if isinstance(exc, upstream.UpstreamUnavailableError):
        return ApiError(
            503,
            codes.ERR_UPSTREAM_UNAVAILABLE,
            "The chat service is unavailable; try again later.",
            headers=_retry_after(exc.retry_after),
        )
    if isinstance(exc, upstream.UpstreamTimeoutError):
        return ApiError(504, codes.ERR_UPSTREAM_TIMEOUT, "The chat service did not answer in time.")
    return ApiError(502, codes.ERR_UPSTREAM_BAD_RESPONSE, "The chat service answered badly.")


def to_api_error(exc: BaseException) -> ApiError | None:
    """``exc`` in the contract's terms; None for an exception the contract does not know (a bug)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, upstream.CometChatError):
        mapped = from_upstream(exc)
        _log_upstream(exc, mapped)
        return mapped
    return None


def answer_for(exc: BaseException) -> Answer:
    """The answer to any failure: the contract's for the ones it knows, else a logged 500."""
    mapped = to_api_error(exc)
    if mapped is None:
        log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
        return error_answer(500, codes.ERR_INTERNAL, "Something went wrong on our side.")
    return error_answer(mapped.status, mapped.code, mapped.message, mapped.details, mapped.headers)


def _log_upstream(exc: upstream.CometChatError, mapped: ApiError) -> None:
    if mapped.status >= 500 or exc.status is not None and mapped.status == 400:
        level = logging.ERROR if isinstance(exc, upstream.UpstreamAuthError) else logging.WARNING
        log.log(
            level,
            "upstream failure -> %d: %s %r (devMessage: %s)",
            mapped.status,
            type(exc).__name__,
            str(exc),
            exc.dev_message,
        )
    if isinstance(exc, upstream.UpstreamAuthError):
        log.error("CometChat REJECTED OUR REST KEY: check COMETCHAT_API_KEY and its scope (fullAccess)")
