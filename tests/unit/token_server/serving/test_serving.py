"""The connection layer's adapter (token_server/serving/) against uvicorn's real h11 protocol
and a2wsgi, in one event loop with a stand-in transport: what it reads of uvicorn (``cycle``,
``connections``) still means what it did, and each bound trips and leaves valid requests be.
The same bounds over real sockets at the Procfile's command: test_connection_attacks.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from token_server.serving import protocol as serving_protocol
from token_server.serving.asgi import BodyFirst
from token_server.serving.bounds import Bounds
from token_server.serving.protocol import BoundedH11Protocol


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"got " + body]


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    closes: list[str] = []
    monkeypatch.setattr(serving_protocol, "_count", closes.append)
    monkeypatch.setattr(serving_protocol, "_waiting_gauge", lambda value: None)
    monkeypatch.setattr(BoundedH11Protocol, "waiting", type(BoundedH11Protocol.waiting)())
    monkeypatch.setattr(BoundedH11Protocol, "parked", type(BoundedH11Protocol.parked)())
    monkeypatch.setattr(serving_protocol, "_warnings", serving_protocol._Throttled())
    return closes


def connection(
    bounds: Bounds, max_open: int = 100, state: ServerState | None = None
) -> tuple[BoundedH11Protocol, Transport]:
    BoundedH11Protocol.bounds = bounds
    BoundedH11Protocol.max_open = max_open
    app = BodyFirst(hello, threads=2, bounds=bounds, max_body=64)
    config = Config(app=app, http=BoundedH11Protocol, lifespan="off", access_log=False, proxy_headers=False)
    config.load()
    protocol = BoundedH11Protocol(config, state or ServerState(), {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def settle(transport: Transport, expected: bytes, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if expected in transport.written or transport.closed:
            return
        await asyncio.sleep(0.01)


POST = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"


def test_uvicorn_starts_a_new_cycle_on_a_whole_head_and_counts_connections(counted) -> None:
    async def run() -> None:
        protocol, transport = connection(Bounds())
        assert protocol in protocol.connections  # uvicorn's set of open connections
        assert protocol.cycle is None and protocol in BoundedH11Protocol.waiting
        protocol.data_received(POST[:20])
        assert protocol.cycle is None and protocol in BoundedH11Protocol.waiting
        protocol.data_received(POST[20:])
        assert protocol.cycle is not None and protocol.cycle.more_body  # the head, not yet the body
        assert protocol in BoundedH11Protocol.waiting
        protocol.data_received(b"hel")
        assert protocol.cycle.more_body and protocol in BoundedH11Protocol.waiting
        protocol.data_received(b"lo")
        assert not protocol.cycle.more_body and protocol not in BoundedH11Protocol.waiting  # the app's
        await settle(transport, b"got hello")
        assert b"200 OK" in transport.written and b"got hello" in transport.written
        assert not transport.closed and protocol not in BoundedH11Protocol.waiting  # kept alive, idle
        assert protocol in BoundedH11Protocol.parked

    asyncio.run(run())


def test_a_head_past_its_time_is_closed_and_a_whole_one_is_not(counted) -> None:
    async def run() -> None:
        slow, slow_transport = connection(Bounds(head_timeout=0.2))
        quick, quick_transport = connection(Bounds(head_timeout=0.2))
        slow.data_received(b"GET / HTTP/1.1\r\n")
        quick.data_received(POST + b"hello")
        await asyncio.sleep(0.1)
        assert b"got hello" in quick_transport.written and not quick_transport.aborted
        await asyncio.sleep(0.4)
        assert slow_transport.aborted and "head_timeout" in counted

    asyncio.run(run())


def test_past_max_waiting_the_oldest_is_closed(counted) -> None:
    async def run() -> None:
        bounds = Bounds(max_waiting=2)
        first, first_transport = connection(bounds)
        _, second_transport = connection(bounds)
        _, third_transport = connection(bounds)
        assert first_transport.aborted and not second_transport.aborted and not third_transport.aborted
        assert counted == ["waiting_cap"] and first not in BoundedH11Protocol.waiting

    asyncio.run(run())


def test_past_max_waiting_a_body_still_arriving_is_closed_oldest_first(counted) -> None:
    async def run() -> None:
        bounds = Bounds(max_waiting=2)
        slow, slow_transport = connection(bounds)
        slow.data_received(POST + b"h")  # a whole head, a body that never finishes
        _, second = connection(bounds)
        _, third = connection(bounds)
        assert slow_transport.aborted and not second.aborted and not third.aborted
        assert counted == ["waiting_cap"]

    asyncio.run(run())


def test_past_max_open_the_oldest_waiting_then_idle_is_closed_and_else_a_new_one(counted) -> None:
    async def run() -> None:
        state = ServerState()
        idle, idle_transport = connection(Bounds(), max_open=2, state=state)
        idle.data_received(POST + b"hello")
        await settle(idle_transport, b"got hello")
        assert idle in BoundedH11Protocol.parked  # kept alive, idle
        slow, slow_transport = connection(Bounds(), max_open=2, state=state)
        slow.data_received(POST + b"h")
        new, new_transport = connection(Bounds(), max_open=2, state=state)
        assert slow_transport.aborted and not idle_transport.closed and not new_transport.aborted
        slow.connection_lost(None)  # what the loop does after an abort
        new._forget()  # as if its request were with the app
        _, newer_transport = connection(Bounds(), max_open=2, state=state)
        assert idle_transport.aborted and not new_transport.aborted and not newer_transport.aborted
        assert counted == ["open_cap_oldest"] * 2
        BoundedH11Protocol.waiting.clear()
        BoundedH11Protocol.parked.clear()
        served, _ = connection(Bounds(), max_open=1, state=ServerState())
        served._forget()  # as if its request were with the app: nothing to close but a new one
        _, refused = connection(Bounds(), max_open=1, state=served.server_state)
        assert refused.aborted and counted[-1] == "open_cap"

    asyncio.run(run())


def test_closes_on_a_cap_are_logged_once_per_interval_with_their_count(counted, caplog) -> None:
    async def run() -> None:
        for _ in range(50):
            connection(Bounds(max_waiting=1))
        lines = [r.getMessage() for r in caplog.records if "waiting for a request" in r.getMessage()]
        assert len(lines) == 1 and counted.count("waiting_cap") == 49

    asyncio.run(run())


def test_a_head_growing_past_its_size_is_answered_431(counted) -> None:
    async def run() -> None:
        protocol, transport = connection(Bounds(max_head_bytes=100))
        protocol.data_received(b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * 200)
        assert transport.written.startswith(b"HTTP/1.1 431") and transport.closed
        assert counted == ["head_too_large"]
        small, small_transport = connection(Bounds(max_head_bytes=100))
        small.data_received(POST + b"hello")  # the twin
        await settle(small_transport, b"got hello")
        assert b"got hello" in small_transport.written

    asyncio.run(run())


def test_a_write_stalled_past_its_time_aborts_and_a_resumed_one_does_not(counted) -> None:
    async def run() -> None:
        stalled, stalled_transport = connection(Bounds(head_timeout=0.2))
        resumed, resumed_transport = connection(Bounds(head_timeout=0.2))
        for protocol in (stalled, resumed):
            protocol._cancel_head_timer()  # as if a request were being answered
        stalled.pause_writing()
        resumed.pause_writing()
        await asyncio.sleep(0.05)
        resumed.resume_writing()
        await asyncio.sleep(0.4)
        assert stalled_transport.aborted and not resumed_transport.aborted
        assert "write_timeout" in counted

    asyncio.run(run())


@pytest.mark.parametrize(
    ("sent", "status"),
    [(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe", b"408"), (POST + b"hello", b"200")],
)
def test_a_body_past_its_time_is_answered_408(counted, sent, status) -> None:
    async def run() -> None:
        protocol, transport = connection(Bounds(head_timeout=0.2))
        protocol.data_received(sent)
        await settle(transport, b"HTTP/1.1 " + status, seconds=2)
        assert transport.written.startswith(b"HTTP/1.1 " + status), transport.written

    asyncio.run(run())


@pytest.mark.parametrize(("count", "status"), [(101, b"431"), (99, b"200")])
def test_too_many_header_lines_are_answered_431(counted, count, status) -> None:
    async def run() -> None:
        protocol, transport = connection(Bounds())
        lines = b"".join(b"X-%d: v\r\n" % i for i in range(count - 2))
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n" + lines + b"Content-Length: 0\r\n\r\n")
        await settle(transport, b"HTTP/1.1")
        assert transport.written.startswith(b"HTTP/1.1 " + status), transport.written[:80]

    asyncio.run(run())


async def answer(sent: bytes, max_body: int = 64) -> Transport:
    bounds = Bounds()
    protocol, transport = connection(bounds)
    protocol.app = BodyFirst(hello, threads=2, bounds=bounds, max_body=max_body)  # type: ignore[assignment]
    protocol.data_received(sent)
    await settle(transport, b"HTTP/1.1")
    await asyncio.sleep(0.05)
    return transport


def test_content_length_with_transfer_encoding_is_400_and_the_next_request_never_served(counted) -> None:
    async def run() -> None:
        smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
        both = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        transport = await answer(both + smuggled)
        assert transport.written.startswith(b"HTTP/1.1 400") and transport.closed
        assert transport.written.count(b"HTTP/1.1") == 1
        chunked = await answer(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        assert b"got hi" in chunked.written  # the twin

    asyncio.run(run())


@pytest.mark.parametrize(("length", "status"), [(65, b"413"), (64, b"200")])
def test_a_declared_body_past_the_read_cap_is_413_at_once_without_100_continue(counted, length, status) -> None:
    async def run() -> None:
        head = b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % length
        transport = await answer(head, max_body=64)
        if status == b"413":
            assert transport.written.startswith(b"HTTP/1.1 413") and b"ERR_BODY_TOO_LARGE" in transport.written
        else:
            assert transport.written.startswith(b"HTTP/1.1 100")  # waits for the body, as asked

    asyncio.run(run())


@pytest.mark.parametrize(("size", "status"), [(17 * 1024, b"431"), (15 * 1024, b"200")])
def test_a_long_target_arriving_in_one_read_is_answered_431(counted, size, status) -> None:
    async def run() -> None:
        bounds = Bounds()
        protocol, transport = connection(bounds)
        protocol.max_open = 100
        protocol.data_received(b"GET /" + b"a" * size + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        await settle(transport, b"HTTP/1.1")
        assert transport.written.startswith(b"HTTP/1.1 " + status), transport.written[:80]

    asyncio.run(run())


def test_only_a_path_with_a_larger_cap_may_send_a_larger_body() -> None:
    # The webhook receiver takes 1 MiB; every other path no more than the app accepts (64 KB), so
    # thousands of waiting connections elsewhere never hold 1 MiB each.
    app = BodyFirst(hello, threads=2, bounds=Bounds(), max_body=64, path_caps={"/hooks": 200})
    assert app.cap_for("/hooks") == 200 and app.cap_for("/x") == 64

    async def call(path: str, body: bytes, declared: bool) -> tuple[int, bytes]:
        sent: list[dict] = []
        chunks = [{"type": "http.request", "body": body, "more_body": False}]
        headers = [(b"host", b"x")] + ([(b"content-length", str(len(body)).encode())] if declared else [])
        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": headers, "http_version": "1.1", "scheme": "http", "server": ("x", 80),
                 "client": ("127.0.0.1", 1), "root_path": ""}

        async def receive() -> dict:
            return chunks.pop(0) if chunks else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    async def run() -> None:
        assert await call("/hooks", b"a" * 150, declared=True) == (200, b"got " + b"a" * 150)
        assert (await call("/x", b"a" * 150, declared=True))[0] == 413  # refused on its declared length
        status, answer = await call("/x", b"a" * 150, declared=False)  # chunked: cut one byte past the cap
        assert status == 200 and answer == b"got " + b"a" * 65

    asyncio.run(run())
