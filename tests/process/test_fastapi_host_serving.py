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
        proc.wait_http(f"http://127.0.0.1:{port}/host/ping", timeout=60)  # two workers booting on a busy machine
        deadline = time.monotonic() + 30  # the second worker may still be starting when the first answers
        while True:
            serving = [  # the two workers, not multiprocessing's resource tracker
                pid for pid in proc.children() if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]
            on_uvloop = [pid for pid in serving if "uvloop/loop" in Path(f"/proc/{pid}/maps").read_text()]
            if len(on_uvloop) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(serving) == 2, proc.output()
        assert on_uvloop == serving
        big_head = b"GET /host/ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n"
        assert status_of(port, big_head) in (b"HTTP/1.1 400 Bad Request", b"")
        assert status_of(port, b"GET /host/ping HTTP/1.1\r\nHost: x\r\n\r\n") == b"HTTP/1.1 200 OK"
        minted = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        minted.request("POST", "/api/cometchat/token/cometchat-uid-1", headers={"Authorization": f"Bearer {SERVICE_KEY}"})
        assert minted.getresponse().status == 200
    finally:
        proc.stop()
