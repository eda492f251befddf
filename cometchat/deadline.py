"""The total deadline, enforced on the socket itself.

requests' timeouts bound each socket read, not the whole answer: an upstream that sends one
header line or one body byte a second never trips them. Inside ``deadline_scope``, a
connection that starts waiting for its answer is handed to one watchdog thread, which shuts
the socket down if the scope is still open at the deadline; the blocked read then ends at
once (as a broken connection) and the scope reports ``fired``.

Only connections made by ``DeadlineAdapter`` are watched (``http``/``https``, directly or
through an HTTP proxy). A SOCKS proxy keeps urllib3's own connections, bounded by the
per-read timeouts alone.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from requests.adapters import HTTPAdapter
from urllib3 import poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _Alarm:
    __slots__ = ("sock", "fired")

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | None = sock
        self.fired = False


class _Watchdog:
    """One daemon thread and a heap of (deadline, alarm); cancelled alarms are dropped lazily."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # Made on first use, not here: gunicorn's gevent worker patches threading after the
        # fork, and a Condition made before would block every greenlet of the worker.
        self._cond: threading.Condition | None = None
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def _condition(self) -> threading.Condition:
        if self._cond is None:
            with _CREATE_LOCK:
                if self._cond is None:
                    self._cond = threading.Condition()
        return self._cond

    def arm(self, sock: socket.socket, deadline: float) -> _Alarm:
        alarm = _Alarm(sock)
        cond = self._condition()
        with cond:
            heapq.heappush(self._heap, (deadline, next(self._order), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="cometchat-deadline", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is alarm:  # only an earlier wake-up needs the thread now
                cond.notify()
        return alarm

    def cancel(self, alarm: _Alarm) -> None:
        with self._condition():
            alarm.sock = None

    def _run(self) -> None:
        cond = self._condition()
        with cond:
            while True:
                while self._heap and self._heap[0][2].sock is None:
                    heapq.heappop(self._heap)
                if not self._heap:
                    cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    cond.wait(wait)
                    continue
                alarm = heapq.heappop(self._heap)[2]
                sock, alarm.sock, alarm.fired = alarm.sock, None, True
                try:
                    # socket.socket's own shutdown, also for an SSLSocket: cut the descriptor,
                    # leave the TLS object to the thread that is reading it.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # type: ignore[arg-type]
                except OSError:
                    pass  # already closed: nothing left to interrupt


_CREATE_LOCK = threading.Lock()  # held for an instant, never across a switch
_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG._reset)  # a forked worker starts its own thread
# A context variable, not a threading.local made at import: each thread and each greenlet
# has its own, whether or not gevent patched threading before this module was imported.
_scope: contextvars.ContextVar[DeadlineScope | None] = contextvars.ContextVar("cometchat_deadline", default=None)


class DeadlineScope:
    """What one ``deadline_scope`` armed; ``fired`` once the watchdog cut a connection."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._alarms: list[_Alarm] = []

    @property
    def fired(self) -> bool:
        return any(alarm.fired for alarm in self._alarms)

    def watch(self, sock: socket.socket) -> None:
        self._alarms.append(_WATCHDOG.arm(sock, self.deadline))

    def disarm(self) -> None:
        for alarm in self._alarms:
            _WATCHDOG.cancel(alarm)


@contextmanager
def deadline_scope(deadline: float) -> Iterator[DeadlineScope]:
    """Within it, this thread's watched connections are cut at ``deadline`` (time.monotonic)."""
    scope = DeadlineScope(deadline)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
        scope.disarm()


class _Watched:
    """Arms the watchdog when the request is sent and the wait for the answer begins; sends
    a small request's head and body in one write (one syscall and one packet, not two)."""

    sock: socket.socket | None
    _buffer: list[bytes]
    _one_write_body: bytes | None = None

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        if isinstance(body, bytes) and headers is not None and "Content-Length" in headers:
            self._one_write_body, body = body, None
        super().request(method, url, body, headers, **kwargs)  # type: ignore[misc]

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        body, self._one_write_body = self._one_write_body, None
        if body is None:
            super()._send_output(message_body, encode_chunked=encode_chunked)  # type: ignore[misc]
            return
        self._buffer.extend((b"", b""))
        head = b"\r\n".join(self._buffer)
        del self._buffer[:]
        self.send(head + body)  # type: ignore[attr-defined]

    def getresponse(self) -> Any:
        scope = _scope.get()
        if scope is not None and self.sock is not None:
            scope.watch(self.sock)
        return super().getresponse()  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOL_CLASSES = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections the watchdog can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is poolmanager.pool_classes_by_scheme:  # not SOCKS
            manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager
