"""The Flask app as an ASGI app for uvicorn: ``a2wsgi`` runs it in a thread pool, and a thread is
taken only once the request is whole. Before that, in the event loop: a head with too many
header lines or bytes (its target included) is answered 431; one framed by both
``Content-Length`` and ``Transfer-Encoding`` 400 (RFC 9112 6.1: a smuggling risk, so the
connection closes); one announcing a body past the read cap 413 at once (no ``100 Continue``).
The body is read within its time limit (past it, 408) and at most one byte past the read cap,
the largest any route accepts (the webhook receiver's); each route answers its own 413 below it
(the connection then closes, the rest of the body unread). The app is told the body's length
(``Content-Length``), however it was framed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from a2wsgi import WSGIMiddleware

from .. import codes
from .bounds import Bounds

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
DEFAULT_MAX_BODY = 1024 * 1024


TOO_LARGE = json.dumps(
    {"error": {"code": codes.ERR_BODY_TOO_LARGE, "message": "The request body is too large."}}
).encode()


async def _answer(send: Send, status: int, text: bytes, content_type: bytes = b"text/plain; charset=utf-8") -> None:
    headers = [(b"content-type", content_type), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


def _closing(send: Send) -> Send:
    async def send_and_close(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
        await send(message)

    return send_and_close


class BodyFirst:
    """ASGI around a WSGI app: the request whole, within the bounds, before a thread serves it."""

    def __init__(
        self,
        wsgi_app: Any,
        *,
        threads: int,
        bounds: Bounds,
        max_body: int | None,
        path_caps: Mapping[str, int] | None = None,
    ) -> None:
        self.bounds = bounds
        self.max_body = max_body or DEFAULT_MAX_BODY
        # Paths that take more than the rest (the webhook receiver's 1 MiB): only a request to
        # one of them may hold that much memory while it arrives.
        self.path_caps = dict(path_caps or {})
        self.inner = WSGIMiddleware(wsgi_app, workers=threads)

    def cap_for(self, path: str) -> int:
        return self.path_caps.get(path, self.max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        headers = scope["headers"]
        # The head as parsed (h11 may take a whole one in a single read, past the protocol's check).
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(name) + len(value) + 4 for name, value in headers)
        if len(headers) > self.bounds.max_header_count or size > self.bounds.max_head_bytes:
            await _answer(send, 431, b"Request header fields too large\n")
            return
        names = {name for name, _ in headers}
        if b"content-length" in names and b"transfer-encoding" in names:
            await _answer(send, 400, b"Content-Length and Transfer-Encoding together\n")
            return
        cap = self.cap_for(scope.get("path", ""))
        declared = next((value for name, value in headers if name == b"content-length"), b"")
        if declared.isdigit() and int(declared) > cap:  # h11 has checked its syntax
            await _answer(send, 413, TOO_LARGE, b"application/json")
            return
        body = bytearray()
        more = True
        try:
            async with asyncio.timeout(self.bounds.body_timeout):
                while more and len(body) <= cap:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    more = message.get("more_body", False)
        except TimeoutError:
            from token_server.ops.metrics import CONNECTIONS_CLOSED

            CONNECTIONS_CLOSED.labels("body_timeout").inc()
            await _answer(send, 408, b"Request body not received in time\n")
            return
        whole = not more
        del body[cap + 1 :]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:  # a2wsgi stops at the end of the body; anything more means nothing more
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        # The app sees the length of what it is given (a chunked body included: WSGI has no
        # framing of its own); one byte past its cap makes its own 413.
        framed = [(name, value) for name, value in headers if name not in (b"content-length", b"transfer-encoding")]
        scope = {**scope, "headers": [*framed, (b"content-length", str(len(body)).encode())]}
        await self.inner(scope, replay, send if whole else _closing(send))
