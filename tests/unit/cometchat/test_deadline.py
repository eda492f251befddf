"""The transport against a hostile upstream over a real loopback socket: answers that
trickle in, bodies too large to hold, and paths that must keep their shape on the wire.

A tiny raw-socket server plays the upstream, one scripted answer per connection; every
script stops by itself after ``SCRIPT_LIMIT`` seconds, so a missing guard fails a test
instead of hanging it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cometchat import CometChatClient, UpstreamBadResponseError, UpstreamTimeoutError
from cometchat.endpoints import DELETE_TOKEN

KEY = "rest-key-for-deadline-tests"
READ_TIMEOUT = 1.0  # longer than every drip interval: per-read timeouts never fire
DEADLINE = 1.5
SLACK = 1.0  # generous for a busy 2-core machine, far below what a missing guard takes
SCRIPT_LIMIT = 8.0
DRIP = 0.05
USER = {"uid": "alice", "name": "Alice"}

Script = Callable[[socket.socket, threading.Event], None]


class RawUpstream:
    """Accepts connections on 127.0.0.1; the n-th connection is answered by the n-th script
    (the last one repeats) once its request head and body are read."""

    def __init__(self, *scripts: Script, tls: ssl.SSLContext | None = None) -> None:
        self.scripts = list(scripts)
        self.tls = tls
        self.request_lines: list[str] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}/v3"
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        count = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            script = self.scripts[min(count, len(self.scripts) - 1)]
            count += 1
            thread = threading.Thread(target=self._serve, args=(conn, script), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, script: Script) -> None:
        with conn:
            conn.settimeout(SCRIPT_LIMIT)
            try:
                if self.tls:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                head, _, body = head.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                self.request_lines.append(lines[0])
                length = next(
                    (int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length"), 0
                )
                while len(body) < length:
                    body += conn.recv(65536)
                script(conn, self._stop)
            except OSError:
                pass  # the client cut the connection: that is what the guards do

    def close(self) -> None:
        self._stop.set()
        self._accepter.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=SCRIPT_LIMIT + 2)
        self._listener.close()


def drip(conn: socket.socket, stop: threading.Event, pieces: Iterator[bytes]) -> None:
    """Send one piece every DRIP seconds, for at most SCRIPT_LIMIT seconds."""
    ends = time.monotonic() + SCRIPT_LIMIT
    for piece in pieces:
        if stop.is_set() or time.monotonic() > ends:
            return
        conn.sendall(piece)
        stop.wait(DRIP)


def answer(status: int, body: bytes, *, extra: bytes = b"") -> bytes:
    reason = {200: b"OK", 503: b"Service Unavailable"}[status]
    head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n" % (
        status,
        reason,
        len(body),
        extra,
    )
    return head + body


def body_drip(conn: socket.socket, stop: threading.Event) -> None:
    body = json.dumps({"data": USER}).encode().ljust(10_000)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n")
    drip(conn, stop, (body[i : i + 1] for i in range(len(body))))


def header_drip(conn: socket.socket, stop: threading.Event) -> None:
    def lines() -> Iterator[bytes]:
        yield b"HTTP/1.1 200 OK\r\n"
        for n in range(90):  # http.client refuses more than 100 header lines
            yield b"X-Drip-%d: 1\r\n" % n
        yield b"Content-Type: application/json\r\nContent-Length: 26\r\n\r\n"
        yield json.dumps({"data": USER}).encode()

    drip(conn, stop, lines())


def unavailable(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(answer(503, b'{"error": {"code": "ERR_DOWN", "message": "down"}}'))


def huge_unframed(conn: socket.socket, stop: threading.Event) -> None:
    """A valid answer of 2 MB, its end marked only by closing the connection."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    conn.sendall(json.dumps({"data": {**USER, "pad": "x" * 2_000_000}}).encode())


def ok(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(answer(200, b'{"data": {"success": true}}'))


@pytest.fixture
def upstream() -> Iterator[Callable[..., RawUpstream]]:
    servers: list[RawUpstream] = []

    def start(*scripts: Script, tls: ssl.SSLContext | None = None) -> RawUpstream:
        servers.append(RawUpstream(*scripts, tls=tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def client_for(server: RawUpstream, **options) -> CometChatClient:
    options = {"read_timeout": READ_TIMEOUT, "total_deadline": DEADLINE, "backoff": 0.05, **options}
    return CometChatClient(base_url=server.base_url, api_key=KEY, **options)


def timed_failure(client: CometChatClient) -> tuple[Exception, float]:
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        client.get_user("alice")
    return info.value, time.monotonic() - started


@pytest.mark.parametrize("script", [body_drip, header_drip], ids=["body", "headers"])
def test_an_answer_that_trickles_in_ends_at_the_deadline(upstream, script) -> None:
    server = upstream(script)
    client = client_for(server)
    error, elapsed = timed_failure(client)
    client.close()
    assert isinstance(error, UpstreamTimeoutError), repr(error)
    assert error.maybe_applied is True
    assert elapsed < DEADLINE + SLACK
    assert len(server.request_lines) == 1  # a slow upstream is not asked again


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """A server context for 127.0.0.1 and the path of its certificate, for the client to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)


def test_a_trickling_answer_over_tls_ends_at_the_deadline(upstream, tmp_path) -> None:
    context, cert = self_signed(tmp_path)
    server = upstream(body_drip, tls=context)
    client = client_for(server)
    client.transport.session.verify = cert  # this thread's session: the one the call uses
    error, elapsed = timed_failure(client)
    client.close()
    assert isinstance(error, UpstreamTimeoutError), repr(error)
    assert elapsed < DEADLINE + SLACK and len(server.request_lines) == 1


def test_the_deadline_holds_when_it_expires_during_a_retry(upstream) -> None:
    server = upstream(unavailable, body_drip)
    client = client_for(server)
    error, elapsed = timed_failure(client)
    client.close()
    assert isinstance(error, UpstreamTimeoutError), repr(error)
    assert elapsed < DEADLINE + SLACK
    assert len(server.request_lines) == 2


def test_the_next_call_after_a_cut_connection_succeeds(upstream) -> None:
    server = upstream(body_drip, ok)
    client = client_for(server)
    with pytest.raises(UpstreamTimeoutError):
        client.delete_user("alice")
    client.delete_user("alice")  # a fresh connection, a fresh deadline
    client.close()


def test_a_body_past_the_cap_is_refused_even_without_a_length(upstream) -> None:
    server = upstream(huge_unframed)
    client = client_for(server, total_deadline=30)
    error, elapsed = timed_failure(client)
    client.close()
    assert isinstance(error, UpstreamBadResponseError), repr(error)
    assert "bytes" in error.message and len(server.request_lines) == 1


@pytest.mark.parametrize(
    ("segment", "on_the_wire"),
    [(".", "%2E"), ("..", "%2E%2E"), ("../..", "%2E%2E%2F%2E%2E"), ("a/b", "a%2Fb"), ("x.y", "x%2Ey")],
)
def test_a_segment_keeps_the_path_shape_on_the_wire(upstream, segment, on_the_wire) -> None:
    # Past validation on purpose: the encoding alone must keep DELETE .../auth_tokens/<one>
    # from becoming "flush every token" or "delete the user".
    server = upstream(ok)
    client = client_for(server)
    client.transport.request(DELETE_TOKEN, {"uid": "alice", "authToken": segment})
    client.close()
    assert server.request_lines == [f"DELETE /v3/users/alice/auth_tokens/{on_the_wire} HTTP/1.1"]
