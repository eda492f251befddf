"""The receiver across real processes (the Procfile's gunicorn, a real SQLite file, a real
redis-server): an acknowledged event survives a SIGKILL of its server, and servers sharing one
Redis handle each event once."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests import procs, stores
from tests.helpers import SERVICE_KEY
from tests.procs import start_emulator, start_gunicorn
from tests.stores import running_redis
from tests.webhook_support import CREDENTIALS, PATH, basic, port_from_range, redis_port

pytestmark = pytest.mark.slow

HANDLER = "tests.webhook_handlers:record"
# The lease (60 s) plus a restart and a poll, with room for a loaded machine: a bound only.
AFTER_RESTART_BOUND = 150.0


@pytest.fixture(autouse=True)
def ports_in_range(monkeypatch):
    """On a shared machine (TEST_PORT_RANGE set) the servers take ports from that range."""
    if os.environ.get("TEST_PORT_RANGE"):
        monkeypatch.setattr(procs, "free_port", lambda: port_from_range())
        monkeypatch.setattr(stores, "free_port", lambda: port_from_range())


def event(n: int, **data: object) -> bytes:
    import json

    return json.dumps({"trigger": "test_event", "data": {"n": n, **data}}).encode()


def deliver(root: str, raw: bytes) -> dict:
    answer = requests.post(root + PATH, data=raw, headers=basic(), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def handled(log: Path) -> Counter:
    """How many times each event (``n=<number>``) was handled, from the handler's log."""
    if not log.exists():
        return Counter()
    return Counter(line.split()[1] for line in log.read_text().splitlines() if line.strip())


def wait_for(predicate, bound: float, what: str) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {bound} s"
        time.sleep(0.1)


def kill(proc: procs.Process) -> None:
    """SIGKILL the server and its workers at once: no shutdown code runs."""
    os.killpg(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait(10)
    proc.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store_uri(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/shared/device-sessions.sqlite3"
        return
    with running_redis(tmp_path, redis_port()) as url:
        yield url


def test_an_acknowledged_event_is_handled_after_a_sigkill_and_restart(tmp_path, store_uri) -> None:
    log = tmp_path / "handled.log"
    env = {
        "COMETCHAT_EMULATOR": "1",  # one worker: its one worker thread is busy with the blocker
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "SESSION_STORE_URI": store_uri,
        "WEBHOOK_CREDENTIALS": CREDENTIALS,
        "WEBHOOK_HANDLER": HANDLER,
        "WEBHOOK_TEST_LOG": str(log),
        "WEBHOOK_TEST_BLOCK": "1",
    }
    server, root = start_gunicorn(tmp_path, env, name="before")
    try:
        deliver(root, event(0, block=True))  # its handler starts and never returns...
        wait_for(lambda: Path(str(log) + ".started").exists(), 60, "the blocking handler started")
        assert deliver(root, event(1)) == {"received": True, "duplicate": False}  # ...so this one waits
        assert handled(log) == Counter()
    finally:
        kill(server)
    env["WEBHOOK_TEST_BLOCK"] = "0"
    server, root = start_gunicorn(tmp_path, env, name="after")
    try:
        # The waiting event at once; the one whose handler died when its lease runs out (60 s).
        wait_for(lambda: handled(log).get("n=1") == 1, AFTER_RESTART_BOUND, "the waiting event handled")
        wait_for(lambda: handled(log).get("n=0") == 1, AFTER_RESTART_BOUND, "the interrupted event handled")
        assert deliver(root, event(1))["duplicate"] is True  # still remembered across the restart
    finally:
        server.stop()
    assert handled(log) == Counter({"n=0": 1, "n=1": 1})


def test_two_servers_sharing_redis_handle_each_event_once(tmp_path) -> None:
    log = tmp_path / "handled.log"
    emulator, emulator_root = start_emulator(tmp_path, api_key=procs.EMULATOR_KEY)
    started = [emulator]
    try:
        with running_redis(tmp_path, redis_port()) as url:
            env = procs.server_env(
                emulator_root,
                SESSION_STORE_URI=url,
                WEBHOOK_CREDENTIALS=CREDENTIALS,
                WEBHOOK_HANDLER=HANDLER,
                WEBHOOK_TEST_LOG=str(log),
                GUNICORN_THREADS="8",
            )  # two workers each: four worker threads compete for every event
            roots = []
            for name in ("a", "b"):
                server, root = start_gunicorn(tmp_path, env, name=name)
                started.append(server)
                roots.append(root)
            total = 40
            for n in range(total):
                # Each event reaches both servers (CometChat retrying through another instance).
                first = deliver(roots[n % 2], event(n))
                second = deliver(roots[(n + 1) % 2], event(n))
                assert (first["duplicate"], second["duplicate"]) == (False, True)
            import redis

            queue = redis.Redis.from_url(url)
            wait_for(
                lambda: len(handled(log)) == total and queue.zcard("cometchat:{cometchat-webhooks}:queue") == 0,
                60,
                "every event handled",
            )
            counts = handled(log)
            assert set(counts.values()) == {1} and len(counts) == total
    finally:
        for proc in reversed(started):
            proc.stop()


def test_the_emulators_connection_events_become_presence(tmp_path) -> None:
    """The whole loop over real sockets: a device signs in (the stand-in SDK's connection at the
    emulator), the emulator POSTs CometChat's webhook to the server, the server's presence route
    answers it; then the device disconnects."""
    port = procs.free_port()
    hook_url = f"http://cometchat:{CREDENTIALS.split(':')[1]}@127.0.0.1:{port}{PATH}"
    emulator_port = procs.free_port()
    emulator = procs.Process(
        [
            sys.executable, "-m", "cometchat.emulator", "--port", str(emulator_port), "--api-key", procs.EMULATOR_KEY,
        ],
        env={"COMETCHAT_EMULATOR_WEBHOOK_URL": hook_url, "COMETCHAT_EMULATOR_WEBHOOK_RETRY": "1"},
        log_path=tmp_path / "emulator.log",
    )  # fmt: skip
    emulator_root = f"http://127.0.0.1:{emulator_port}"
    started = [emulator]
    try:
        emulator.wait_http(emulator_root + "/_emulator/stats")
        env = procs.server_env(
            emulator_root,
            SESSION_STORE_URI=f"sqlite:///{tmp_path}/device-sessions.sqlite3",
            WEBHOOK_CREDENTIALS=CREDENTIALS,
            PORT=str(port),
        )
        server = procs.Process(procs.procfile_command(), env=env, log_path=tmp_path / "server.log")
        started.append(server)
        root = f"http://127.0.0.1:{port}"
        server.wait_http(root + "/healthz")
        service = {"Authorization": f"Bearer {SERVICE_KEY}"}
        token = requests.post(root + "/api/cometchat/token/cometchat-uid-1", headers=service, timeout=30).json()
        presence_url = root + "/api/cometchat/users/cometchat-uid-1/presence"
        assert requests.get(presence_url, headers=service, timeout=30).status_code == 404

        def presence() -> dict:
            answer = requests.get(presence_url, headers=service, timeout=30)
            return answer.json() if answer.status_code == 200 else {}

        sdk = {"authToken": token["authToken"]}
        opened = requests.put(
            emulator_root + "/v3.0/me/connection", headers=sdk, json={"platform": "android"}, timeout=5
        )
        assert opened.status_code == 200
        wait_for(lambda: presence().get("status") == "online", 60, "the connection event heard")
        assert presence()["platform"] == "android" and presence()["at"].endswith("Z")
        closed = requests.delete(
            emulator_root + "/v3.0/me/connection", headers=sdk, json={"platform": "android"}, timeout=5
        )
        assert closed.status_code == 200
        wait_for(lambda: presence().get("status") == "offline", 60, "the disconnection heard")
    finally:
        for proc in reversed(started):
            proc.stop()
