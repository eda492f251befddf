"""``uvicorn --workers N`` (N > 1) binds its listening socket itself without naming the protocol,
so asyncio does not recognise the connections it accepts as TCP and leaves Nagle's algorithm on
(``TCP_NODELAY`` unset). uvicorn writes a response's head and body in two writes: the body then
waits for the client's delayed ACK, about 40 ms on every answer (measured: 100 ms instead of
55 ms for a mint against a 50 ms CometChat; bench/production.py). A single ``uvicorn`` process
binds through asyncio and is not affected.

:func:`no_delay_on_listeners` sets ``TCP_NODELAY`` on this process's listening TCP sockets, which
the sockets they accept inherit (Linux, macOS). A host calls it at import, which uvicorn's worker
processes do after receiving the listening socket and before serving."""

from __future__ import annotations

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


def no_delay_on_listeners() -> int:
    """``TCP_NODELAY`` on each listening TCP socket of this process; how many were found."""
    found = 0
    for fd in _open_fds():
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:  # not a socket (or gone already)
            continue
        with sock:
            try:
                listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            except OSError:
                continue
            if listening and sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                found += 1
    return found
