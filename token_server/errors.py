"""One JSON error shape for everything: ``{"error": {"code", "message"[, "details"]}}``."""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from cometchat import errors as upstream

from . import codes
from .nocache import no_store

log = logging.getLogger("token_server")

# How long to ask callers to wait when CometChat is down and said nothing itself.
DEFAULT_RETRY_AFTER = 5


class ApiError(Exception):
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


def bad_request(message: str, field: str | None = None) -> ApiError:
    details = {field: [message]} if field else None
    return ApiError(400, codes.ERR_BAD_REQUEST, message, details=details)


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = dict(details)
    response = jsonify({"error": body})
    no_store(response, status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


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
        # CometChat's own wording stays in the log (handle_cometchat_error).
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


def handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def handle_cometchat_error(exc: upstream.CometChatError) -> Response:
    mapped = from_upstream(exc)
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
    return handle_api_error(mapped)


def init_app(app: Flask) -> None:
    """App-wide: every error, including unknown routes and wrong methods, answers JSON."""
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(upstream.CometChatError, handle_cometchat_error)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        known = {
            400: (codes.ERR_BAD_REQUEST, "The request could not be understood."),
            404: (codes.ERR_NOT_FOUND, "No such route."),
            405: (codes.ERR_METHOD_NOT_ALLOWED, "This route does not accept that method."),
            413: (codes.ERR_BODY_TOO_LARGE, "The request body is too large."),
            415: (codes.ERR_UNSUPPORTED_MEDIA_TYPE, "Send JSON."),
        }
        code, message = known.get(status, (codes.http_code(status), exc.name))
        headers = {}
        allow = exc.get_response().headers.get("Allow") if status == 405 else None
        if allow:
            headers["Allow"] = allow
        return error_response(status, code, message, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error: %s", type(exc).__name__)
        return error_response(500, codes.ERR_INTERNAL, "Something went wrong on our side.")
