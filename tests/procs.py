"""Real processes on free loopback ports: the standalone emulator, the server under gunicorn."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

import requests

ROOT = Path(__file__).resolve().parent.parent
# The shell's settings a test's process never inherits: each test says what it runs with.
NOT_INHERITED = ("COMETCHAT_", "AUTH_", "TOKEN_SERVER", "PROMETHEUS_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process with its output in a file, stopped (and reaped) by ``stop()``."""

    def __init__(
        self, args: list[str], *, env: Mapping[str, str] | None = None, log_path: Path, cwd: Path = ROOT
    ) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
        # A developer's .env never leaks into a test (a test of .env itself passes "0").
        full_env["TOKEN_SERVER_SKIP_DOTENV"] = "1"
        full_env.update(env or {})
        full_env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_http(self, url: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited with {self.proc.returncode}:\n{self.output()}")
            try:
                requests.get(url, timeout=2)
                return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
                time.sleep(0.05)
        raise RuntimeError(f"{url} did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.log_path.read_text(errors="replace")


def start_emulator(
    tmp: Path,
    *,
    api_key: str | None,
    latency_ms: float = 0,
    connect_delay_ms: float = 0,
    rate_limit: int | None = None,
    threads: int | None = None,
    extra_args: tuple[str, ...] = (),
) -> tuple[Process, str]:
    """``python -m cometchat.emulator`` on a free port; ``extra_args`` are more of its flags."""
    port = free_port()
    args = [sys.executable, "-m", "cometchat.emulator", "--port", str(port)]
    args += ["--latency-ms", str(latency_ms), "--connect-delay-ms", str(connect_delay_ms)]
    if rate_limit:
        args += ["--rate-limit", str(rate_limit)]
    if threads:
        args += ["--threads", str(threads)]
    if api_key:
        args += ["--api-key", api_key]
    args += list(extra_args)
    proc = Process(args, log_path=tmp / f"emulator-{port}.log")
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/_emulator/stats")
    return proc, root


def procfile_command() -> list[str]:
    """The Procfile's web command, exactly as a PaaS would run it."""
    import shlex

    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    return shlex.split(line.split(":", 1)[1])


def start_gunicorn(tmp: Path, env: Mapping[str, str], *, name: str = "server", cwd: Path = ROOT) -> tuple[Process, str]:
    port = free_port()
    proc = Process(procfile_command(), env={**env, "PORT": str(port)}, log_path=tmp / f"{name}-{port}.log", cwd=cwd)
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/healthz")
    return proc, root
