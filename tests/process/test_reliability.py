"""Reliability under upstream faults and load: real processes over real sockets.

The server runs under its Procfile command against the emulator in its own process, with
short client timeouts (read 1 s, deadline 3 s) so that every bound is checked quickly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers import SERVICE_KEY, service
from tests.procs import EMULATOR_KEY, free_port, server_env, start_gunicorn, start_stack

READ_TIMEOUT = 1.0
DEADLINE = 3.0


SETTINGS = {
    "COMETCHAT_READ_TIMEOUT": str(READ_TIMEOUT),
    "COMETCHAT_DEADLINE": str(DEADLINE),
    "GUNICORN_THREADS": "32",
    "RATE_LIMIT_PER_ADDRESS": "100000 per minute",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("reliability"), **SETTINGS)
    yield running.root, running.emulator_root
    running.stop()


@pytest.fixture
def upstream(stack):
    root, emulator_root = stack
    requests.post(emulator_root + "/_emulator/reset", timeout=5).raise_for_status()

    def inject(*faults: dict) -> None:
        requests.post(emulator_root + "/_emulator/faults", json={"queue": list(faults)}, timeout=5).raise_for_status()

    return inject


def mint(root: str, uid: str = "cometchat-uid-1", timeout: float = 15) -> requests.Response:
    return requests.post(f"{root}/api/cometchat/token/{uid}", headers=service(), timeout=timeout)


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.parametrize("seconds", [READ_TIMEOUT * 3, 60.0], ids=["slow", "hung"])
def test_slow_or_hung_upstream_is_a_bounded_504_and_the_worker_is_free_again(stack, upstream, seconds) -> None:
    root, _ = stack
    upstream({"kind": "hang", "seconds": seconds})
    answer, elapsed = timed(lambda: mint(root))
    assert answer.status_code == 504 and answer.json()["error"]["code"] == "ERR_UPSTREAM_TIMEOUT"
    assert elapsed < READ_TIMEOUT + 1.0
    after, elapsed = timed(lambda: mint(root))
    assert after.status_code == 200 and elapsed < 1.0


def test_other_requests_are_served_while_the_upstream_hangs(stack, upstream) -> None:
    root, _ = stack
    upstream({"kind": "hang", "seconds": 30})
    hung: dict = {}
    thread = threading.Thread(target=lambda: hung.update(answer=mint(root)))
    thread.start()
    time.sleep(0.2)  # the hang is now taken by that request
    health, health_time = timed(lambda: requests.get(root + "/healthz", timeout=5))
    other, other_time = timed(lambda: mint(root, "cometchat-uid-2"))
    thread.join()
    assert health.status_code == 200 and health_time < 0.5
    assert other.status_code == 200 and other_time < 0.5
    assert hung["answer"].status_code == 504


def test_a_5xx_burst_is_retried(stack, upstream) -> None:
    root, emulator_root = stack
    upstream({"kind": "status", "status": 503}, {"kind": "status", "status": 502})
    answer = mint(root)
    assert answer.status_code == 200 and answer.json()["authToken"]
    # The 503, the 502, then the answer: three attempts of this one request reached CometChat.
    seen = requests.get(emulator_root + "/_emulator/stats", timeout=5).json()["request_ids"]
    assert seen.count(answer.headers["X-Request-Id"]) == 3


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [
        (503, 503, "ERR_UPSTREAM_UNAVAILABLE"),
        (502, 502, "ERR_UPSTREAM_BAD_RESPONSE"),
        (504, 504, "ERR_UPSTREAM_TIMEOUT"),
    ],
)
def test_a_longer_5xx_burst_ends_in_a_clear_json_error(stack, upstream, status, expected, code) -> None:
    root, _ = stack
    upstream(*[{"kind": "status", "status": status}] * 3)
    answer, elapsed = timed(lambda: mint(root))
    assert answer.status_code == expected and answer.json()["error"]["code"] == code
    assert elapsed < DEADLINE + 0.5
    if expected == 503:
        assert int(answer.headers["Retry-After"]) >= 1


def test_429_within_the_budget_is_retried(stack, upstream) -> None:
    root, _ = stack
    upstream({"kind": "status", "status": 429, "retry_after": 1})
    answer, elapsed = timed(lambda: mint(root))
    assert answer.status_code == 200 and 1.0 <= elapsed < DEADLINE


def test_429_beyond_the_budget_is_503_with_retry_after(tmp_path) -> None:
    # Its own server: the 429 closes the app's upstream budget for 30 s (cometchat.budget). One
    # worker: with the budget in process memory, a second worker has not heard the 429.
    running = start_stack(tmp_path, **{**SETTINGS, "WEB_CONCURRENCY": "1"})
    root, emulator_root = running.root, running.emulator_root
    try:
        body = {"queue": [{"kind": "status", "status": 429, "retry_after": 30}]}
        requests.post(emulator_root + "/_emulator/faults", json=body, timeout=5).raise_for_status()
        answer, elapsed = timed(lambda: mint(root))
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "ERR_UPSTREAM_RATE_LIMITED"
        assert answer.headers["Retry-After"] == "30" and elapsed < 1.0
        again = mint(root)  # the budget answers now, without calling upstream
        assert again.status_code == 503 and 28 <= int(again.headers["Retry-After"]) <= 30
        assert requests.get(emulator_root + "/_emulator/stats", timeout=5).json()["requests"] == 1
    finally:
        running.stop()


@pytest.mark.parametrize("kind", ["malformed", "html"])
def test_malformed_and_html_answers_are_502(stack, upstream, kind) -> None:
    root, _ = stack
    upstream(*[{"kind": kind}] * 3)
    answer = mint(root)
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "ERR_UPSTREAM_BAD_RESPONSE"
    assert "<html>" not in answer.text


def test_a_dropped_connection_is_retried_then_503(stack, upstream) -> None:
    root, _ = stack
    upstream({"kind": "reset"})
    assert mint(root).status_code == 200
    upstream(*[{"kind": "reset"}] * 3)
    answer = mint(root)
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "ERR_UPSTREAM_UNAVAILABLE"


def test_upstream_down_at_start(tmp_path) -> None:
    dead_port = free_port()  # nothing listens here
    env = server_env(f"http://127.0.0.1:{dead_port}", COMETCHAT_DEADLINE=str(DEADLINE), WEB_CONCURRENCY=None)
    server, root = start_gunicorn(tmp_path, env)
    try:
        assert requests.get(root + "/healthz", timeout=5).status_code == 200
        answer, elapsed = timed(lambda: mint(root))
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "ERR_UPSTREAM_UNAVAILABLE"
        assert int(answer.headers["Retry-After"]) >= 1 and elapsed < DEADLINE + 0.5
    finally:
        server.stop()


def test_300_simultaneous_mints_all_succeed_with_distinct_tokens(stack, upstream) -> None:
    root, _ = stack
    uids = [f"cometchat-uid-{n}" for n in range(1, 6)]
    with ThreadPoolExecutor(max_workers=60) as pool:
        answers = list(pool.map(lambda i: mint(root, uids[i % len(uids)]), range(300)))
    assert [a.status_code for a in answers] == [200] * 300
    tokens = [a.json()["authToken"] for a in answers]
    assert len(set(tokens)) == 300


def test_50_simultaneous_first_logins_create_exactly_one_user(stack, upstream) -> None:
    root, emulator_root = stack
    users_before = requests.get(emulator_root + "/_emulator/stats", timeout=5).json()["users"]
    barrier = threading.Barrier(50)

    def first_login(_: int) -> requests.Response:
        barrier.wait()
        return mint(root, "brand-new-racer")

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(first_login, range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    assert len({a.json()["authToken"] for a in answers}) == 50
    assert requests.get(emulator_root + "/_emulator/stats", timeout=5).json()["users"] == users_before + 1
    listed = requests.get(
        emulator_root + "/v3/users/brand-new-racer/auth_tokens",
        params={"perPage": 100},
        headers={"apikey": EMULATOR_KEY},
        timeout=5,
    ).json()
    assert listed["meta"]["pagination"]["total"] == 50  # every token is live: none half made


def post_chunked(root: str, path: str, chunks: list[bytes]) -> tuple[int, dict]:
    """POST a Transfer-Encoding: chunked body over a raw socket; the status and JSON answer."""
    host, port = root.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {SERVICE_KEY}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before the body ends and stop reading it
        answer = b""
        for _ in range(1000):  # bounded: the server closes after its answer
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    if b"chunked" in head_part.lower():  # a chunked answer: one chunk then the end
        body = body.split(b"\r\n", 2)[1]
    return status, json.loads(body)


def test_a_chunked_body_past_the_cap_is_413_under_gunicorn(stack, upstream) -> None:
    root, emulator_root = stack
    before = requests.get(emulator_root + "/_emulator/stats", timeout=5).json()["requests"]
    junk = [b'{"name": "Chunky"}'] + [b" " * 65536] * 16  # a valid prefix, then 1 MB of spaces
    status, answer = post_chunked(root, "/api/cometchat/token/cometchat-uid-1", junk)
    assert status == 413 and answer["error"]["code"] == "ERR_BODY_TOO_LARGE"
    assert requests.get(emulator_root + "/_emulator/stats", timeout=5).json()["requests"] == before
    small_status, small = post_chunked(root, "/api/cometchat/token/cometchat-uid-1", [b'{"name": ', b'"Chunky"}'])
    assert small_status == 200 and small["uid"] == "cometchat-uid-1"
