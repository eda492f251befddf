"""The real start-up paths over real sockets: gunicorn from the Procfile against the emulator
in its own process, `python server.py` with no configuration, refusals, and what the logs hold."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

from tests.helpers import JWT_SECRET, ROTATED_KEY, SERVICE_KEY, as_user, bearer, service, user_jwt
from tests.procs import (
    EMULATOR_KEY,
    ROOT,
    Process,
    free_port,
    procfile_command,
    server_env,
    start_emulator,
    start_gunicorn,
    start_stack,
)

# Both service keys (one rotated out) and JWT callers.
CALLERS = {"TOKEN_SERVER_API_KEYS": f"{SERVICE_KEY},{ROTATED_KEY}", "AUTH_JWT_SECRET": JWT_SECRET}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("stack"), **CALLERS)
    yield running.root, running.emulator_root, running.server
    running.stop()


def test_procfile_is_one_line_running_gunicorn_through_server_py() -> None:
    # server.py --production checks WEB_CONCURRENCY before gunicorn reads it, then runs gunicorn.
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and procfile_command() == ["python", "server.py", "--production"]


def test_gunicorn_mints_over_real_http(stack) -> None:
    root, emulator_root, _ = stack
    answer = requests.post(root + "/api/cometchat/token/cometchat-uid-1", headers=service(), timeout=10)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    token = answer.json()["authToken"]
    # The token is real: the emulator (standing for CometChat) accepts it for a login.
    me = requests.put(emulator_root + "/v3.0/me", headers={"authToken": token}, timeout=5)
    assert me.status_code == 200 and me.json()["data"]["uid"] == "cometchat-uid-1"


def test_gunicorn_full_flow_for_an_end_user(stack) -> None:
    root, _, _ = stack
    headers = as_user("process-user")
    created = requests.post(
        root + "/api/cometchat/users", json={"uid": "process-user", "name": "P"}, headers=headers, timeout=10
    )
    assert created.status_code in (201, 409)
    mint = requests.post(root + "/api/cometchat/token", headers=headers, timeout=10)
    assert mint.status_code == 200 and mint.json()["uid"] == "process-user"
    revoke = requests.post(
        root + "/api/cometchat/token/process-user/revoke",
        json={"authToken": mint.json()["authToken"]},
        headers=headers,
        timeout=10,
    )
    assert revoke.status_code == 200
    forbidden = requests.post(root + "/api/cometchat/token/cometchat-uid-1", headers=headers, timeout=10)
    assert forbidden.status_code == 403


def test_gunicorn_answers_json_for_unknown_routes(stack) -> None:
    root, _, _ = stack
    answer = requests.get(root + "/nowhere", timeout=5)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "ERR_NOT_FOUND"
    assert requests.get(root + "/", timeout=5).status_code == 404  # no demo page in production


def test_logs_never_hold_a_secret(stack, tmp_path) -> None:
    root, emulator_root, server = stack
    minted = []
    jwt_token = user_jwt("cometchat-uid-2")
    for headers in (service(), bearer(ROTATED_KEY), bearer(jwt_token)):
        answer = requests.post(root + "/api/cometchat/token/cometchat-uid-2", headers=headers, timeout=10)
        minted.append(answer.json()["authToken"])
    requests.post(
        root + "/api/cometchat/token/cometchat-uid-2/revoke",
        json={"authToken": minted[0]},
        headers=service(),
        timeout=10,
    )
    requests.post(
        root + "/api/cometchat/token/cometchat-uid-2/revoke?authToken=" + minted[1],
        json={"authToken": minted[1]},
        headers=service(),
        timeout=10,
    )
    requests.post(root + "/api/cometchat/token/cometchat-uid-2", headers=bearer(SERVICE_KEY + "x"), timeout=10)
    requests.post(root + "/api/cometchat/token/cometchat-uid-2", headers=bearer(user_jwt("x", exp_in=-999)), timeout=10)
    # Upstream failures, logged at WARNING/ERROR with whatever CometChat said.
    requests.post(
        emulator_root + "/_emulator/faults",
        json={"queue": [{"kind": "html"}] * 3 + [{"kind": "status", "status": 500}]},
        timeout=5,
    )
    failed = requests.post(root + "/api/cometchat/token/cometchat-uid-2", headers=service(), timeout=15)
    assert failed.status_code == 502
    for body in (failed.text,):
        assert EMULATOR_KEY not in body
    time.sleep(0.5)
    log = server.output()
    assert "POST /api/cometchat/token/cometchat-uid-2" in log  # the access log is there
    for secret in (EMULATOR_KEY, SERVICE_KEY, ROTATED_KEY, JWT_SECRET, jwt_token, *minted):
        assert secret not in log, f"a secret leaked into the logs: {secret[:6]}…"


def test_access_log_lines_cannot_be_forged(stack) -> None:
    root, _, server = stack
    # gunicorn percent-decodes the path it logs: %0a is a newline, %1b an escape, %e2%80%a8 U+2028.
    for path in (
        "/x%0aERROR%20forged%20one",
        "/y%0d%0aERROR%20forged%20two%1b[2J",
        "/z%e2%80%a8ERROR%20forged%20three",
    ):
        assert requests.get(root + path, timeout=5).status_code == 404
    time.sleep(0.5)
    log = server.output()
    assert not [line for line in log.splitlines() if line.startswith("ERROR forged")]
    assert "\x1b" not in log and "\u2028" not in log
    assert "/x\\nERROR forged one" in log and "/y\\r\\nERROR forged two\\x1b[2J" in log
    # WSGI paths are latin-1: U+2028's bytes arrive as "\xe2\x80\xa8", and \x80 is a C1 control.
    assert "/z\u00e2\\x80\u00a8ERROR forged three" in log


def test_access_log_has_no_query_string(stack) -> None:
    root, _, server = stack
    assert requests.get(root + "/healthz?probe=query-string-marker", timeout=5).status_code == 200
    time.sleep(0.5)
    log = server.output()
    assert '"GET /healthz"' in log and "query-string-marker" not in log


def test_memory_rate_limits_with_several_workers_are_announced(stack) -> None:
    _, _, server = stack  # WEB_CONCURRENCY=2, RATELIMIT_STORAGE_URI unset (memory://)
    warning = [line for line in server.output().splitlines() if "RATELIMIT_STORAGE_URI" in line]
    assert len(warning) == 1 and "memory://" in warning[0] and "per worker" in warning[0]


def test_dotenv_in_a_parent_folder_never_opens_gunicorn(tmp_path) -> None:
    """A checkout inside a folder whose .env says TOKEN_SERVER_DEV=1 (a home folder, a monorepo
    root): the server still asks callers for their credentials."""
    parent = tmp_path / "monorepo"
    checkout = parent / "token-server"
    for name in ("server.py", "gunicorn.conf.py"):
        checkout.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, checkout / name)
    for name in ("token_server", "cometchat"):
        shutil.copytree(ROOT / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    (parent / ".env").write_text("TOKEN_SERVER_DEV=1\n")
    env = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_API_KEYS": SERVICE_KEY, "TOKEN_SERVER_SKIP_DOTENV": "0"}
    server, root = start_gunicorn(tmp_path, env, cwd=checkout)
    try:
        anonymous = requests.post(root + "/api/cometchat/token/cometchat-uid-1", timeout=10)
        assert anonymous.status_code == 401
        assert requests.post(root + "/api/cometchat/token/cometchat-uid-1", headers=service(), timeout=10).ok
    finally:
        output = server.stop()
    assert "DEV MODE" not in output


def test_gunicorn_refuses_to_start_without_configuration(tmp_path) -> None:
    for env, expected in (
        ({}, ["COMETCHAT_API_KEY", "COMETCHAT_APP_ID", "COMETCHAT_REGION", "TOKEN_SERVER_API_KEYS"]),
        ({"COMETCHAT_EMULATOR": "1"}, ["TOKEN_SERVER_API_KEYS", "TOKEN_SERVER_DEV=1"]),
        ({"TOKEN_SERVER_API_KEYS": SERVICE_KEY}, ["COMETCHAT_API_KEY", "COMETCHAT_EMULATOR=1"]),
    ):
        proc = Process(procfile_command(), env={**env, "PORT": str(free_port())}, log_path=tmp_path / "refused.log")
        proc.proc.wait(timeout=30)
        output = proc.stop()
        assert proc.proc.returncode != 0
        assert "refusing to start" in output
        for name in expected:
            assert name in output


def test_gunicorn_with_the_emulator_runs_one_worker(tmp_path) -> None:
    server, root = start_gunicorn(
        tmp_path, {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_API_KEYS": SERVICE_KEY, "WEB_CONCURRENCY": "4"}
    )
    try:
        tokens = [
            requests.post(
                root + "/api/cometchat/users",
                json={"uid": f"one-worker-{n}", "name": "W"},
                headers=service(),
                timeout=10,
            ).status_code
            for n in range(3)
        ]
        assert tokens == [201, 201, 201]
        assert (
            requests.get(root + "/api/cometchat/users/one-worker-1", headers=service(), timeout=10).status_code == 200
        )
    finally:
        output = server.stop()
    assert output.count("Booting worker") == 1
    assert "RATELIMIT_STORAGE_URI" not in output  # one worker: the limits hold as configured


def test_python_server_py_is_the_embedded_default(tmp_path) -> None:
    port = free_port()
    proc = Process([sys.executable, "server.py"], env={"PORT": str(port)}, log_path=tmp_path / "embedded.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/healthz")
        root = f"http://127.0.0.1:{port}"
        page = requests.get(root + "/", timeout=5)
        assert page.status_code == 200 and "embedded CometChat emulator" in page.text
        answer = requests.post(root + "/api/cometchat/token/cometchat-uid-1", timeout=10)
        assert answer.status_code == 200 and answer.json()["authToken"].startswith("cometchat-uid-1_")
        # werkzeug logs the request line with its query string; the app's log filter masks it.
        secret_query = "/healthz?id_token=" + user_jwt("cometchat-uid-1")
        assert requests.get(root + secret_query, timeout=5).status_code == 200
        assert requests.get(root + "/x%0aERROR%20forged", timeout=5).status_code == 404
        time.sleep(0.3)
    finally:
        output = proc.stop()
    assert user_jwt("cometchat-uid-1").split(".")[1] not in output and "GET /healthz?id_token=[REDACTED]" in output
    assert not [line for line in output.splitlines() if line.startswith("ERROR forged")]
    # A 404's request line is plain text, not werkzeug's ANSI colours printed as escaped codes.
    assert '"GET /x%0AERROR%20forged HTTP/1.1" 404' in output and "\\x1b[" not in output, output
    # The start-up block itself is compared with the README in test_startup.py.
    assert output.count("CometChat token server\n") == 1 and f"listening  http://127.0.0.1:{port} " in output
    assert "upstream   the embedded CometChat emulator" in output and "DEV MODE" in output


def test_python_server_py_binds_loopback_only(tmp_path) -> None:
    import socket

    port = free_port()
    proc = Process([sys.executable, "server.py"], env={"PORT": str(port)}, log_path=tmp_path / "bind.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/healthz")
        listening = (
            subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
            if shutil.which("ss")
            else ""
        )
        if listening:
            local_addresses = {line.split()[3] for line in listening.splitlines()}
            assert local_addresses == {f"127.0.0.1:{port}"}
        else:  # no ss: at least the loopback address answers
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
    finally:
        proc.stop()


REDIS = shutil.which("redis-server")


@pytest.mark.skipif(not REDIS and os.environ.get("CI") != "true", reason="redis-server is not installed")
def test_rate_limits_are_shared_through_redis(tmp_path) -> None:
    assert REDIS, "CI must install redis-server"
    redis_port = free_port()
    redis = Process(
        [REDIS, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        log_path=tmp_path / "redis.log",
    )
    emulator, emulator_root = start_emulator(tmp_path, api_key=EMULATOR_KEY)
    env = server_env(
        emulator_root,
        **CALLERS,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis_port}/0",
        RATE_LIMIT_PER_USER="3 per minute",
        WEB_CONCURRENCY="1",
    )
    time.sleep(0.3)
    first, root_a = start_gunicorn(tmp_path, env, name="a")
    second, root_b = start_gunicorn(tmp_path, env, name="b")
    try:
        headers = as_user("shared-limit-user")
        codes = [
            requests.post(root + "/api/cometchat/token", headers=headers, timeout=10).status_code
            for root in (root_a, root_b, root_a, root_b, root_a)
        ]
        assert codes == [200, 200, 200, 429, 429]
    finally:
        first.stop()
        second.stop()
        emulator.stop()
        redis.stop()
