"""Prometheus metrics under gunicorn's workers in multiprocess mode: the folder's lifecycle, two workers counted as one server, a dead worker's gauge."""

from __future__ import annotations

import json
import os
import signal
import time
from functools import partial
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from tests.helpers import SERVICE_KEY, service
from tests.http.test_metrics import METRICS_TOKEN, MINT_ROUTE, delta, scrape_text, value
from tests.procs import EMULATOR_KEY, Process, procfile_command, server_env, start_emulator, start_gunicorn


def test_gunicorn_removes_the_metrics_folder_it_made(tmp_path) -> None:
    env = {"TMPDIR": str(tmp_path), "COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_API_KEYS": SERVICE_KEY}
    server, root = start_gunicorn(tmp_path, env)
    try:
        [made] = tmp_path.glob("token-server-metrics-*")
        [worker] = server.children()
        os.kill(worker, signal.SIGTERM)  # a worker leaving (and replaced) leaves the folder be
        deadline = time.monotonic() + 20
        while server.children() in ([], [worker]):
            assert time.monotonic() < deadline, "gunicorn did not replace its worker"
            time.sleep(0.1)
        assert made.is_dir() and requests.get(root + "/healthz", timeout=10).ok
    finally:
        server.stop()
    refused = Process(procfile_command(), env={"TMPDIR": str(tmp_path)}, log_path=tmp_path / "refused.log")
    try:
        assert refused.proc.wait(timeout=60) != 0
    finally:
        assert "refusing to start" in refused.stop()
    assert not list(tmp_path.glob("token-server-metrics-*"))  # and gone after a stop, or a refusal


def _stale_counter(directory: Path) -> None:
    """A dead server's counter file, as a crash would leave it: 1000 tokens minted."""
    db = MmapedDict(str(directory / "counter_999999.db"))
    key = mmap_key("token_server_tokens_minted", "token_server_tokens_minted_total", [], [], "stale")
    db.write_value(key, 1000.0, 0.0)
    db.close()


def _per_worker(directory: Path, name: str) -> dict[int, float]:
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        for key, found, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == name:
                counts[pid] = counts.get(pid, 0.0) + found
    return counts


@pytest.fixture(scope="module")
def gunicorn_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics-stack")
    directory = tmp / "prometheus"
    directory.mkdir()
    _stale_counter(directory)
    emulator, emulator_root = start_emulator(tmp, api_key=EMULATOR_KEY)
    env = server_env(
        emulator_root, GUNICORN_THREADS="4", METRICS_TOKEN=METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(directory)
    )
    server, root = start_gunicorn(tmp, env)
    yield root, directory, server
    server.stop()
    emulator.stop()


def test_two_gunicorn_workers_are_counted_as_one_server(gunicorn_stack) -> None:
    root, directory, server = gunicorn_stack

    def get(path: str, **kwargs):
        return requests.get(root + path, timeout=10, **kwargs)

    # The stale file of a previous run was removed at start: its 1000 mints are not counted.
    assert not (directory / "counter_999999.db").exists()
    before = scrape_text(get)
    assert value(before, "token_server_tokens_minted_total") < 1000

    def workers_that_minted() -> int:
        return len([n for n in _per_worker(directory, "token_server_tokens_minted_total").values() if n])

    sent = 0
    # New connections each time: the kernel hands them to either worker. Until both served.
    while sent < 200 and workers_that_minted() < 2:
        answer = requests.post(root + "/api/cometchat/token/cometchat-uid-4", headers=service(), timeout=10)
        assert answer.status_code == 200
        sent += 1
    assert workers_that_minted() >= 2, "one worker served every request"
    counted = partial(delta, before, scrape_text(get))
    assert counted("token_server_tokens_minted_total") == sent
    assert counted("token_server_requests_total", route=MINT_ROUTE, method="POST", status="200") == sent
    labels = dict(endpoint="POST /users/{uid}/auth_tokens", outcome="ok", status="200", code="")
    assert counted("token_server_upstream_requests_total", **labels) == sent
    text = scrape_text(get)
    assert value(text, "token_server_upstream_ratelimit_remaining") > 0
    assert "cometchat-uid-4" not in text
    # The access line carries the request id (plain format: it ends the line).
    answer = requests.post(
        root + "/api/cometchat/token/cometchat-uid-4",
        headers={**service(), "X-Request-ID": "plain-access-1"},
        timeout=10,
    )
    assert answer.headers["X-Request-ID"] == "plain-access-1"
    deadline = time.monotonic() + 10
    while "plain-access-1" not in server.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    [line] = [line for line in server.output().splitlines() if "plain-access-1" in line]
    assert '"POST /api/cometchat/token/cometchat-uid-4" 200' in line


def test_a_dead_workers_gauge_leaves_the_scrape_and_its_counts_stay(gunicorn_stack) -> None:
    root, directory, server = gunicorn_stack

    def get(path: str, **kwargs):
        return requests.get(root + path, timeout=10, **kwargs)

    assert requests.post(root + "/api/cometchat/token/cometchat-uid-5", headers=service(), timeout=10).ok
    minted = value(scrape_text(get), "token_server_tokens_minted_total")
    # The master imported the app's modules too (gunicorn.conf.py): its own files are not a worker's.
    gauges = {int(p.stem.rpartition("_")[2]) for p in directory.glob("gauge_livemostrecent_*.db")} - {server.proc.pid}
    assert gauges, "no worker has set the rate-limit gauge yet"
    worker = next(iter(gauges))
    os.kill(worker, signal.SIGTERM)  # gunicorn replaces it; child_exit marks it dead
    deadline = time.monotonic() + 20
    while (directory / f"gauge_livemostrecent_{worker}.db").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (directory / f"gauge_livemostrecent_{worker}.db").exists()
    assert value(scrape_text(get), "token_server_tokens_minted_total") == minted
