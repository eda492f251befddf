"""Real processes on free loopback ports: the standalone emulator, the server under gunicorn."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import requests

from .helpers import SERVICE_KEY

ROOT = Path(__file__).resolve().parent.parent
# The shell's settings a test's process never inherits: each test says what it runs with.
NOT_INHERITED = ("COMETCHAT_", "AUTH_", "TOKEN_SERVER", "PROMETHEUS_")
EMULATOR_KEY = "emulator-rest-key-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nothing is bound to loopback ``port`` now (the suites that keep to a range of their own)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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

    def children(self) -> list[int]:
        """The process ids of its children now (gunicorn's or uvicorn's workers, ...)."""
        pid = self.proc.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

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


def server_env(emulator_root: str, **settings: str | None) -> dict[str, str]:
    """The server's environment under gunicorn, against a standalone emulator at
    ``emulator_root``: built here once for every test that starts one. ``settings`` add to it
    or change it; None leaves a setting out."""
    env: dict[str, str | None] = {
        "COMETCHAT_BASE_URL": emulator_root + "/v3",
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "WEB_CONCURRENCY": "2",
        **settings,
    }
    return {name: value for name, value in env.items() if value is not None}


@dataclass
class Stack:
    """The standalone emulator and the Procfile's gunicorn in front of it."""

    root: str
    emulator_root: str
    server: Process
    emulator: Process

    def stop(self) -> str:
        """Stop both; the server's output."""
        try:
            return self.server.stop()
        finally:
            self.emulator.stop()


def start_stack(tmp: Path, *, emulator_threads: int | None = None, **settings: str | None) -> Stack:
    """The emulator, then gunicorn on :func:`server_env` with ``settings``."""
    emulator, emulator_root = start_emulator(tmp, api_key=EMULATOR_KEY, threads=emulator_threads)
    try:
        server, root = start_gunicorn(tmp, server_env(emulator_root, **settings))
    except BaseException:
        emulator.stop()
        raise
    return Stack(root, emulator_root, server, emulator)


class RunningEmulator:
    """``python -m cometchat.emulator`` in its own process, driven through its controls."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.base_url = root + "/v3"

    def faults(
        self, *queue: dict, latency_ms: float | None = None, rate_limit: int | None = None, **settings: float
    ) -> None:
        """Queue faults and change settings (``core_per_minute``, ``minute_seconds``, ...)."""
        body: dict = {"queue": list(queue), **settings}
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        if rate_limit is not None:
            body["rate_limit_per_minute"] = rate_limit
        requests.post(self.root + "/_emulator/faults", json=body, timeout=5).raise_for_status()

    def reset(self) -> None:
        requests.post(self.root + "/_emulator/reset", timeout=5).raise_for_status()

    def stats(self) -> dict:
        return requests.get(self.root + "/_emulator/stats", timeout=5).json()
