"""examples/fastapi_host.py under ``uvicorn --workers 2`` with its output in a file (as any
supervisor keeps it) answers its own ``GET /host/ping`` without a fixed delay on a keep-alive
connection: Nagle's algorithm off on every connection (token_server.fastapi.nodelay), including
the very first one a worker accepts. With Nagle on, each answer waits for the client's delayed
ACK: 44 ms, every time. The bound guards that fixed delay, not speed: a loaded machine answers a
ping in a few ms."""

from __future__ import annotations

import http.client
import statistics
import time

from ..helpers import SERVICE_KEY
from ..hosts import host_command
from ..procs import ROOT, Process, free_port

REQUESTS = 50
BOUND_MS = 20.0  # 44 ms fails; a bare ping answers in about 1 ms
START = 60.0  # bound on the wait for the first answer (two workers booting on a busy machine)


def ping(connection: http.client.HTTPConnection) -> float:
    started = time.perf_counter()
    connection.request("GET", "/host/ping")
    answer = connection.getresponse()
    assert answer.status == 200 and answer.read() == b'{"pong":true}'
    return (time.perf_counter() - started) * 1000


def first_connection(port: int, proc: Process) -> http.client.HTTPConnection:
    """The first connection that gets an answer, kept open: accepted as early as a worker
    serves, before any later worker has started."""
    deadline = time.monotonic() + START
    while True:
        assert proc.proc.poll() is None, proc.output()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            ping(connection)
            return connection
        except (ConnectionError, http.client.HTTPException, TimeoutError):
            connection.close()
            assert time.monotonic() < deadline, "the host did not answer:\n" + proc.output()
            time.sleep(0.02)


def median_ping_ms(connection: http.client.HTTPConnection) -> float:
    try:
        return statistics.median(ping(connection) for _ in range(REQUESTS))
    finally:
        connection.close()


def test_pings_on_keep_alive_connections_carry_no_delayed_ack_wait(tmp_path) -> None:
    port = free_port()
    env = {"TOKEN_SERVER_API_KEYS": SERVICE_KEY, "PYTHONPATH": str(ROOT)}  # no COMETCHAT_*: the emulator
    proc = Process(host_command("fastapi", port), env=env, log_path=tmp_path / "host.log", cwd=tmp_path)
    try:
        first = median_ping_ms(first_connection(port, proc))
        later = [median_ping_ms(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) for _ in range(3)]
    finally:
        proc.stop()
    assert first < BOUND_MS and max(later) < BOUND_MS, (first, later)
