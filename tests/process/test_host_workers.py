"""Two gunicorn workers of a host app that embeds the routes and names no device store hand a
device ONE token: the default store is the SQLite file (and key file) they share, as the
stand-alone server's (real processes, a real SQLite file, the standalone emulator)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import requests

from tests.procs import EMULATOR_KEY, ROOT, Process, free_port

WAIT = 30.0  # bound on each wait for a worker to be held


class Host:
    def __init__(self, root: str, signals: Path) -> None:
        self.root, self.signals = root, signals
        self.holds: list[threading.Thread] = []

    def held(self) -> set[int]:
        return {int(p.name.split("-")[1]) for p in self.signals.glob("held-*")}

    def _hold_one(self) -> int:
        """Send a hold; the pid of the worker it landed on (a free one)."""
        before = self.held()
        thread = threading.Thread(target=requests.get, args=(self.root + "/host/hold",), kwargs={"timeout": 60})
        thread.start()
        self.holds.append(thread)
        deadline = time.monotonic() + WAIT
        while not self.held() - before:
            assert time.monotonic() < deadline, "no worker took the hold"
            time.sleep(0.01)
        (pid,) = self.held() - before
        return pid

    def release(self, pid: int) -> None:
        (self.signals / f"release-{pid}").touch()
        deadline = time.monotonic() + WAIT
        while pid in self.held():
            assert time.monotonic() < deadline, "the held worker did not let go"
            time.sleep(0.01)

    def busy(self, pid: int) -> None:
        """Make worker ``pid`` busy and the other free: the next request goes to the other."""
        first = self._hold_one()
        if first != pid:
            assert self._hold_one() == pid  # the other one is held: this hold lands on pid
            self.release(first)

    def release_all(self) -> None:
        for pid in self.held():
            (self.signals / f"release-{pid}").touch()
        for thread in self.holds:
            thread.join(60)


def login(root: str) -> tuple[dict, int]:
    answer = requests.post(root + "/api/cometchat/token/ann", json={"deviceId": "laptop"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json(), int(answer.headers["X-Worker-Pid"])


def test_two_workers_of_a_host_hand_a_device_one_token(tmp_path, emulator) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    port = free_port()
    env = {"HOST_UPSTREAM": emulator.base_url, "HOST_UPSTREAM_KEY": EMULATOR_KEY, "HOST_SIGNALS": str(signals)}
    args = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    args += ["--pythonpath", str(ROOT), "tests.embedded_host:app"]
    proc = Process(args, env=env, log_path=tmp_path / "host.log", cwd=tmp_path)
    host = Host(f"http://127.0.0.1:{port}", signals)
    try:
        proc.wait_http(host.root + "/host/ping", timeout=60)  # a loaded machine boots two workers slowly
        any_worker = host._hold_one()
        first, first_pid = login(host.root)  # answered by the worker that is not held
        assert first_pid != any_worker and first["reused"] is False
        host.release(any_worker)
        host.busy(first_pid)
        second, second_pid = login(host.root)  # the other worker, on its own first login
        assert second_pid == any_worker
        assert (second["authToken"], second["reused"]) == (first["authToken"], True)
    finally:
        host.release_all()
        output = proc.stop()
    assert (tmp_path / "instance" / "device-sessions.sqlite3").exists()
    assert "memory://" not in output
