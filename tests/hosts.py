"""Processes for the host tests (the sidecar, the contract suite over three hosts): ports from a
range of their own (``TEST_HOST_PORTS``, default 27000-27999, so concurrent runs on one machine
stay apart), a real redis-server, the standalone emulator, and each host under its own command."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Mapping

import pytest

from .procs import EMULATOR_KEY, ROOT, Process, port_is_free, procfile_command

_next = 0


def free_port() -> int:
    """A port of the range nothing listens on now (tried in turn, so one run never reuses one)."""
    global _next
    low, high = (int(n) for n in os.environ.get("TEST_HOST_PORTS", "27000-27999").split("-"))
    for _ in range(high - low + 1):
        port = low + (_next + os.getpid()) % (high - low + 1)
        _next += 1
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


def start_redis(tmp: Path, port: int | None = None) -> tuple[Process, str]:
    """redis-server on ``port`` (REDIS_TEST_PORT, else one of the range), nothing saved to disk."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = port or int(os.environ.get("REDIS_TEST_PORT") or free_port())
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = Process(args, log_path=tmp / f"redis-{port}.log", cwd=tmp)
    uri = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(uri, socket_timeout=2)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.proc.poll() is not None:
                raise RuntimeError(proc.output()) from None
            import time

            time.sleep(0.05)
    else:
        proc.stop()
        raise RuntimeError("redis-server did not answer")
    client.flushall()
    return proc, uri


def start_emulator(tmp: Path, *extra: str) -> tuple[Process, str]:
    """``python -m cometchat.emulator`` alone: one emulator every worker of every host shares."""
    port = free_port()
    args = [sys.executable, "-m", "cometchat.emulator", "--port", str(port), "--api-key", EMULATOR_KEY, *extra]
    proc = Process(args, log_path=tmp / f"emulator-{port}.log")
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/_emulator/stats")
    return proc, root


def host_command(kind: str, port: int) -> list[str]:
    """Each host under the command its docs give."""
    if kind == "standalone":
        return procfile_command()
    if kind == "flask":
        return [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "examples.flask_host:app"]
    if kind == "fastapi":
        return [sys.executable, "-m", "uvicorn", "examples.fastapi_host:app", "--workers", "2", "--port", str(port)]
    raise ValueError(kind)


def start_host(
    kind: str, tmp: Path, env: Mapping[str, str], *, health: str | None = None, cwd: Path = ROOT
) -> tuple[Process, str]:
    """``kind`` under its command; from ``cwd`` (another folder than the repository's: the
    repository on PYTHONPATH, so the examples still import)."""
    port = free_port()
    args = host_command(kind, port)
    if args[0] == "python":
        args = [sys.executable, *args[1:]]
    env = {**env, "PORT": str(port)} if cwd == ROOT else {**env, "PORT": str(port), "PYTHONPATH": str(ROOT)}
    proc = Process(args, env=env, log_path=tmp / f"{kind}-{port}.log", cwd=cwd)
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + (health or ("/healthz" if kind == "standalone" else "/host/ping")), timeout=40)
    return proc, root
