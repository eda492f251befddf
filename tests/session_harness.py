"""The harness for cometchat-session.js and the Calls SDK v5 stand-in in headless Chromium, against
real processes: the standalone emulator
(its REST key known here, so a test can revoke a token behind the server's back and count the
tokens CometChat holds) and ``python server.py`` pointed at it, with a SQLite device store.

The test page is written into a page of the server's own origin; it
loads the offline stand-ins for the chat SDK and the Calls SDK v5, and imports the module from
``/static/cometchat-session.js``, as a front end does. Everything else is real HTTP.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from .procs import Process, free_port, start_emulator

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

KEY = "session-module-emulator-key"
APP_ID = "harness"
_uids = itertools.count()


class Stack:
    def __init__(self, emulator: str, server: str) -> None:
        self.emulator, self.server = emulator, server

    def rest(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.emulator + "/v3" + path, headers={"apikey": KEY}, timeout=5, **kwargs)

    def new_user(self) -> str:
        uid = f"module-{next(_uids)}"
        self.rest("POST", "/users", json={"uid": uid, "name": f"Module {uid}"}).raise_for_status()
        return uid

    def tokens(self, uid: str) -> set[str]:
        answer = self.rest("GET", f"/users/{uid}/auth_tokens", params={"perPage": 1000})
        answer.raise_for_status()
        return {t["authToken"] for t in answer.json()["data"]}

    def login_works(self, token: str) -> bool:
        return requests.put(self.emulator + "/v3.0/me", headers={"authToken": token}, timeout=5).status_code == 200


def start_server(tmp: Path, emulator: str) -> tuple[Process, str]:
    port = free_port()
    env = {
        "PORT": str(port),
        "COMETCHAT_BASE_URL": emulator + "/v3",
        "COMETCHAT_API_KEY": KEY,
        "TOKEN_SERVER_DEV": "1",
        "SESSION_STORE_URI": f"sqlite:///{tmp / f'sessions-{port}.db'}",
    }
    proc = Process([sys.executable, "server.py"], env=env, log_path=tmp / f"module-server-{port}.log")
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/healthz")
    return proc, root


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("module")
    emulator_proc, emulator = start_emulator(tmp, api_key=KEY)
    server_proc, server = start_server(tmp, emulator)
    yield Stack(emulator, server)
    server_proc.stop()
    emulator_proc.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        assert not IN_CI, "CI=true: Chromium must be installed by .ci/run"
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def harness_html(emulator: str, *, calls: bool) -> str:
    config = json.dumps({"appId": APP_ID, "region": "us", "emulatorUrl": emulator + "/v3.0"})
    hosts = json.dumps({"appId": APP_ID, "region": "us", "clientHost": emulator + "/v3.0", "host": emulator + "/v3.0"})
    init_calls = f"await CometChatCalls.init({hosts});" if calls else ""
    return f"""<!doctype html><html><head><meta charset="utf-8">
<script id="demo-config" type="application/json">{config}</script>
<script src="/demo/static/cometchat-standin.js"></script>
<script src="/demo/static/cometchat-calls-standin.js"></script>
<script type="module">
import {{ createSession, SessionError }} from "/static/cometchat-session.js";
window.createSession = createSession;
window.SessionError = SessionError;
// What a rejected promise said, for the test to read: its class and code.
window.outcome = (promise) => promise.then(
  (value) => ({{ ok: true, value }}),
  (error) => ({{ ok: false, code: error && (error.code || error.errorCode), isError: error instanceof Error,
                 isSessionError: error instanceof SessionError, result: error && error.result }}));
window.ready = (async () => {{ await CometChat.init("{APP_ID}", {{}}); {init_calls} }})();
</script></head><body>harness</body></html>"""


class Harness:
    """A page at the server's origin with both stand-ins and the module, recording requests."""

    def __init__(self, page: Any, stack: Stack) -> None:
        self.page, self.stack = page, stack
        self.requests: list[Any] = []
        page.on("request", lambda request: self.requests.append(request))

    def open(self, *, calls: bool = True, origin: str | None = None) -> Harness:
        """Load (or reload) the test page. It is written into a real page of the server (not a
        faked answer), so Chromium counts it as a loopback page allowed to call the emulator."""
        self.page.goto((origin or self.stack.server) + "/healthz")
        self.page.set_content(harness_html(self.stack.emulator, calls=calls))
        self.page.wait_for_function("window.ready !== undefined")
        self.page.evaluate("window.ready")
        return self

    def js(self, expression: str, arg: Any = None) -> Any:
        """One JavaScript expression's value (awaited), with ``arg`` in scope."""
        return self.page.evaluate(f"async (arg) => ({expression.strip().rstrip(';')})", arg)

    def posts(self, path: str) -> list[dict]:
        return [json.loads(r.post_data or "{}") for r in self.requests if r.method == "POST" and path in r.url]


@pytest.fixture
def harness(browser, stack) -> Iterator[Harness]:
    context = browser.new_context()
    page = context.new_page()
    yield Harness(page, stack)
    context.close()


SESSION = """window.session = createSession({CometChat, CometChatCalls, tokenUrl: "/api/cometchat/token/" + arg,
                                              headers: async () => ({"X-Front-End": "module-test"})});"""


def signed_in(h: Harness, uid: str) -> dict:
    h.js(SESSION, uid)
    result = h.js("outcome(session.signIn().then((u) => ({uid: u.getUid(), token: u.getAuthToken()})))")
    assert result["ok"], result
    return result["value"]


def calls(h: Harness, expression: str, arg: Any = None) -> Any:
    return h.js(f"outcome(Promise.resolve().then(() => {expression}))", arg)


def error_of(answer: requests.Response) -> dict:
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) >= {"message", "devMessage", "source", "code"}, body
    return body["error"]


class HeadersThenBody:
    """A loopback HTTP server (CORS open) that answers every POST with its status line, headers
    and the first bytes of a JSON error body at once, and the rest of the body only when
    ``release`` is set: a token server whose answer stalls after its headers."""

    BODY = json.dumps({"error": {"code": "ERR_SPLIT_ANSWER", "message": "Sent in two parts."}}).encode()

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.headers_sent, self.release = threading.Event(), threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(20)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            fields = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
            cors = "Access-Control-Allow-Origin: *\r\nConnection: close\r\n"
            if head[0].startswith("OPTIONS"):
                allow = fields.get("access-control-request-headers", "content-type")
                conn.sendall(
                    f"HTTP/1.1 204 No Content\r\n{cors}Access-Control-Allow-Methods: POST, DELETE\r\n"
                    f"Access-Control-Allow-Headers: {allow}\r\nContent-Length: 0\r\n\r\n".encode()
                )
                return
            conn.sendall(
                f"HTTP/1.1 503 Service Unavailable\r\n{cors}Content-Type: application/json\r\n"
                f"Content-Length: {len(self.BODY)}\r\n\r\n".encode()
                + self.BODY[:5]
            )
            self.headers_sent.set()
            if self.release.wait(20):
                conn.sendall(self.BODY[5:])

    def close(self) -> None:
        self.release.set()
        self.listener.close()


@pytest.fixture
def headers_then_body() -> Iterator[HeadersThenBody]:
    server = HeadersThenBody()
    yield server
    server.close()
