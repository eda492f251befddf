"""The Procfile's worker model under real gunicorn (token_server/serving/): the deadline holds
against a trickling answer, /healthz answers at once while hundreds of callers wait on a slow
CometChat, and clients that send their requests slowly never hold the threads valid callers
need (see test_slow_clients.py and test_connection_attacks.py)."""

from __future__ import annotations

import os
import socket
import time

import pytest
import requests

from tests.helpers import SERVICE_KEY, service
from tests.procs import RunningEmulator, start_stack

DEADLINE = 3.0
SLACK = 3.0  # a busy 2-core machine
WAITING_CALLERS = 200
SLOW_UPSTREAM_MS = 1500  # under the deadline: every caller gets its token


PROCFILE_WORKER = "token_server.serving.worker.TokenServerWorker"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The Procfile's worker."""
    running = start_stack(
        tmp_path_factory.mktemp("workers"),
        emulator_threads=WAITING_CALLERS + 56,
        COMETCHAT_DEADLINE=str(DEADLINE),
        LOG_LEVEL="warning",
    )
    yield running.root, RunningEmulator(running.emulator_root)
    running.stop()


def mint(root: str) -> requests.Response:
    return requests.post(root + "/api/cometchat/token/cometchat-uid-1", headers=service(), timeout=DEADLINE + 30)


@pytest.mark.parametrize("fault", [{"kind": "drip", "interval_ms": 300}, {"kind": "hang", "seconds": 8}])
def test_a_slow_answer_ends_in_a_504_within_the_deadline(stack, fault) -> None:
    root, emulator = stack
    emulator.reset()
    assert mint(root).status_code == 200  # warm: the next call reuses a kept-alive connection
    emulator.faults(fault)
    started = time.monotonic()
    answer = mint(root)
    elapsed = time.monotonic() - started
    assert answer.status_code == 504, answer.text
    assert DEADLINE - 0.1 <= elapsed < DEADLINE + SLACK


def test_healthz_answers_at_once_while_hundreds_wait_upstream(stack) -> None:
    root, emulator = stack
    emulator.reset()
    emulator.faults(latency_ms=SLOW_UPSTREAM_MS)
    host, port = root.removeprefix("http://").split(":")
    request = (
        f"POST /api/cometchat/token/cometchat-uid-1 HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {SERVICE_KEY}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    waiting = []
    try:
        for _ in range(WAITING_CALLERS):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(request)
            waiting.append(sock)
        time.sleep(0.5)  # every caller is now inside the server, waiting on CometChat
        started = time.monotonic()
        health = requests.get(root + "/healthz", timeout=10)
        elapsed = time.monotonic() - started
        # Threads (2 x 16) would queue it behind ~6 rounds of 1.5 s upstream waits.
        assert health.status_code == 200 and elapsed < 1.0, elapsed
        answered = 0
        for sock in waiting:  # and every waiting caller is served in about one upstream wait
            sock.settimeout(SLOW_UPSTREAM_MS / 1000 + 10)
            head = sock.recv(64)
            answered += head.startswith(b"HTTP/1.1 200")
        assert answered == WAITING_CALLERS, head
    finally:
        for sock in waiting:
            sock.close()
        emulator.faults(latency_ms=0)


CONF_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("__config__", "gunicorn.conf.py")  # as gunicorn loads it
conf = importlib.util.module_from_spec(spec)
sys.modules["__config__"] = conf
spec.loader.exec_module(conf)
import urllib3.util.ssl_
print(conf.worker_class, urllib3.util.ssl_.SSLContext.__module__)
"""


def test_the_procfile_runs_the_serving_worker() -> None:
    import subprocess
    import sys

    from tests.procs import ROOT

    env = {
        "PATH": os.environ["PATH"],
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "TOKEN_SERVER_SKIP_DOTENV": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", CONF_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split()[0] == PROCFILE_WORKER, out.stdout + out.stderr


def test_a_body_refused_early_still_gets_its_413(stack) -> None:
    """The answer goes out before the body is read to its end: the worker must close
    gracefully (FIN, drain a little, close) or the kernel's reset can swallow the 413."""
    from tests.process.test_reliability import post_chunked

    root, _ = stack
    junk = [b'{"name": "Chunky"}'] + [b" " * 65536] * 16
    status, answer = post_chunked(root, "/api/cometchat/token/cometchat-uid-1", junk)
    assert status == 413 and answer["error"]["code"] == "ERR_BODY_TOO_LARGE"


ATOMS_SCRIPT = """
import datetime, importlib.util, sys
spec = importlib.util.spec_from_file_location("__config__", "gunicorn.conf.py")
conf = importlib.util.module_from_spec(spec)
sys.modules["__config__"] = conf
spec.loader.exec_module(conf)
from gunicorn.config import Config

class Resp:
    status = "200 OK"
    sent = 57
    headers = [("Content-Type", "application/json"), ("X-Request-ID", 'id-"1"'), ("Cache-Control", "no-store")]

environ = {"REMOTE_ADDR": "10.0.0.7", "REQUEST_METHOD": "POST", "PATH_INFO": '/api/cometchat/token/a"b',
           "RAW_URI": "/api/cometchat/token/a%22b?x=1", "SERVER_PROTOCOL": "HTTP/1.1", "QUERY_STRING": "x=1"}
took = datetime.timedelta(seconds=1, microseconds=234567)
cfg = Config()
cfg.set("accesslog", "-")
logger = conf.logger_class(cfg)
for fmt in (conf.access_log_format, conf.access_log_format + " %(a)s"):
    cfg.set("access_log_format", fmt)
    fast = fmt % logger.access_atoms(Resp(), [], environ, took)
    full = fmt % logger.atoms_wrapper_class(logger.atoms(Resp(), [], environ, took))
    print(fast == full, fast)
cfg.set("access_log_format", conf.access_log_format)
print(type(logger.access_atoms(Resp(), [], {**environ, "HTTP_X_OTHER": "1"}, took)).__name__, len(logger.access_atoms(Resp(), [], environ, took)))
"""


def test_the_access_lines_short_atoms_write_what_gunicorns_full_ones_would() -> None:
    """The access line's own atoms (a CPU cut) give the same line as gunicorn's full set, quotes
    escaped alike; another format falls back to the full set."""
    import subprocess
    import sys

    from tests.procs import ROOT

    env = {
        "PATH": os.environ["PATH"],
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "TOKEN_SERVER_SKIP_DOTENV": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", ATOMS_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 3, out.stdout + out.stderr
    assert lines[0] == r'True 10.0.0.7 "POST /api/cometchat/token/a\"b" 200 57 1234ms id-\"1\"'
    assert lines[1].startswith("True ")
    assert lines[2] == "SafeAtoms 7"  # the short set, not every header and environ entry


@pytest.mark.parametrize(
    ("name", "value"),
    [("GUNICORN_HEAD_TIMEOUT", "soon"), ("GUNICORN_HEAD_TIMEOUT", "0"), ("GUNICORN_MAX_WAITING", "1.5")],
)
def test_a_bad_worker_bound_stops_the_master_naming_it(name, value) -> None:
    import subprocess
    import sys

    from tests.procs import ROOT

    env = {
        "PATH": os.environ["PATH"],
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "TOKEN_SERVER_SKIP_DOTENV": "1",
        name: value,
    }
    out = subprocess.run(
        [sys.executable, "-c", CONF_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 3 and out.stderr.startswith("refusing to start:") and f"{name} must be" in out.stderr, out.stderr
    good = subprocess.run(
        [sys.executable, "-c", CONF_SCRIPT],
        cwd=ROOT,
        env={**env, name: "5"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stderr  # the twin: a valid bound starts
