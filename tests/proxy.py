"""A small real forward proxy for tests: HTTP ``CONNECT`` tunnels to loopback targets only,
on a free loopback port, one thread per connection, every wait bounded.

It records what it was asked (``seen``: one ``(target, proxy_authorization)`` per CONNECT), so a
test can tell whether a call went through it. With ``credentials=("user", "pass")`` it answers
407 to a CONNECT without the matching ``Proxy-Authorization``.
"""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading
from contextlib import contextmanager
from typing import Iterator

HEAD_LIMIT = 16 * 1024  # a CONNECT head is a few hundred bytes
IDLE_SECONDS = 10.0  # a tunnel quiet this long is closed
LOOPBACK = ("127.0.0.1", "localhost")


class ConnectProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.credentials = credentials
        self.seen: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, target: str, authorization: str | None) -> None:
        with self._lock:
            self.seen.append((target, authorization))

    def expected_authorization(self) -> str | None:
        if self.credentials is None:
            return None
        return "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()


class _Tunnel(socketserver.BaseRequestHandler):
    server: ConnectProxy

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(IDLE_SECONDS)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) + len(chunk) > HEAD_LIMIT:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _version = (lines[0].split(" ") + ["", "", ""])[:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        authorization = headers.get("proxy-authorization")
        self.server.record(target if method == "CONNECT" else f"{method} {target}", authorization)
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        expected = self.server.expected_authorization()
        if expected is not None and authorization != expected:
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        if host not in LOOPBACK or not port.isdigit():  # a test proxy never leaves this machine
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            _pump(client, upstream)


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes or both stay quiet for IDLE_SECONDS."""
    peers = {a: b, b: a}
    while True:
        readable, _, _ = select.select(list(peers), [], [], IDLE_SECONDS)
        if not readable:
            return
        for sock in readable:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            peers[sock].sendall(data)


@contextmanager
def running_proxy(credentials: tuple[str, str] | None = None) -> Iterator[ConnectProxy]:
    """A ConnectProxy serving in a thread for the ``with`` block, shut down after it."""
    proxy = ConnectProxy(credentials)
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=5)
