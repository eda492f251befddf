"""uvicorn's h11 protocol with the bounds it lacks: a time limit on each request's head (uvicorn
times out only an idle kept-alive connection, and only until its first byte), a 431 past a size
while the head is still arriving, a cap on the connections waiting for a head (the oldest is
closed), a cap on open connections, and a time limit on a write the client does not read.

Everything here uses asyncio's protocol interface (``connection_made``, ``data_received``,
``pause_writing``...) around uvicorn's own methods, plus two of uvicorn's attributes, ``cycle``
(the request being served: a new one means a whole head arrived) and ``connections``;
tests/unit/token_server/serving/test_serving.py fails if uvicorn renames them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections import OrderedDict
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

from .bounds import Bounds

log = logging.getLogger("gunicorn.error")
# A close with request bytes still unread (a body refused before its end) shuts our side, then
# reads and drops what the client still sends for up to this long: closed at once, the kernel
# would answer with a reset that can destroy the answer before the client reads it (RFC 9112 9.6).
LINGER_SECONDS = 2.0

TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 32\r\nConnection: close\r\n\r\nRequest header fields too large\n"
)


def _count(reason: str) -> None:
    from token_server.ops.metrics import CONNECTIONS_CLOSED  # after gunicorn.conf.py set up the metrics folder

    CONNECTIONS_CLOSED.labels(reason).inc()


def _waiting_gauge(value: int) -> None:
    from token_server.ops.metrics import CONNECTIONS_WAITING

    CONNECTIONS_WAITING.set(value)


class _LingeringTransport:
    """The connection's transport as uvicorn sees it: ``close()`` lingers (see LINGER_SECONDS)."""

    def __init__(self, transport: asyncio.Transport, protocol: BoundedH11Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        self._protocol.linger()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()


class BoundedH11Protocol(H11Protocol):
    """One connection; the class holds the worker's bounds and its waiting connections."""

    bounds: ClassVar[Bounds] = Bounds()
    max_open: ClassVar[int] = Bounds().max_waiting + 1000
    waiting: ClassVar[OrderedDict[BoundedH11Protocol, None]] = OrderedDict()  # oldest first

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._pending = False
        self._lingering: asyncio.TimerHandle | None = None
        self._raw: asyncio.Transport | None = None

    # -- a connection arrives, and waits for its request's head -----------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport  # type: ignore[assignment]
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        if len(self.connections) > self.max_open:
            log.warning("open connections past %d: a new one is closed", self.max_open)
            _count("open_cap")
            self.transport.abort()
            return
        self._await_head()

    def _await_head(self, *, join: bool = True) -> None:
        """Start the head's time limit; with ``join``, count the connection among the waiting
        ones at once. A kept-alive connection joins them only when its next request's first
        bytes arrive: idle between requests, it is bounded by the keep-alive timeout and never
        closed to make room (its caller may be sending its next request this very moment)."""
        self._head_bytes = 0
        self._pending = True
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.bounds.head_timeout, self._head_expired)
        if join:
            self._join_waiting()

    def _join_waiting(self) -> None:
        waiting = type(self).waiting
        while len(waiting) >= self.bounds.max_waiting:
            oldest, _ = waiting.popitem(last=False)
            log.warning("connections waiting for a head past %d: the oldest is closed", self.bounds.max_waiting)
            _count("waiting_cap")
            oldest._close()
        waiting[self] = None
        _waiting_gauge(len(waiting))

    def _head_arrived(self) -> None:
        self._pending = False
        self._cancel_head_timer()
        if type(self).waiting.pop(self, 0) is None:
            _waiting_gauge(len(type(self).waiting))

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        _count("head_timeout")
        self._close()

    def _close(self) -> None:
        self._head_arrived()
        self.transport.abort()  # nothing to say to a client that never sent a whole head

    # -- bytes arrive -----------------------------------------------------------------------

    @property
    def lingering(self) -> bool:
        return self._lingering is not None

    def linger(self) -> None:
        raw = self._raw
        if raw is None or self._lingering is not None or raw.is_closing():
            return
        self._head_arrived()
        try:
            raw.write_eof()  # after what is buffered: the answer goes first
            raw.resume_reading()
        except (OSError, RuntimeError, NotImplementedError):
            raw.close()
            return
        self._lingering = self.loop.call_later(LINGER_SECONDS, raw.close)

    def eof_received(self) -> bool | None:
        if self._lingering is not None and self._raw is not None:
            self._raw.close()
        return super().eof_received()

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            return  # the rest of a refused request: dropped
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:
            self._head_arrived()
        elif self._pending:
            if self not in type(self).waiting:
                self._join_waiting()
            self._head_bytes += len(data)
            if self._head_bytes > self.bounds.max_head_bytes:
                _count("head_too_large")
                self._head_arrived()
                self.transport.write(TOO_LARGE)
                self.transport.close()

    def on_response_complete(self) -> None:
        before = self.cycle
        super().on_response_complete()
        if self.cycle is before and not self.transport.is_closing():
            self._await_head(join=False)  # the next request on a kept-alive connection
        elif self.cycle is not before:
            self._head_arrived()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering is not None:
            self._lingering.cancel()
        self._head_arrived()
        self._cancel_write_timer()
        super().connection_lost(exc)

    # -- writes the client does not read ----------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.bounds.write_timeout, self._write_expired)

    def resume_writing(self) -> None:
        self._cancel_write_timer()
        super().resume_writing()

    def _cancel_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_expired(self) -> None:
        self._write_timer = None
        _count("write_timeout")
        sock = self.transport.get_extra_info("socket")
        if sock is not None:  # a reset, not a close: the kernel drops what it still holds for the client too
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()
