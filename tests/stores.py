"""Stores for tests: a real ``redis-server`` on a free port, and a server that accepts
connections and never answers (a hung store)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import redis

from .procs import Process, free_port

REDIS = shutil.which("redis-server")


def need_redis() -> None:
    """Skip without redis-server (fail in CI, which must install it)."""
    if not REDIS:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install redis-server")
        pytest.skip("redis-server is not installed")


def start_redis(tmp: Path, port: int | None = None) -> tuple[Process, int]:
    """A real ``redis-server`` on a free (or the given) loopback port, answering PING."""
    need_redis()
    assert REDIS is not None
    port = port or free_port()
    args = [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = Process(args, log_path=tmp / f"redis-{port}.log")
    client = redis.Redis(port=port)
    try:
        for _ in range(200):
            try:
                client.ping()
                return server, port
            except redis.ConnectionError:
                time.sleep(0.05)
    finally:
        client.close()
    server.stop()
    raise RuntimeError(f"redis-server did not answer on {port}")


class SilentServer:
    """A TCP server that accepts connections and never answers (a hung store)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed
                return
            self.connections.append(conn)

    def close(self) -> None:
        self._sock.close()
        for conn in self.connections:
            conn.close()
