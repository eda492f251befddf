"""uvicorn's h11 protocol with the bounds it lacks: a time limit on each request's head (uvicorn
times out only an idle kept-alive connection, and only until its first byte), a 431 past a size
while the head is still arriving, a cap on the connections waiting for their request (head or
body still arriving: the oldest is closed), a cap on open connections (the oldest waiting, then
the oldest idle or write-stalled one is closed to make room; only when none is, a new one), and
a time limit on a write the client does not read.

Everything here uses asyncio's protocol interface (``connection_made``, ``data_received``,
``pause_writing``...) around uvicorn's own methods, plus three of uvicorn's attributes, ``cycle``
(the request being served: a new one means a whole head arrived), its ``more_body`` (False once
the body is whole) and ``connections``; tests/unit/token_server/serving/test_serving.py fails if
uvicorn renames them.
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


# Closes on a cap are logged at most once per this many seconds per reason, with their count:
# a flood would otherwise write a line per connection.
LOG_EVERY_SECONDS = 10.0


def _count(reason: str) -> None:
    from token_server.ops.metrics import CONNECTIONS_CLOSED  # after gunicorn.conf.py set up the metrics folder

    CONNECTIONS_CLOSED.labels(reason).inc()


def _waiting_gauge(value: int) -> None:
    from token_server.ops.metrics import CONNECTIONS_WAITING

    CONNECTIONS_WAITING.set(value)


class _Throttled:
    """One WARNING line per reason per LOG_EVERY_SECONDS, counting the closes since the last."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def warn(self, reason: str, message: str, now: float) -> None:
        self._since[reason] = self._since.get(reason, 0) + 1
        last = self._last.get(reason)
        if last is not None and now - last < LOG_EVERY_SECONDS:
            return
        log.warning("%s (%d since the last such line)", message, self._since[reason])
        self._last[reason] = now
        self._since[reason] = 0


_warnings = _Throttled()


def _closed(reason: str, message: str, now: float) -> None:
    _count(reason)
    _warnings.warn(reason, message, now)


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
    """One connection; the class holds the worker's bounds and its evictable connections."""

    bounds: ClassVar[Bounds] = Bounds()
    max_open: ClassVar[int] = Bounds().max_waiting + 1000
    # Requests not yet handed to the app (head or body arriving), oldest first.
    waiting: ClassVar[OrderedDict[BoundedH11Protocol, None]] = OrderedDict()
    # Kept-alive connections idle between requests, and writes the client does not read.
    parked: ClassVar[OrderedDict[BoundedH11Protocol, None]] = OrderedDict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._pending = False  # the head still arriving
        self._served: Any = None  # the cycle served last: another one is a new request
        self._lingering: asyncio.TimerHandle | None = None
        self._raw: asyncio.Transport | None = None

    # -- a connection arrives, and waits for its request ------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport  # type: ignore[assignment]
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        if len(self.connections) > self.max_open and not self._make_room():
            _closed(
                "open_cap",
                f"open connections past {self.max_open}, none waiting or idle: a new one is closed",
                self.loop.time(),
            )
            self.transport.abort()
            return
        self._await_head()

    def _make_room(self) -> bool:
        """Close the oldest connection waiting for its request, else the oldest idle or stalled
        one; False when there is none (every open connection is being served)."""
        for group in (type(self).waiting, type(self).parked):
            if group:
                self._evict_oldest(
                    group,
                    "open_cap_oldest",
                    f"open connections past {self.max_open}: the oldest waiting or idle is closed",
                )
                return True
        return False

    def _evict_oldest(self, group: dict[BoundedH11Protocol, None], reason: str, message: str) -> None:
        """Close the connection that joined ``group`` first, counted and logged under ``reason``."""
        _closed(reason, message, self.loop.time())
        next(iter(group))._evict()

    def _await_head(self, *, join: bool = True) -> None:
        """Start the head's time limit; with ``join``, count the connection among the waiting
        ones at once. A kept-alive connection joins them only when its next request's first
        bytes arrive: idle between requests it is parked, bounded by the head timeout and closed
        to make room only past the open cap (never past the waiting cap)."""
        self._head_bytes = 0
        self._pending = True
        self._served = self.cycle
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.bounds.head_timeout, self._head_expired)
        if join:
            self._join_waiting()
        else:
            self._park()

    def _join_waiting(self) -> None:
        self._unpark()
        waiting = type(self).waiting
        while len(waiting) >= self.bounds.max_waiting:
            self._evict_oldest(
                waiting,
                "waiting_cap",
                f"connections waiting for a request past {self.bounds.max_waiting}: the oldest is closed",
            )
        waiting[self] = None
        _waiting_gauge(len(waiting))

    def _leave_waiting(self) -> None:
        if type(self).waiting.pop(self, 0) is None:
            _waiting_gauge(len(type(self).waiting))

    def _park(self) -> None:
        type(self).parked.pop(self, None)
        type(self).parked[self] = None  # the newest

    def _unpark(self) -> None:
        type(self).parked.pop(self, None)

    def _forget(self) -> None:
        """Neither waiting nor parked, no head timer: closing, or the app has the request."""
        self._pending = False
        self._cancel_head_timer()
        self._leave_waiting()
        self._unpark()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        _count("head_timeout")
        self._evict()

    def _evict(self) -> None:
        self._forget()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:  # a reset: the kernel drops what it still holds for the client too
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()  # nothing to say to a client that never sent a whole request

    def _track(self) -> None:
        """After uvicorn took in bytes: a new request's head stops the head timer; its body,
        whole, hands it to the app (no longer waiting)."""
        cycle = self.cycle
        if cycle is None or cycle is self._served:
            return
        if self._pending:
            self._pending = False
            self._cancel_head_timer()
        if not cycle.more_body:
            self._served = cycle
            self._leave_waiting()
            self._unpark()
        elif self not in type(self).waiting:
            self._join_waiting()

    # -- bytes arrive -----------------------------------------------------------------------

    @property
    def lingering(self) -> bool:
        return self._lingering is not None

    def linger(self) -> None:
        raw = self._raw
        if raw is None or self._lingering is not None or raw.is_closing():
            return
        self._forget()
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
        super().data_received(data)
        if self.transport.is_closing():
            self._forget()
            return
        self._track()
        if self._pending:
            if self not in type(self).waiting:
                self._join_waiting()
            self._head_bytes += len(data)
            if self._head_bytes > self.bounds.max_head_bytes:
                _count("head_too_large")
                self._forget()
                self.transport.write(TOO_LARGE)
                self.transport.close()

    def on_response_complete(self) -> None:
        before = self.cycle
        super().on_response_complete()
        if self.transport.is_closing():
            self._forget()
        elif self.cycle is before:
            self._await_head(join=False)  # the next request on a kept-alive connection
        else:
            self._track()  # a pipelined request, already in

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering is not None:
            self._lingering.cancel()
        self._forget()
        self._cancel_write_timer()
        super().connection_lost(exc)

    # -- writes the client does not read ----------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.bounds.write_timeout, self._write_expired)
            self._park()

    def resume_writing(self) -> None:
        self._cancel_write_timer()
        if not self._pending:
            self._unpark()
        super().resume_writing()

    def _cancel_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_expired(self) -> None:
        self._write_timer = None
        _count("write_timeout")
        self._evict()
