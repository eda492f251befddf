"""The core's :class:`~token_server.core.answers.Answer` as a Starlette response, and the
contract's JSON for the errors a FastAPI app raises itself (unknown route, wrong method)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from ..core.answers import Answer
from ..core.errors import http_error


def response_of(answer: Answer, request_id: str | None = None) -> Response:
    headers = dict(answer.headers)
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    if answer.body is None:
        return Response(status_code=answer.status, headers=headers)
    return JSONResponse(dict(answer.body), status_code=answer.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    allow = (exc.headers or {}).get("Allow") if isinstance(exc, HTTPException) else None
    return response_of(http_error(status, allow=allow))


def install_error_answers(app: FastAPI) -> None:
    """Answer ``app``'s own HTTP errors (a 404 for an unknown path, a 405) in the contract's
    shape ``{"error": {"code", "message"}}`` instead of FastAPI's ``{"detail": ...}``."""
    app.add_exception_handler(HTTPException, _http_error)
