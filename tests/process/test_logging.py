"""Request ids and JSON log lines from real processes: gunicorn and python server.py."""

from __future__ import annotations

import json
import sys
import time

import requests

from tests.helpers import SERVICE_KEY, bearer, service
from tests.http.test_logging import JSON_FIELDS, MINT_ROUTE
from tests.procs import EMULATOR_KEY, Process, free_port, server_env, start_emulator, start_gunicorn


def test_gunicorn_logs_json_lines_with_the_request_id(tmp_path) -> None:
    emulator, emulator_root = start_emulator(tmp_path, api_key=EMULATOR_KEY)
    env = server_env(emulator_root, GUNICORN_THREADS="4", LOG_FORMAT="json")
    try:
        server, root = start_gunicorn(tmp_path, env)
        try:
            ok = requests.post(
                root + "/api/cometchat/token/cometchat-uid-3",
                headers={**service(), "X-Request-ID": "json-login-1"},
                timeout=10,
            )
            assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "json-login-1"
            token = ok.json()["authToken"]
            requests.post(
                emulator_root + "/_emulator/faults", json={"queue": [{"kind": "status", "status": 500}]}, timeout=5
            )
            failed = requests.post(
                root + "/api/cometchat/token/cometchat-uid-3",
                headers={**service(), "X-Request-ID": "json-fail-2"},
                timeout=10,
            )
            assert failed.status_code == 502
            requests.get(root + "/x%0aFORGED", headers=bearer(token), timeout=10)
            assert "json-login-1" in requests.get(emulator_root + "/_emulator/stats", timeout=5).json()["request_ids"]
            deadline = time.monotonic() + 10
            while "json-fail-2" not in server.output() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            output = server.stop()
    finally:
        emulator.stop()
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line parses
    assert all(JSON_FIELDS <= set(entry) for entry in entries)
    assert any(entry["logger"] == "gunicorn.error" and "Booting worker" in entry["message"] for entry in entries)
    [access] = [e for e in entries if e["logger"] == "gunicorn.access" and e["request_id"] == "json-login-1"]
    assert access["route"] == MINT_ROUTE and access["status"] == 200 and access["duration_ms"] > 0
    assert "cometchat-uid-3" in access["message"]
    failure = [e for e in entries if e["request_id"] == "json-fail-2"]
    assert {e["logger"] for e in failure} >= {"gunicorn.access", "token_server"}
    assert all(e["route"] == MINT_ROUTE for e in failure)
    assert not any(e["message"].startswith("FORGED") for e in entries)
    for secret in (EMULATOR_KEY, SERVICE_KEY, token):
        assert secret not in output


def test_python_server_py_logs_json_too(tmp_path) -> None:
    port = free_port()
    env = {"PORT": str(port), "LOG_FORMAT": "json"}
    proc = Process([sys.executable, "server.py"], env=env, log_path=tmp_path / "embedded-json.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/healthz")
        answer = requests.post(
            f"http://127.0.0.1:{port}/api/cometchat/token/cometchat-uid-1",
            headers={"X-Request-ID": "dev-1"},
            timeout=10,
        )
        assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "dev-1"
        time.sleep(0.3)
    finally:
        output = proc.stop()
    # The start-up block is printed for the person who started it; every log line is an object.
    block, stop, logged = output.partition("  stop       Ctrl+C\n")
    assert stop and "DEV MODE" in block, output
    entries = [json.loads(line) for line in logged.splitlines()]
    assert any(
        e["logger"] == "werkzeug" and "POST /api/cometchat/token/cometchat-uid-1" in e["message"] for e in entries
    )
