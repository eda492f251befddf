"""An identity provider's JWKS endpoint on 127.0.0.1 for the tests, and JWTs signed for it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm

AUDIENCE = "chat-app"


class JwksServer:
    """The identity provider's key endpoint on 127.0.0.1, honest or not: it can answer a
    status, any body, a body that trickles in one byte at a time, or headers that never end."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.fetches = 0
        self.mode = "honest"  # or "trickle", "trickle-headers"
        self.status = 200
        self.body: bytes | None = None  # None: the published keys
        self.content_length = True
        self.trickling = threading.Event()  # set once a trickle has begun
        self.stop = threading.Event()  # ends every trickle
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                if outer.mode == "trickle-headers":
                    self.send_response(200)
                    self.flush_headers()
                    outer.trickling.set()
                    while not outer.stop.wait(0.1):
                        self.wfile.write(b"X-Slow: 1\r\n")
                        self.wfile.flush()
                    return
                body = outer.body if outer.body is not None else json.dumps({"keys": outer.keys}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                if outer.content_length and outer.mode == "honest":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.mode == "honest":
                    self.wfile.write(body)
                    return
                # A valid beginning, then one space every 0.1 s until told to stop.
                self.wfile.write(b'{"keys": [')
                self.wfile.flush()
                outer.trickling.set()
                while not outer.stop.wait(0.1):
                    self.wfile.write(b" ")
                    self.wfile.flush()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def publish(self, private_key, kid: str, alg: str | None) -> None:
        algorithm = jwt.algorithms.RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
        jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
        self.keys.append({**jwk, "kid": kid, "use": "sig", **({"alg": alg} if alg else {})})

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def sign(private_key, kid: str | None, alg: str, uid: str = "cometchat-uid-1", **claims) -> str:
    payload = {"sub": uid, "aud": AUDIENCE, "exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, private_key, algorithm=alg, headers={"kid": kid} if kid is not None else None)
