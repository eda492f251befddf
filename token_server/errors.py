"""Flask's side of the error mapping (:mod:`token_server.core.errors`): every failure answered
in the contract's JSON shape, ``{"error": {"code", "message"[, "details"]}}``."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from .core.answers import Answer
from .core.errors import (
    DEFAULT_RETRY_AFTER,
    MAPPED_ERRORS,
    ApiError,
    answer_for,
    bad_request,
    error_answer,
    from_upstream,
    http_error,
)

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "ApiError",
    "bad_request",
    "error_response",
    "from_upstream",
    "handle_error",
    "init_app",
    "respond",
]


def respond(answer: Answer) -> Response:
    """A core :class:`~token_server.core.answers.Answer` as a Flask response."""
    response = jsonify(answer.body) if answer.body is not None else Response(status=answer.status)
    response.status_code = answer.status
    response.headers.update(answer.headers)
    return response


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return respond(error_answer(status, code, message, details, headers))


def handle_error(exc: Exception) -> Response:
    """A failure the contract knows (:data:`~token_server.core.errors.MAPPED_ERRORS`), answered."""
    return respond(answer_for(exc))


def init_app(app: Flask) -> None:
    """App-wide: every error, including unknown routes and wrong methods, answers JSON."""
    for kind in MAPPED_ERRORS:
        app.register_error_handler(kind, handle_error)

    @app.errorhandler(HTTPException)
    def framework_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        allow = exc.get_response().headers.get("Allow") if status == 405 else None
        return respond(http_error(status, exc.name, allow=allow))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        return respond(answer_for(exc))  # not one the contract knows: logged, 500
