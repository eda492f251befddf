"""The CometChatError hierarchy and the one function that maps an upstream answer to it.

Every error carries the upstream HTTP status (None when no answer came back), the
upstream ``code``, a human message and the validation ``details``. ``dev_message`` is
kept for logs only: ``str()`` never includes it, nor any key or token.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from datetime import UTC, datetime
from typing import Any, Mapping, Protocol

# A Retry-After beyond this is not a wait anyone will sit out: callers are told this much.
MAX_RETRY_AFTER = 3600.0
# RFC 9110's delay-seconds: 1*DIGIT (str.isdigit would take other scripts' digits too).
DELAY_SECONDS = re.compile(r"[0-9]+")


class Answer(Protocol):
    """An HTTP answer as either client's library gives it (requests or httpx)."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class CometChatError(Exception):
    """Base class of everything this package raises."""

    default_code = "ERR_COMETCHAT"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        dev_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})
        self.dev_message = dev_message
        self.retry_after = retry_after
        # Set by the transport: CometChat may have acted on this call although it ends in this
        # error, because an attempt broke after it was sent (a dropped connection, a 502/504,
        # a timeout). A later "already exists" or "not found" may then be our own doing.
        self.maybe_applied = False

    def __str__(self) -> str:
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class ValidationError(CometChatError):
    """Bad input, refused locally before any request, or refused by CometChat (400)."""

    default_code = "ERR_BAD_REQUEST"


class UidAlreadyExistsError(CometChatError):
    """CometChat answers 400 ERR_UID_ALREADY_EXISTS on a duplicate create."""

    default_code = "ERR_UID_ALREADY_EXISTS"


class NotFoundError(CometChatError):
    default_code = "ERR_NOT_FOUND"


class UidNotFoundError(NotFoundError):
    default_code = "ERR_UID_NOT_FOUND"


class AuthTokenNotFoundError(NotFoundError):
    default_code = "ERR_AUTH_TOKEN_NOT_FOUND"


class PushTokenNotFoundError(NotFoundError):
    default_code = "ERR_TOKEN_NOT_FOUND"


class UpstreamAuthError(CometChatError):
    """CometChat rejected OUR REST key: a server misconfiguration, never the caller's fault."""

    default_code = "AUTH_ERR_APIKEY_REJECTED"


class RateLimitedError(CometChatError):
    """429 from CometChat that outlived our retry budget; ``retry_after`` in seconds when known."""

    default_code = "ERR_TOO_MANY_REQUESTS"


class UpstreamTimeoutError(CometChatError):
    """No answer within the read timeout or the total deadline."""

    default_code = "ERR_UPSTREAM_TIMEOUT"


class UpstreamUnavailableError(CometChatError):
    """Could not connect, the connection broke, or CometChat answered 503."""

    default_code = "ERR_UPSTREAM_UNAVAILABLE"


class UpstreamBadResponseError(CometChatError):
    """CometChat answered, but badly: a 5xx, an HTML page, malformed JSON, an unexpected shape."""

    default_code = "ERR_UPSTREAM_BAD_RESPONSE"


class UpstreamRequestError(CometChatError):
    """Any other 4xx (plan quota, unknown route...): we sent something CometChat refused."""

    default_code = "ERR_UPSTREAM_REFUSED"


_NOT_FOUND_BY_CODE: dict[str, type[NotFoundError]] = {
    "ERR_UID_NOT_FOUND": UidNotFoundError,
    "ERR_AUTH_TOKEN_NOT_FOUND": AuthTokenNotFoundError,
    "ERR_TOKEN_NOT_FOUND": PushTokenNotFoundError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, finite and within 0..MAX_RETRY_AFTER, or None when unusable.

    CometChat sends delay-seconds, which RFC 9110 spells as ASCII digits only; an HTTP date
    (the header's other legal form) is honoured too. Anything else (``1e3``, ``1.5``, ``inf``,
    ``nan``, a sign, garbage) is None: the caller falls back to its own backoff.
    """
    if not value:
        return None
    value = value.strip()
    if DELAY_SECONDS.fullmatch(value):
        # float, not int: no digit-count limit, and any length beyond the cap is the cap.
        return min(float(value), MAX_RETRY_AFTER)
    seconds = _seconds_until(value)
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _seconds_until(http_date: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _error_envelope(response: Answer) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def error_from_response(response: Answer) -> CometChatError:
    """Map a non-2xx answer (JSON envelope, HTML page or empty body) to its error class."""
    status = response.status_code
    envelope = _error_envelope(response)
    if envelope is not None:
        code = str(envelope.get("code") or "") or None
        message = str(envelope.get("message") or "") or f"CometChat answered {status}"
        details = envelope.get("details") if isinstance(envelope.get("details"), dict) else None
        dev_message = envelope.get("devMessage")
        dev_message = str(dev_message) if dev_message is not None else None
    else:
        code, details, dev_message = None, None, None
        message = f"CometChat answered {status} without a JSON error body"
        # Keep a short snippet of a non-JSON body for the logs, never for callers.
        snippet = response.content[:200].decode("utf-8", "replace").strip()
        dev_message = snippet or None
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "details": details,
        "dev_message": dev_message,
    }
    retry_after = parse_retry_after(response.headers.get("Retry-After"))

    if code == "ERR_UID_ALREADY_EXISTS":
        return UidAlreadyExistsError(message, **kwargs)
    if code in _NOT_FOUND_BY_CODE:
        return _NOT_FOUND_BY_CODE[code](message, **kwargs)
    if (code or "").startswith("AUTH_ERR") or status == 401:
        return UpstreamAuthError(message, **kwargs)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    if status == 503:
        return UpstreamUnavailableError(message, retry_after=retry_after, **kwargs)
    if status == 504:
        return UpstreamTimeoutError(message, **kwargs)
    if status >= 500 or envelope is None:
        return UpstreamBadResponseError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 400:
        return ValidationError(message, **kwargs)
    return UpstreamRequestError(message, **kwargs)
