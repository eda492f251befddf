"""Per-request work the mint path no longer does: two writes for one small upstream request,
the limiter's bookkeeping for exempt service callers."""

from __future__ import annotations

import socket

from cometchat.deadline import _WatchedHTTPConnection
from tests.helpers import as_user, http_client, service


def test_a_small_request_leaves_in_one_write() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        writes: list[bytes] = []

        class Counting(_WatchedHTTPConnection):
            def send(self, data: bytes) -> None:
                writes.append(data)
                super().send(data)

        conn = Counting("127.0.0.1", server.getsockname()[1], timeout=5)
        body = b'{"force": true}'
        conn.request("POST", "/v3/users/a/auth_tokens", body=body, headers={"Content-Length": str(len(body))})
        peer, _ = server.accept()
        peer.settimeout(5)
        received = b""
        while not received.endswith(body):
            received += peer.recv(4096)
        peer.close()
        conn.close()
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\n" + body)
    assert received.startswith(b"POST /v3/users/a/auth_tokens HTTP/1.1\r\n")


def test_service_callers_skip_the_limiters_bookkeeping(monkeypatch) -> None:
    """A trusted backend costs the limits no store round trip (and /healthz never meets them)."""
    from token_server import limits

    asked = []
    original = limits.LimitStore.hit
    monkeypatch.setattr(limits.LimitStore, "hit", lambda self, *a: asked.append(a) or original(self, *a))
    http = http_client()
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200
    assert http.get("/healthz").status_code == 200
    assert asked == []
    assert http.get("/api/cometchat/users/cometchat-uid-1", headers=as_user("cometchat-uid-1")).status_code == 200
    assert len(asked) == 1  # a user: its own window (the per-address one is for anonymous callers)

