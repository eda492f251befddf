"""Both clients behind one blocking face, so that one contract suite runs against each:
``CometChatClient`` as it is, ``AsyncCometChatClient`` driven on an event loop of its own.
A scripted upstream serves each through its own mock: ``responses`` for requests,
``httpx.MockTransport`` for httpx, with the same steps and the same record of requests."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import httpx
import requests
import responses

from cometchat import AsyncCometChatClient, CometChatClient

KINDS = ("sync", "async")


@dataclass
class Step:
    method: str
    path: str  # after the base URL's path, e.g. /users/alice
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fail: str | None = None  # "broken", "read_timeout", "connect_timeout": no answer at all


@dataclass
class Sent:
    method: str
    path: str  # raw, as on the wire (percent-encoding kept)
    headers: dict[str, str]
    json: Any
    query: dict[str, str]


class Driver:
    """A client of either kind with blocking methods; ``iter_*`` return lists."""

    def __init__(self, kind: str, client: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.kind, self.client, self.loop = kind, client, loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if self.loop is None:
            return (lambda *a, **k: list(attr(*a, **k))) if name.startswith("iter_") else attr
        loop = self.loop
        if name.startswith("iter_"):

            async def collect(*a: Any, **k: Any) -> list[Any]:
                return [item async for item in attr(*a, **k)]

            return lambda *a, **k: loop.run_until_complete(collect(*a, **k))
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **k: loop.run_until_complete(attr(*a, **k))
        return attr

    def run(self, coroutine_or_value: Any) -> Any:
        """Await it on the driver's loop (async), or return it (sync)."""
        if self.loop is not None and inspect.isawaitable(coroutine_or_value):
            return self.loop.run_until_complete(coroutine_or_value)
        return coroutine_or_value

    def close(self) -> None:
        if self.loop is None:
            self.client.close()
        else:
            self.loop.run_until_complete(self.client.aclose())
            self.loop.close()


def make(kind: str, *, sleep: Callable[[float], None] | None = None, **kwargs: Any) -> Driver:
    """A client of ``kind``; ``sleep`` records the waits (the async client awaits it)."""
    if kind == "sync":
        return Driver(kind, CometChatClient(sleep=sleep or (lambda _s: None), **kwargs))

    async def asleep(seconds: float) -> None:
        if sleep is not None:
            sleep(seconds)

    return Driver(kind, AsyncCometChatClient(sleep=asleep, **kwargs), asyncio.new_event_loop())


class Upstream:
    """Steps served in order; what was sent is in ``sent``. ``client(kind)`` gives a client of
    that kind wired to it (``base``: the base URL it answers at)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.steps: list[Step] = []
        self.sent: list[Sent] = []
        self._mock: responses.RequestsMock | None = None

    def add(self, method: str, path: str, **kwargs: Any) -> None:
        self.steps.append(Step(method, path, **kwargs))

    def _take(self, method: str, raw_path: str) -> Step:
        assert self.steps, f"unexpected {method} {raw_path}"
        step = self.steps.pop(0)
        base_path = urlsplit(self.base).path
        assert (method, raw_path) == (step.method, base_path + step.path), (method, raw_path, step)
        return step

    def _record(self, method: str, raw: str, headers: Any, body: bytes | None) -> None:
        parts = urlsplit(raw)
        self.sent.append(
            Sent(
                method,
                parts.path,
                {k.lower(): v for k, v in headers.items()},
                json.loads(body) if body else None,
                dict(parse_qsl(parts.query)),
            )
        )

    # ---- requests, through `responses` ----------------------------------------------------

    def _responses_callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = request.url or ""
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode() or None
        parts = urlsplit(url)
        self._record(
            request.method or "", parts.path + ("?" + parts.query if parts.query else ""), request.headers, body
        )
        step = self._take(request.method or "", urlsplit(url).path)
        if step.fail == "broken":
            raise requests.ConnectionError("connection reset by peer")
        if step.fail == "read_timeout":
            raise requests.ReadTimeout("slow")
        if step.fail == "connect_timeout":
            raise requests.ConnectTimeout("no connection")
        content = step.body if step.body is not None else json.dumps(step.json).encode()
        return step.status, step.headers, content

    # ---- httpx, through MockTransport -----------------------------------------------------

    def _httpx_handler(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode()
        self._record(request.method, raw, request.headers, request.content or None)
        step = self._take(request.method, raw.split("?", 1)[0])
        if step.fail == "broken":
            raise httpx.ReadError("connection reset by peer", request=request)
        if step.fail == "read_timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if step.fail == "connect_timeout":
            raise httpx.ConnectTimeout("no connection", request=request)
        content = step.body if step.body is not None else json.dumps(step.json).encode()
        return httpx.Response(step.status, headers=step.headers, content=content)

    def client(self, kind: str, **kwargs: Any) -> Driver:
        if kind == "async":
            return make(kind, base_url=self.base, transport=httpx.MockTransport(self._httpx_handler), **kwargs)
        if self._mock is None:  # one mock for every client of this upstream
            mock = responses.RequestsMock(assert_all_requests_are_fired=False)
            mock.start()
            for method in ("GET", "POST", "PUT", "DELETE"):
                mock.add_callback(method, re.compile(re.escape(self.base) + ".*"), callback=self._responses_callback)
            self._mock = mock
        return make(kind, base_url=self.base, **kwargs)

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None
