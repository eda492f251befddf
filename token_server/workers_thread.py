"""The Procfile's worker: gunicorn's threaded worker (gthread) that gives a connection a thread
only once its request has fully arrived (``gunicorn server:app -k token_server.workers_thread.HeadFirstWorker``,
set in gunicorn.conf.py).

gunicorn's own gthread worker hands a new connection to a thread, which then reads the request
head with no time limit: a client that sends one byte a second holds that thread, and a few
hundred such clients hold them all, so valid logins and /healthz queue behind them until the
slow clients give up. Here the worker's event loop reads the head (and a body announced by a
small Content-Length) without blocking, and only a complete request goes to a thread. Waiting
heads are bounded twice: each gets ``HEAD_TIMEOUT`` seconds, and past ``MAX_WAITING`` of them
the oldest is closed (a real client sends its head at once, so the oldest waiting is never
one). Connections that wait for a head are not counted against ``worker_connections``: they
cost a socket and a small buffer, never a thread.

With TLS terminated by gunicorn itself (``--certfile``), or HTTP/2 enabled, it behaves exactly
as gthread (the raw bytes cannot be read ahead there).
"""

from __future__ import annotations

import errno
import os
import re
import resource
import selectors
import time
from collections import OrderedDict
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

# Seconds a request may take to arrive whole (head and small body), from the connection's arrival
# (a kept-alive one: from its next request's first byte); GUNICORN_HEAD_TIMEOUT.
HEAD_TIMEOUT = 10.0
# Waiting heads per worker, at most (fewer if the open-files limit is low); GUNICORN_MAX_WAITING.
MAX_WAITING = 4096
MAX_PREFETCH = 64 * 1024  # bytes read ahead in the loop; a bigger head or body goes to a thread
_RECV = 16 * 1024
_CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*(\d{1,9})[ \t]*\r?$", re.I | re.M)
_MORE, _COMPLETE, _GONE = object(), object(), object()  # what one read of a waiting request found
_HANDS_OFF = re.compile(rb"^(transfer-encoding|expect|upgrade):", re.I | re.M)


def _complete(buf: bytearray) -> bool:
    """Whether ``buf`` holds a whole request head, and the body a Content-Length announced.
    A chunked or ``Expect: 100-continue`` body, or an odd head, is left to gunicorn's parser."""
    end = buf.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = buf.find(b"\n\n"), 2
    if end < 0:
        return len(buf) >= MAX_PREFETCH
    head = bytes(buf[:end])
    if _HANDS_OFF.search(head):
        return True
    lengths = _CONTENT_LENGTH.findall(head)
    if len(lengths) != 1:
        return True  # none (no body), or several (the parser refuses them)
    wanted = end + sep + int(lengths[0])
    return wanted > MAX_PREFETCH or len(buf) >= wanted


class _Waiting:
    __slots__ = ("conn", "buf", "deadline")

    def __init__(self, conn: TConn, deadline: float) -> None:
        self.conn = conn
        self.buf = bytearray()
        self.deadline = deadline


class HeadFirstWorker(ThreadWorker):
    """gthread, with each request read in the event loop before a thread serves it."""

    def init_process(self) -> None:
        self._waiting: OrderedDict[int, _Waiting] = OrderedDict()  # by arrival: oldest first
        self.head_timeout = float(os.environ.get("GUNICORN_HEAD_TIMEOUT", HEAD_TIMEOUT))
        self.max_waiting = self._waiting_limit(int(os.environ.get("GUNICORN_MAX_WAITING", MAX_WAITING)))
        self._read_ahead = not self.cfg.is_ssl and self.cfg.http2_cleartext not in ("prior-knowledge", "both")
        super().init_process()

    def _waiting_limit(self, wanted: int) -> int:
        """``wanted``, within the open-files limit (raised to its hard cap when allowed), less
        what the served connections and their upstream sockets may need."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            try:
                target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
        return max(1, min(wanted, soft - 2 * self.worker_connections - 64))

    # -- connections arrive, or a kept-alive one sends its next request ------------------------

    def accept(self, listener: Any) -> None:
        if not self._read_ahead:
            return super().accept(listener)
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self._wait_for_request(TConn(self.cfg, client_sock, client_addr, listener.getsockname()), registered=False)

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        if not self._read_ahead:
            return super().on_client_socket_readable(conn, client)
        self.keepalived_conns.remove(conn)
        self.nr_conns -= 1  # counted again when a thread takes it
        self._wait_for_request(conn, registered=True)

    def _wait_for_request(self, conn: TConn, *, registered: bool) -> None:
        """Read what has arrived; a complete request goes to a thread at once (the usual case:
        no poller round trip), anything less waits in the poller for the rest."""
        conn.sock.setblocking(False)
        waiting = _Waiting(conn, time.monotonic() + self.head_timeout)
        state = self._read(waiting)
        if state is _MORE:
            while len(self._waiting) >= self.max_waiting:
                _, oldest = self._waiting.popitem(last=False)
                self._drop(oldest)
            self._waiting[id(conn)] = waiting
            callback = partial(self._on_request_bytes, waiting)
            if registered:
                self.poller.modify(conn.sock, selectors.EVENT_READ, callback)
            else:
                self.poller.register(conn.sock, selectors.EVENT_READ, callback)
            return
        if registered:
            self.poller.unregister(conn.sock)
        self._finish(waiting, state)

    def _on_request_bytes(self, waiting: _Waiting, _sock: Any) -> None:
        state = self._read(waiting)
        if state is not _MORE:
            self._waiting.pop(id(waiting.conn), None)
            self.poller.unregister(waiting.conn.sock)
            self._finish(waiting, state)

    def _read(self, waiting: _Waiting) -> object:
        try:
            data = waiting.conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return _MORE
        except OSError:
            data = b""
        if not data:  # the client left before its request was complete
            return _GONE
        waiting.buf += data
        return _COMPLETE if _complete(waiting.buf) else _MORE

    def _finish(self, waiting: _Waiting, state: object) -> None:
        """Out of the poller: a complete request goes to a thread, a departed client is closed."""
        if state is _GONE:
            waiting.conn.close()
            return
        waiting.conn.prefetched = bytes(waiting.buf)
        waiting.conn.data_ready = True
        self.nr_conns += 1
        self.enqueue_req(waiting.conn)

    def _drop(self, waiting: _Waiting) -> None:
        try:
            self.poller.unregister(waiting.conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        waiting.conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        while self._waiting:
            key, oldest = next(iter(self._waiting.items()))
            if oldest.deadline > now:
                break
            del self._waiting[key]
            self._drop(oldest)

    # -- a thread takes the complete request ----------------------------------------------------

    def handle(self, conn: TConn) -> Any:
        data, conn.prefetched = getattr(conn, "prefetched", None), None
        if data is not None:
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(data)
        return super().handle(conn)
