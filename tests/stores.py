"""Real stores for the tests: a redis-server on a free port, and a "hung" store (a socket
server that accepts connections and never answers)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from .procs import Process, free_port

REDIS = shutil.which("redis-server")


def start_redis(tmp: Path, port: int | None = None) -> tuple[Process, str]:
    """A fresh redis-server on ``port`` (else a free loopback port), answering: it and its URL."""
    if not REDIS:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install redis-server")
        pytest.skip("redis-server is not installed")
    import redis

    port = port or free_port()
    server = Process(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        log_path=tmp / f"redis-{port}.log",
    )
    client = redis.Redis(port=port, socket_timeout=1)
    try:
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
    finally:
        client.close()
    return server, f"redis://127.0.0.1:{port}/0"


@contextmanager
def running_redis(tmp: Path, port: int | None = None) -> Iterator[str]:
    """A fresh redis-server for the ``with`` block: its URL."""
    server, url = start_redis(tmp, port)
    try:
        yield url
    finally:
        server.stop()


class SilentServer:
    """Accepts every connection and never answers: a store that hangs."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._listener.close()


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def closed_port_url() -> str:
    """A Redis URL where nothing listens: a store that is down."""
    return f"redis://127.0.0.1:{free_port()}/0"
