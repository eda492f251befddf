"""The Procfile's connection layer (token_server/serving/) under real gunicorn: clients that send
their requests slowly never hold the threads valid callers need, and the waiting ones are
bounded (a head timeout, a cap with the oldest closed), while a request that arrives in pieces
within the bounds is served whole. Liveness bounds in seconds, never timings."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.helpers import SERVICE_KEY, service
from tests.procs import EMULATOR_KEY, start_emulator, start_gunicorn

pytestmark = pytest.mark.slow


def mint(root: str) -> requests.Response:
    return requests.post(root + "/api/cometchat/token/cometchat-uid-1", headers=service(), timeout=30)


FEW_THREADS = 8  # far fewer than the slow sockets: with gunicorn's gthread they would all be held
MAX_WAITING = 100
PARTIAL_HEAD = b"POST /api/cometchat/token/cometchat-uid-1 HTTP/1.1\r\nHost: x\r\nX-Trickle: a"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    proc, root = start_emulator(tmp_path_factory.mktemp("slow-upstream"), api_key=EMULATOR_KEY)
    yield root
    proc.stop()


def few_threads_server(tmp, upstream: str, **env: str):
    return start_gunicorn(
        tmp,
        {
            "COMETCHAT_BASE_URL": upstream + "/v3",
            "COMETCHAT_API_KEY": EMULATOR_KEY,
            "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": str(FEW_THREADS),
            "LOG_LEVEL": "warning",
            **env,
        },
    )


@pytest.fixture(scope="module")
def held(tmp_path_factory, upstream):
    """Waiting heads kept for a minute, at most MAX_WAITING of them."""
    server, root = few_threads_server(
        tmp_path_factory.mktemp("held"), upstream, GUNICORN_HEAD_TIMEOUT="60", GUNICORN_MAX_WAITING=str(MAX_WAITING)
    )
    yield root
    server.stop()


def address(root: str) -> tuple[str, int]:
    host, port = root.removeprefix("http://").split(":")
    return host, int(port)


def open_slow(root: str, count: int, *, after_a_request: bool = False) -> list[socket.socket]:
    """``count`` connections that each send part of a request head and then nothing; with
    ``after_a_request``, each first gets a whole answer on the same kept-alive connection."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(address(root), timeout=10)
        if after_a_request:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(PARTIAL_HEAD)
        sockets.append(sock)
    return sockets


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_clients_never_hold_the_threads_valid_callers_need(held) -> None:
    """Ten times as many stalled heads as threads, new connections and kept-alive ones: a valid
    /healthz and a mint are still answered (within seconds: a liveness bound, not a timing)."""
    sockets = open_slow(held, 45) + open_slow(held, 45, after_a_request=True)
    try:
        time.sleep(0.5)  # every head is now inside the server
        assert requests.get(held + "/healthz", timeout=10).status_code == 200
        assert mint(held).status_code == 200
        assert not any(closed_by_server(sock) for sock in sockets[:3])  # still held: not the timeout's doing
    finally:
        for sock in sockets:
            sock.close()


def test_past_max_waiting_the_oldest_heads_are_closed_and_valid_callers_answered(held) -> None:
    sockets = open_slow(held, 2 * MAX_WAITING)
    try:
        assert requests.get(held + "/healthz", timeout=10).status_code == 200
        assert mint(held).status_code == 200
        closed = sum(closed_by_server(sock) for sock in sockets[:MAX_WAITING])
        assert closed == MAX_WAITING  # the oldest made room
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def impatient(tmp_path_factory, upstream):
    server, root = few_threads_server(tmp_path_factory.mktemp("impatient"), upstream, GUNICORN_HEAD_TIMEOUT="1")
    yield root
    server.stop()


def test_a_head_not_complete_within_its_timeout_is_closed(impatient) -> None:
    (sock,) = open_slow(impatient, 1)
    try:
        assert closed_by_server(sock)
    finally:
        sock.close()


@pytest.mark.parametrize(("body", "status"), [(b'{"name": "Ann"}', 200), (b'{"name": 5}', 400)])
def test_a_request_sent_in_pieces_within_the_timeout_is_served_whole(impatient, body, status) -> None:
    """The twin: head and body arriving in pieces (under the timeout) reach the app intact."""
    head = (
        f"POST /api/cometchat/token/cometchat-uid-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SERVICE_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    request = head + body
    pieces = [request[:20], request[20 : len(head) + 3], request[len(head) + 3 :]]
    with socket.create_connection(address(impatient), timeout=10) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.1)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:200]
    if status == 400:
        assert b"name" in answer.split(b"\r\n\r\n", 1)[1]


UNFINISHED_BODY = (
    b"POST /api/cometchat/token/cometchat-uid-1 HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
)


def test_unfinished_bodies_without_credentials_never_stall_the_worker(held) -> None:
    """An outside attack on plain gthread: requests whose body never finishes, with no
    credentials, were answered 401 unread and each closed gracefully on the worker's main loop
    (up to 2 s each), so twenty of them froze /healthz and every mint. Here their bodies are
    awaited in the event loop, holding no thread, and valid callers are answered."""
    sockets = []
    try:
        for _ in range(3 * FEW_THREADS):
            sock = socket.create_connection(address(held), timeout=10)
            sock.sendall(UNFINISHED_BODY)
            sockets.append(sock)
        time.sleep(0.5)
        for _ in range(3):
            assert requests.get(held + "/healthz", timeout=5).status_code == 200
            assert mint(held).status_code == 200
    finally:
        for sock in sockets:
            sock.close()
