"""``uvicorn --workers N`` (N > 1) binds its listening socket itself without naming the protocol
(``proto`` 0), and asyncio sets ``TCP_NODELAY`` only on accepted sockets whose ``proto`` is
``IPPROTO_TCP``: Nagle's algorithm stays on. uvicorn writes a response's head and body in two
writes, so the body waits for the client's delayed ACK: about 44 ms on every answer, even
``GET /host/ping`` (measured; a single ``uvicorn`` process binds through asyncio, unaffected).

:func:`no_delay_on_listeners` sets ``TCP_NODELAY`` on this process's bound, unconnected TCP
sockets, which the sockets they accept inherit (Linux, macOS). A worker imports the app after
receiving the socket but before any worker calls ``listen()`` on it, so "bound and without a
peer" is the test, not "listening": with the latter, the first worker to start found nothing and
the setting depended on the order the workers started in (every answer 44 ms when neither saw a
listening socket)."""

from __future__ import annotations

import errno
import os
import socket

FD_FOLDERS = ("/proc/self/fd", "/dev/fd")


def _open_fds() -> list[int]:
    for folder in FD_FOLDERS:
        try:
            return [int(name) for name in os.listdir(folder) if name.isdigit()]
        except OSError:
            continue
    return []


def _is_server_side(sock: socket.socket) -> bool:
    """A TCP socket bound to a port and with no peer: listening, or about to."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return False
    try:
        if sock.getsockname()[1] == 0:  # not bound
            return False
        sock.getpeername()
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False  # connected: a client's or an accepted socket


def no_delay_on_listeners() -> int:
    """``TCP_NODELAY`` on each bound, unconnected TCP socket of this process; how many."""
    found = 0
    for fd in _open_fds():
        try:
            copy = os.dup(fd)
        except OSError:  # gone already
            continue
        try:
            sock = socket.socket(fileno=copy)
        except OSError:  # not a socket
            os.close(copy)
            continue
        with sock:
            if _is_server_side(sock):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                found += 1
    return found
