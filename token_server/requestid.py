"""Request ids, the pipeline's first step: one per request, on its answer, its log lines and its
CometChat calls, so one login can be followed through the logs."""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar, copy_context
from typing import Any, Callable, Iterable

from flask import Flask, request, request_started

from cometchat.wire import REQUEST_ID_HEADER, current_request_id

from .ops.redaction import redact

__all__ = ["REQUEST_ID_HEADER", "accept_request_id", "current_request_id", "current_route", "init_app"]

VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Where the id and the route wait in the WSGI environ for gunicorn's access log.
ENVIRON_REQUEST_ID = "token_server.request_id"
ENVIRON_ROUTE = "token_server.route"
ENVIRON_STARTED = "token_server.started"  # time.perf_counter() when the request came in

current_route: ContextVar[str | None] = ContextVar("token_server_route", default=None)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def accept_request_id(candidate: str | None, secrets: Iterable[str] = ()) -> str:
    """The caller's id if it is plain and bounded, else a new one (uuid4, hex). An id that looks
    like a credential (a JWT, a token, a configured secret) is replaced too: ids are logged
    as they are, outside the log filter."""
    if candidate and VALID_REQUEST_ID.fullmatch(candidate) and redact(candidate, secrets) == candidate:
        return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Puts the id (the caller's ``X-Request-ID`` when :func:`accept_request_id` keeps it) on
    every answer, errors and 404s included, and into ``cometchat.wire.current_request_id`` for
    the log lines and CometChat calls. A WSGI middleware rather than Flask hooks: it wraps
    everything the app answers, before any hook can refuse a request, and leaves the id in the
    environ for gunicorn's access line."""

    def __init__(self, app: WSGIApp, secrets: Iterable[str] = ()) -> None:
        self.app = app
        self.secrets = tuple(secrets)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = accept_request_id(environ.get("HTTP_X_REQUEST_ID"), self.secrets)
        environ[ENVIRON_REQUEST_ID] = request_id
        environ[ENVIRON_STARTED] = time.perf_counter()
        # A context of its own: the ids live exactly as long as the app handles this request,
        # and never linger in the server's thread for whatever it runs next.
        return copy_context().run(self._handle, request_id, environ, start_response)

    def _handle(self, request_id: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        current_request_id.set(request_id)
        current_route.set(None)

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.app(environ, start_with_id)


def _note_route(sender: Flask, **_: Any) -> None:
    """Record the route (the URL rule, never the raw path) once Flask has matched the URL, for
    the log lines and gunicorn's access line."""
    rule = request.url_rule
    if rule is not None:
        current_route.set(rule.rule)
        request.environ[ENVIRON_ROUTE] = rule.rule


def init_app(app: Flask, secrets: Iterable[str] = ()) -> None:
    """Give every answer of ``app`` a request id (``secrets``: ids never accepted as such)."""
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app, secrets)  # type: ignore[method-assign]
    # request_started comes before any before_request hook: a request a hook refuses is routed too.
    request_started.connect(_note_route, app)
