"""The processes of the production benchmark: the fake CometChat over TLS (node), the token
server under its Procfile command, the docs' Node example as a peer, and the load generator
(node). Every one listens on 127.0.0.1 only, on a free port."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import Process, free_port, procfile_command  # noqa: E402
from tests.tls import TlsFiles  # noqa: E402

REST_KEY = "bench-rest-key-0123456789"
SERVICE_KEY = "bench-service-key-0123456789"
HERE = Path(__file__).resolve().parent
LOAD_TIMEOUT_SLACK = 60


def node() -> str:
    binary = shutil.which("node")
    if not binary:
        sys.exit("node is needed for the fake upstream and the load generator (apt-get install nodejs)")
    return binary


class Upstream:
    """bench/upstream.js: the fake CometChat, at ``https://127.0.0.1:PORT/v3``."""

    def __init__(self, tmp: Path, tls: TlsFiles, latency_ms: float, connect_delay_ms: float) -> None:
        self.port = free_port()
        self.tls = tls
        self.base = f"https://127.0.0.1:{self.port}"
        self.proc = Process(
            [
                node(),
                str(HERE / "upstream.js"),
                str(self.port),
                str(tls.cert),
                str(tls.key),
                str(latency_ms),
                str(connect_delay_ms),
            ],
            log_path=tmp / "upstream.log",
        )
        self._context = ssl.create_default_context(cafile=str(tls.ca))
        deadline = time.monotonic() + 20
        while True:
            try:
                self.stats()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.proc.poll() is not None:
                    raise RuntimeError("the fake upstream did not start:\n" + self.proc.output()) from None
                time.sleep(0.05)

    def _call(self, method: str, path: str) -> dict[str, Any]:
        request = urllib.request.Request(self.base + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=5, context=self._context) as answer:  # noqa: S310 (loopback)
            return json.loads(answer.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_bench/stats")

    def set_latency(self, ms: float) -> None:
        self._call("POST", f"/_bench/latency?ms={ms:g}")


def start_server(tmp: Path, upstream: Upstream, extra_env: dict[str, str]) -> tuple[Process, str]:
    """The token server exactly as the Procfile runs it, trusting the bench CA."""
    port = free_port()
    env = {
        "COMETCHAT_BASE_URL": upstream.base + "/v3",
        "COMETCHAT_CA_BUNDLE": str(upstream.tls.ca),
        "COMETCHAT_API_KEY": REST_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "LOG_LEVEL": "warning",
        "PORT": str(port),
        **extra_env,
    }
    proc = Process(procfile_command(), env=env, log_path=tmp / "server.log")
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/healthz", timeout=60)
    return proc, root


HOST_COMMANDS = {
    # The example hosts under the commands their docs give (examples/*.py), two workers each.
    "flask-host": ["gunicorn", "--workers", "2", "--bind", "127.0.0.1:{port}", "examples.flask_host:app"],
    "fastapi-host": ["uvicorn", "examples.fastapi_host:app", "--workers", "2", "--port", "{port}"],
}


def start_host(kind: str, tmp: Path, upstream: Upstream) -> tuple[Process, str]:
    """An example host app on the fake CometChat, identifying callers by the bench's service key."""
    port = free_port()
    env = {
        "COMETCHAT_BASE_URL": upstream.base + "/v3",
        "COMETCHAT_CA_BUNDLE": str(upstream.tls.ca),
        "COMETCHAT_API_KEY": REST_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "SESSION_STORE_URI": f"sqlite:///{tmp / (kind + '-devices.db')}",
        "LOG_LEVEL": "warning",
    }
    args = [arg.format(port=port) for arg in HOST_COMMANDS[kind]]
    proc = Process([sys.executable, "-m", *args], env=env, log_path=tmp / f"{kind}.log")
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/host/ping", timeout=60)
    return proc, root


def start_minimal(tmp: Path, upstream: Upstream) -> tuple[Process, str]:
    """bench/minimal_app.py under gunicorn's gthread, the server's threads and workers, access log on."""
    port = free_port()
    env = {
        "COMETCHAT_BASE_URL": upstream.base + "/v3",
        "COMETCHAT_CA_BUNDLE": str(upstream.tls.ca),
        "COMETCHAT_API_KEY": REST_KEY,
    }
    args = ["gunicorn", "bench.minimal_app:app", "-k", "gthread", "--threads", "256", "-w", "2"]
    args += ["-b", f"127.0.0.1:{port}", "--access-logfile", "-", "-c", "/dev/null"]
    proc = Process(args, env=env, log_path=tmp / "minimal.log")
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/", timeout=60)
    return proc, root


def start_peer(tmp: Path, upstream: Upstream) -> tuple[Process, str]:
    port = free_port()
    proc = Process(
        [node(), str(HERE / "node_peer.js"), str(port), upstream.base + "/v3", REST_KEY, str(upstream.tls.ca)],
        log_path=tmp / "peer.log",
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while "listening" not in proc.output():
        if time.monotonic() > deadline or proc.proc.poll() is not None:
            raise RuntimeError("the node peer did not start:\n" + proc.output())
        time.sleep(0.05)
    return proc, root


def run_load(spec: dict[str, Any], on_warm: Callable[[], None] | None = None) -> dict[str, Any]:
    """bench/load.js with ``spec``: ``on_warm()`` once its warm-up is over, then its results."""
    seconds = float(spec.get("seconds", 0)) + float(spec.get("warmSeconds", 0))
    proc = subprocess.Popen([node(), str(HERE / "load.js"), json.dumps(spec)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + seconds + LOAD_TIMEOUT_SLACK
    try:
        for line in proc.stdout:
            answer = json.loads(line)
            if answer.get("warmed"):
                if on_warm is not None:
                    on_warm()
                continue
            return answer
    finally:
        proc.wait(timeout=max(deadline - time.monotonic(), 1))
    raise RuntimeError(f"load.js gave no results (exit {proc.returncode})")


class SlowClients:
    """``sockets`` connections trickling request headers to ``root`` until ``stop()``."""

    def __init__(self, root: str, sockets: int, interval_ms: int, ready_timeout: float = 30.0) -> None:
        spec = {"mode": "slow", "url": root, "sockets": sockets, "intervalMs": interval_ms}
        self._proc = subprocess.Popen(
            [node(), str(HERE / "load.js"), json.dumps(spec)], stdout=subprocess.PIPE, text=True
        )
        self.ready = 0
        deadline = time.monotonic() + ready_timeout
        assert self._proc.stdout is not None
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if sel.select(timeout=max(deadline - time.monotonic(), 0)):
                    line = self._proc.stdout.readline()
                    if line:
                        self.ready = json.loads(line).get("ready", 0)
                    break

    def stop(self) -> dict[str, Any]:
        self._proc.terminate()
        try:
            out, _ = self._proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, _ = self._proc.communicate()
        lines = [line for line in out.splitlines() if line.strip()]
        return {**(json.loads(lines[-1]) if lines else {}), "ready": self.ready}
