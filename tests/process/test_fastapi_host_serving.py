"""examples/fastapi_host.py under its documented command (``uvicorn --workers 2``), as the
``[fastapi]`` extra installs it: its workers run on uvloop (a quarter less CPU a mint,
docs/benchmarks.md), and its requests are still parsed by h11, which refuses a head still
unfinished after 16 KB (so one longer than a read); uvicorn's httptools parser
(``uvicorn[standard]``) would take a 2 MiB one. A valid caller is
answered beside the refused head."""

from __future__ import annotations

import http.client
import socket
import time
from pathlib import Path

from ..helpers import SERVICE_KEY
from ..hosts import host_command
from ..procs import ROOT, Process, free_port

START = 60.0


def wait_ping(port: int, proc: Process) -> None:
    deadline = time.monotonic() + START
    while True:
        assert proc.proc.poll() is None, proc.output()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/host/ping")
            if connection.getresponse().status == 200:
                return
        except (ConnectionError, http.client.HTTPException, TimeoutError):
            pass
        finally:
            connection.close()
        assert time.monotonic() < deadline, "the host did not answer:\n" + proc.output()
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def status_of(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):  # refused before it was all sent
            pass
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_the_workers_run_on_uvloop_and_an_oversized_head_is_refused_beside_a_valid_caller(tmp_path) -> None:
    port = free_port()
    env = {"TOKEN_SERVER_API_KEYS": SERVICE_KEY, "PYTHONPATH": str(ROOT)}  # no COMETCHAT_*: the emulator
    proc = Process(host_command("fastapi", port), env=env, log_path=tmp_path / "host.log", cwd=tmp_path)
    try:
        wait_ping(port, proc)
        serving = [  # the two workers, not multiprocessing's resource tracker
            pid
            for pid in children(proc.proc.pid)
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(serving) == 2, proc.output()
        assert all("uvloop/loop" in Path(f"/proc/{pid}/maps").read_text() for pid in serving)
        big_head = b"GET /host/ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n"
        assert status_of(port, big_head) in (b"HTTP/1.1 400 Bad Request", b"")
        assert status_of(port, b"GET /host/ping HTTP/1.1\r\nHost: x\r\n\r\n") == b"HTTP/1.1 200 OK"
        minted = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        minted.request("POST", "/api/cometchat/token/cometchat-uid-1", headers={"Authorization": f"Bearer {SERVICE_KEY}"})
        assert minted.getresponse().status == 200
    finally:
        proc.stop()
