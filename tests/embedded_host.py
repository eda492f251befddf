"""A host app for the process tests: someone's Flask app embedding the routes with the
caller it trusts and NO device store named, run under gunicorn with several workers.
``/host/hold`` keeps its worker busy until the test lets it go (a file), so the test can
choose which worker answers next."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask, Response, jsonify

from cometchat import CometChatClient
from token_server import routes
from token_server.auth import Caller

HOLD_LIMIT = 30.0  # seconds a held worker waits at most for its release

app = Flask("embedded_host")
client = CometChatClient(base_url=os.environ["HOST_UPSTREAM"], api_key=os.environ["HOST_UPSTREAM_KEY"])
routes.init_app(app, client, lambda request: Caller.service())
signals = Path(os.environ["HOST_SIGNALS"])


@app.after_request
def tell_worker(response: Response) -> Response:
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response


@app.get("/host/ping")
def ping() -> Response:
    return jsonify(ok=True)


@app.get("/host/hold")
def hold() -> Response:
    pid = os.getpid()
    (signals / f"held-{pid}").touch()
    deadline = time.monotonic() + HOLD_LIMIT
    while not (signals / f"release-{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    (signals / f"held-{pid}").unlink()
    (signals / f"release-{pid}").unlink(missing_ok=True)
    return jsonify(pid=pid)
