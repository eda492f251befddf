"""An httpx transport that answers from a WSGI app in this process, with no socket: what
:mod:`cometchat.inprocess` is to the blocking client, for :class:`~cometchat.AsyncCometChatClient`
(a FastAPI host on the embedded emulator). The app runs in a worker thread, never on the event
loop; the request's body is read first, the answer's whole. Needs httpx (``[async]``) and the
app's own framework (the emulator: Flask, ``[server]``)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class AsyncWSGITransport(httpx.AsyncBaseTransport):
    def __init__(self, app: Any) -> None:
        self._sync = httpx.WSGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        answer = await asyncio.to_thread(self._answer, copy)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        answer = self._sync.handle_request(request)
        answer.read()
        return answer
