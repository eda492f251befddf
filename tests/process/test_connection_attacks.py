"""The attacks an outside tester, with no credential, used on last round's worker (issue 26),
and the framing cases, against the Procfile's command over real sockets. Each runs while its
twin checks that valid mints and /healthz are still answered, and that the one worker never
restarted. Bounds are liveness bounds (seconds on a loaded machine), never timings."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.helpers import SERVICE_KEY, service
from tests.procs import Process, free_port, procfile_command, start_gunicorn
from tests.webhook_support import CREDENTIALS, PATH, basic, message_sent
from tests.webhook_support import body as webhook_body

pytestmark = pytest.mark.slow

THREADS = 8  # far fewer than the attacking sockets: an attack that held threads would show
MAX_WAITING = 200
ANSWERED_WITHIN = 3.0  # seconds: generous (the target is a mint's p99 under 1 s)
MINT = "/api/cometchat/token/cometchat-uid-1"
METRICS_TOKEN = "metrics-token-for-the-attack-suite"


def metric(root: str, name: str) -> float:
    text = requests.get(root + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def emulated(**extra: str) -> dict[str, str]:
    return {
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "GUNICORN_THREADS": str(THREADS),
        "LOG_LEVEL": "info",
        "METRICS_TOKEN": METRICS_TOKEN,
        "WEBHOOK_CREDENTIALS": CREDENTIALS,  # its route takes bodies up to 1 MiB, the others 64 KB
        **extra,
    }


@pytest.fixture(scope="module")
def held(tmp_path_factory) -> Iterator[tuple[Process, str]]:
    """Attacks stay in place for the whole test (a minute per head, body, write)."""
    server, root = start_gunicorn(
        tmp_path_factory.mktemp("held"),
        # Kept-alive connections idle for a minute too (gunicorn's keepalive, 5 s in gunicorn.conf.py).
        emulated(GUNICORN_HEAD_TIMEOUT="60", GUNICORN_MAX_WAITING=str(MAX_WAITING), GUNICORN_CMD_ARGS="--keep-alive 60"),
    )
    yield server, root
    server.stop()


CROWDED_WAITING = 100  # and as many more open: past 200 open, room is made or a new one closed


@pytest.fixture(scope="module")
def crowded(tmp_path_factory) -> Iterator[tuple[Process, str]]:
    """Small caps, attacks held for a minute: past them, valid callers must still get in."""
    server, root = start_gunicorn(
        tmp_path_factory.mktemp("crowded"),
        emulated(
            GUNICORN_HEAD_TIMEOUT="60",
            GUNICORN_MAX_WAITING=str(CROWDED_WAITING),
            GUNICORN_CMD_ARGS=f"--keep-alive 60 --worker-connections {CROWDED_WAITING}",
        ),
    )
    yield server, root
    assert booted(server) == 1, server.output()[-3000:]
    server.stop()


@pytest.fixture(scope="module")
def impatient(tmp_path_factory) -> Iterator[tuple[Process, str]]:
    server, root = start_gunicorn(tmp_path_factory.mktemp("impatient"), emulated(GUNICORN_HEAD_TIMEOUT="1"))
    yield server, root
    server.stop()


def address(root: str) -> tuple[str, int]:
    host, port = root.removeprefix("http://").split(":")
    return host, int(port)


def booted(server: Process) -> int:
    return len(re.findall(r"Booting worker with pid", server.output()))


def answered(root: str, rounds: int = 3) -> float:
    """The twin: valid /healthz and mints, each answered; the slowest answer's seconds."""
    slowest = 0.0
    for _ in range(rounds):
        for method, path, headers in (("GET", "/healthz", {}), ("POST", MINT, service())):
            started = time.monotonic()
            answer = requests.request(method, root + path, headers=headers, timeout=30)
            slowest = max(slowest, time.monotonic() - started)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
    assert slowest < ANSWERED_WITHIN, slowest
    return slowest


def connect(root: str, payload: bytes = b"", count: int = 1) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(address(root), timeout=10)
        if payload:
            sock.sendall(payload)
        sockets.append(sock)
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    return answer


def read_answer(sock: socket.socket) -> bytes:
    """One answer on a kept-alive connection: its head, then as many bytes as it announces."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(4096)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: *(\d+)", head, re.I)
    while length and len(body) < int(length.group(1)) and (chunk := sock.recv(4096)):
        body += chunk
    return head + b"\r\n\r\n" + body


def closed_by_server(sock: socket.socket, within: float = 15) -> bool:
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.fixture
def no_restart(held):
    server, _ = held
    before = booted(server)
    yield
    assert booted(server) == before == 1, server.output()[-3000:]
    assert "WORKER TIMEOUT" not in server.output()


def request(method: str, path: str, *lines: str, body: bytes = b"", version: str = "1.1") -> bytes:
    head = f"{method} {path} HTTP/{version}\r\nHost: x\r\n" + "".join(line + "\r\n" for line in lines) + "\r\n"
    return head.encode() + body


# ---- the seven attacks on HeadFirstWorker (issue 26) ------------------------------------------


@pytest.mark.parametrize("closing", ["HTTP/1.0", "Connection: close"])
def test_1_whole_requests_whose_clients_never_close(held, no_restart, closing) -> None:
    _, root = held
    payload = request("GET", "/healthz", version="1.0") if closing == "HTTP/1.0" else request(
        "GET", "/healthz", "Connection: close"
    )
    sockets = connect(root, payload, count=40)
    try:
        answered(root)
    finally:
        close_all(sockets)


def test_2_a_whole_request_then_the_first_byte_of_the_next(held, no_restart) -> None:
    _, root = held
    sockets = connect(root, request("GET", "/healthz") + b"G", count=300)
    try:
        answered(root)
    finally:
        close_all(sockets)


def test_3_heads_of_64_kb_or_more_that_never_finish_are_answered_431(held, no_restart) -> None:
    _, root = held
    partial = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * (64 * 1024) + b"\r\n"
    sockets = connect(root, partial, count=300)
    try:
        answered(root)
        # The newest (the oldest may have been closed unanswered, past GUNICORN_MAX_WAITING).
        assert read_all(sockets[-1]).startswith(b"HTTP/1.1 431")
    finally:
        close_all(sockets)


@pytest.mark.parametrize(
    "lines",
    [
        ("Transfer-Encoding: chunked",),
        ("Content-Length: 100", "Expect: 100-continue"),
        (f"Content-Length: {70 * 1024}",),
    ],
    ids=["chunked", "expect-100", "over-64kb"],
)
def test_4_bodies_that_never_arrive_without_credentials(held, no_restart, lines) -> None:
    """Sixty a second from one client, for three seconds, each left open."""
    _, root = held
    sockets: list[socket.socket] = []
    try:
        for _ in range(3):
            sockets += connect(root, request("POST", MINT, "Content-Type: application/json", *lines), count=60)
            answered(root, rounds=1)
            time.sleep(0.3)
        answered(root)
    finally:
        close_all(sockets)


def test_5_pipelined_answers_never_read(held, no_restart) -> None:
    _, root = held
    many = request("GET", "/openapi.json") * 300
    sockets = []
    try:
        for _ in range(2 * THREADS):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
            sock.settimeout(10)
            sock.connect(address(root))
            sock.setblocking(False)
            try:
                sock.send(many)  # as much as the server takes; never read
            except BlockingIOError:
                pass
            sockets.append(sock)
        time.sleep(0.5)
        answered(root)
    finally:
        close_all(sockets)


def test_5_a_client_that_never_reads_is_closed_after_the_write_timeout(impatient) -> None:
    _, root = impatient
    sock = socket.create_connection(address(root), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(request("GET", "/openapi.json") * 200)
        time.sleep(3)  # the server's writes stall, then its write timeout (1 s) ends the connection
        assert closed_by_server(sock)
        answered(root)
    finally:
        sock.close()


def test_6_closing_the_oldest_waiting_connections_never_crashes_the_worker(held, no_restart) -> None:
    """Three times GUNICORN_MAX_WAITING stalled heads while kept-alive callers mint: every mint
    answered (none lost to a closed connection), the oldest heads closed."""
    _, root = held
    results: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    ready = threading.Barrier(5)

    def keep_minting() -> None:
        with requests.Session() as session:
            try:
                results.append(session.post(root + MINT, headers=service(), timeout=30).status_code)
                ready.wait(30)  # kept alive from here on
                while not stop.is_set():
                    results.append(session.post(root + MINT, headers=service(), timeout=30).status_code)
            except BaseException as exc:  # the test's verdict, below
                errors.append(exc)

    minters = [threading.Thread(target=keep_minting) for _ in range(4)]
    for minter in minters:
        minter.start()
    sockets: list[socket.socket] = []
    idle = connect(root, request("GET", "/healthz"), count=50)  # kept alive, idle during the flood
    try:
        for sock in idle:
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
        ready.wait(30)
        sockets = connect(root, b"POST " + MINT.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: a", count=3 * MAX_WAITING)
        answered(root)
        assert closed_by_server(sockets[0])  # among the oldest: closed to make room
        assert metric(root, "token_server_connections_waiting") >= MAX_WAITING - 10  # the cap, shown
        assert metric(root, 'token_server_connections_closed_total{reason="waiting_cap"}') >= MAX_WAITING
        for sock in idle:  # never closed to make room: each answers its next request
            sock.sendall(request("GET", "/healthz"))
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
    finally:
        stop.set()
        for minter in minters:
            minter.join(60)
        close_all(sockets + idle)
    assert not errors, errors
    assert len(results) > 4 and set(results) == {200}


def start_limited(tmp, soft: int, hard: int, **env: str) -> tuple[Process, str]:
    port = free_port()
    command = " ".join(procfile_command())
    proc = Process(
        ["sh", "-c", f"ulimit -Sn {soft} && ulimit -Hn {hard} && exec {command}"],
        env={**emulated(**env), "PORT": str(port)},
        log_path=tmp / f"limited-{port}.log",
    )
    return proc, f"http://127.0.0.1:{port}"


def test_7_a_low_open_files_limit_is_raised_and_two_packet_requests_served(tmp_path) -> None:
    server, root = start_limited(tmp_path, 1024, 8192, GUNICORN_MAX_WAITING=str(MAX_WAITING))
    try:
        server.wait_http(root + "/healthz")
        raised = re.search(r"open-files limit (\d+)", server.output())
        assert raised and int(raised.group(1)) >= MAX_WAITING + 1000 + THREADS  # the caps fit
        sockets = connect(root, b"GET /healthz HTTP/1.1\r\nHo", count=MAX_WAITING)
        with socket.create_connection(address(root), timeout=10) as sock:  # a request in two packets
            sock.sendall(request("POST", MINT, f"Authorization: Bearer {SERVICE_KEY}", "Connection: close")[:30])
            time.sleep(0.2)
            sock.sendall(request("POST", MINT, f"Authorization: Bearer {SERVICE_KEY}", "Connection: close")[30:])
            assert read_all(sock).startswith(b"HTTP/1.1 200")
        answered(root)
        close_all(sockets)
    finally:
        server.stop()


def test_7_an_open_files_limit_too_low_to_raise_refuses_to_start_naming_it(tmp_path) -> None:
    server, _ = start_limited(tmp_path, 1024, 1024)
    try:
        assert server.proc.wait(timeout=30) == 3
        assert "RLIMIT_NOFILE" in server.output() and "GUNICORN_MAX_WAITING" in server.output()
    finally:
        server.stop()


# ---- last round's attacks --------------------------------------------------------------------


def test_hundreds_of_slow_heads(held, no_restart) -> None:
    """2,000 in the benchmark (bench/production.py); MAX_WAITING + 200 here."""
    _, root = held
    sockets = connect(root, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Trickle: a", count=MAX_WAITING + 200)
    try:
        answered(root)
    finally:
        close_all(sockets)


def test_unfinished_bodies_without_credentials(held, no_restart) -> None:
    _, root = held
    partial = request("POST", MINT, "Content-Type: application/json", "Content-Length: 100", body=b"{")
    sockets = connect(root, partial, count=150)
    try:
        answered(root)
    finally:
        close_all(sockets)


# ---- past both caps (the outside tester's second round) -------------------------------------


def test_bodies_that_never_finish_past_both_caps_leave_valid_callers_answered(crowded) -> None:
    """Whole heads, unfinished bodies, no credential: each is waiting (evictable, oldest first)
    until its body is whole, so four times the open cap of them never locks valid callers out."""
    server, root = crowded
    partial = request("POST", "/healthz", "Content-Length: 10", body=b"{")
    sockets = connect(root, partial, count=4 * 2 * CROWDED_WAITING)
    try:
        answered(root)
        assert closed_by_server(sockets[0])  # among the oldest: closed to make room
        assert len(re.findall(r"connections waiting for a request past", server.output())) <= 2  # a line per 10 s
    finally:
        close_all(sockets)


def test_kept_alive_idle_clients_past_the_open_cap_leave_valid_callers_answered(crowded) -> None:
    _, root = crowded
    sockets: list[socket.socket] = []
    try:
        for _ in range(3 * CROWDED_WAITING):
            (sock,) = connect(root, request("GET", "/healthz"))
            sockets.append(sock)
            assert read_answer(sock).startswith(b"HTTP/1.1 200")  # then idle, kept alive
        answered(root)
        assert closed_by_server(sockets[0])  # the oldest idle: closed to make room
    finally:
        close_all(sockets)


def test_content_length_with_transfer_encoding_is_400_and_the_smuggled_request_never_answered(held) -> None:
    _, root = held
    smuggled = request("GET", "/nothing-here")
    both = request(
        "POST", MINT, f"Authorization: Bearer {SERVICE_KEY}", "Content-Length: 4", "Transfer-Encoding: chunked",
        body=b"0\r\n\r\n",
    )
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(both + smuggled)
        statuses = re.findall(rb"HTTP/1.1 (\d{3})", read_all(sock))  # read_all returned: closed
    assert statuses == [b"400"]
    answered(root, rounds=1)


def deliver(root: str, raw: bytes) -> requests.Response:
    headers = {**basic(), "Content-Type": "application/json"}
    return requests.post(root + PATH, data=raw, headers=headers, timeout=30)


def test_a_webhook_body_past_64_kb_is_received_and_past_1_mib_is_413(held) -> None:
    _, root = held
    big = webhook_body(message_sent("m-big", text="a" * (100 * 1024)))
    answer = deliver(root, big)
    assert answer.status_code == 200, answer.text[:300]
    too_big = big + b" " * (1024 * 1024 + 1 - len(big))
    assert deliver(root, too_big).status_code == 413
    token_route = requests.post(
        root + MINT, data=b"{" + b" " * (65 * 1024) + b"}", headers={**service(), "Content-Type": "application/json"}, timeout=30
    )
    assert token_route.status_code == 413 and token_route.json()["error"]["code"] == "ERR_BODY_TOO_LARGE"


def test_a_declared_body_past_the_read_cap_is_413_at_once_without_100_continue(held) -> None:
    _, root = held
    lines = [f"Authorization: Bearer {SERVICE_KEY}", f"Content-Length: {1024 * 1024 + 1}", "Expect: 100-continue"]
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(request("POST", MINT, *lines))  # and not one byte of the body
        assert read_all(sock).startswith(b"HTTP/1.1 413")


def test_a_long_target_in_one_read_is_answered_431(held) -> None:
    _, root = held
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(request("GET", "/healthz?" + "a" * (60 * 1024)))
        assert read_all(sock).startswith(b"HTTP/1.1 431")
    answered(root, rounds=1)


# ---- framing: served right, and bounded -----------------------------------------------------


def test_pipelined_requests_are_answered_in_order(held) -> None:
    _, root = held
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(request("GET", "/healthz") + request("GET", "/nothing-here") + request("GET", "/healthz", "Connection: close"))
        statuses = re.findall(rb"HTTP/1.1 (\d{3})", read_all(sock))
    assert statuses == [b"200", b"404", b"200"]


@pytest.mark.parametrize("auth", [True, False])
def test_a_chunked_body_is_read_whole(held, auth) -> None:
    """The body reaches the app: a name of the wrong type is refused by the app's validation."""
    _, root = held
    body = b'{"name": 5}'
    chunks = b"5\r\n" + body[:5] + b"\r\n" + f"{len(body) - 5:x}".encode() + b"\r\n" + body[5:] + b"\r\n0\r\n\r\n"
    lines = ["Content-Type: application/json", "Transfer-Encoding: chunked", "Connection: close"]
    if auth:
        lines.append(f"Authorization: Bearer {SERVICE_KEY}")
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(request("POST", MINT, *lines, body=chunks))
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400" if auth else b"HTTP/1.1 401"), answer[:200]
    if auth:
        assert b"name" in answer.split(b"\r\n\r\n", 1)[1]


def test_expect_100_continue_is_answered_then_served(held) -> None:
    _, root = held
    body = b'{"name": "Ann"}'
    lines = ["Content-Type: application/json", f"Content-Length: {len(body)}", "Expect: 100-continue"]
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(request("POST", MINT, f"Authorization: Bearer {SERVICE_KEY}", "Connection: close", *lines))
        assert sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(body)
        assert b"HTTP/1.1 200" in read_all(sock)


def test_http_1_0_is_answered_and_closed(held) -> None:
    _, root = held
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(request("GET", "/healthz", version="1.0"))
        assert re.match(rb"HTTP/1\.[01] 200", read_all(sock))  # read_all returned: the server closed


@pytest.mark.parametrize(
    "lines",
    [["X-Pad: " + "a" * (20 * 1024)], [f"X-Field-{i}: v" for i in range(120)]],
    ids=["size", "count"],
)
def test_oversized_heads_are_answered_431(held, lines) -> None:
    _, root = held
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(request("GET", "/healthz", *lines))
        assert read_all(sock).startswith(b"HTTP/1.1 431")
    answered(root, rounds=1)


def test_a_body_past_the_apps_limit_gets_the_apps_413(held) -> None:
    _, root = held
    big = b"x" * (2 * 1024 * 1024)
    with socket.create_connection(address(root), timeout=10) as sock:
        sock.sendall(request("POST", MINT, f"Authorization: Bearer {SERVICE_KEY}", f"Content-Length: {len(big)}"))
        try:
            sock.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert read_all(sock).startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize(
    "payload",
    [b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a", request("POST", MINT, "Content-Length: 10", body=b"{")],
    ids=["head", "body"],
)
def test_heads_and_bodies_past_their_timeout_are_closed(impatient, payload) -> None:
    _, root = impatient
    (sock,) = connect(root, payload)
    try:
        assert closed_by_server(sock)
        answered(root, rounds=1)
    finally:
        sock.close()


def test_a_request_in_pieces_within_the_timeout_is_served(impatient) -> None:
    _, root = impatient
    whole = request("POST", MINT, f"Authorization: Bearer {SERVICE_KEY}", "Connection: close")
    with socket.create_connection(address(root), timeout=10) as sock:
        for piece in (whole[:10], whole[10:40], whole[40:]):
            sock.sendall(piece)
            time.sleep(0.2)
        assert read_all(sock).startswith(b"HTTP/1.1 200")
