"""cometchat-session.js in headless Chromium, against real processes: the standalone emulator
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
import sys
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


def test_sign_in_mints_once_and_signs_both_sdks_in_with_the_same_token(harness, stack) -> None:
    uid = stack.new_user()
    before = stack.tokens(uid)
    h = harness.open()
    user = signed_in(h, uid)
    assert user["uid"] == uid
    device = h.js("session.deviceId")
    assert h.posts("/api/cometchat/token/") == [{"deviceId": device}]
    assert stack.tokens(uid) - before == {user["token"]}  # one mint at CometChat
    assert h.js("CometChatCalls.getUserAuthToken()") == user["token"]  # the Calls SDK: the same token
    assert h.js("CometChatCalls.getLoggedInUser().uid") == uid
    assert stack.login_works(user["token"])


def test_a_saved_session_resolves_with_no_request(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    signed_in(h, uid)
    h.open()  # a reload
    asked = len(h.posts("/api/cometchat/token/"))
    again = signed_in(h, uid)
    assert again["uid"] == uid
    assert len(h.posts("/api/cometchat/token/")) == asked  # no request: the SDK's session was in place


def test_a_token_revoked_out_of_band_recovers_with_exactly_one_fresh_mint(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    first = signed_in(h, uid)["token"]
    # The page loses its SDK sessions (as after clearing site data) while the server still keeps
    # this device's token, which CometChat then forgets behind the server's back.
    h.js("Promise.all([CometChat.logout(), CometChatCalls.logout()])")
    stack.rest("DELETE", f"/users/{uid}/auth_tokens/{first}").raise_for_status()
    before = stack.tokens(uid)
    result = h.js("outcome(session.signIn().then((u) => u.getAuthToken()))")
    assert result["ok"], result
    device = h.js("session.deviceId")
    assert h.posts("/api/cometchat/token/")[-2:] == [{"deviceId": device}, {"deviceId": device, "fresh": True}]
    minted = stack.tokens(uid) - before
    assert minted == {result["value"]}  # exactly one fresh mint
    assert h.js("CometChatCalls.getUserAuthToken()") == result["value"]


def test_the_retry_happens_once_then_the_sdk_code_is_the_error(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    # A token server answering tokens CometChat does not know: one retry, then the SDK's refusal.
    h.page.route(
        stack.server + "/api/cometchat/token/**",
        lambda route: route.fulfill(json={"uid": uid, "authToken": f"{uid}_0000000000unknown"}),
    )
    h.js(SESSION, uid)
    result = h.js("outcome(session.signIn())")
    assert result == {**result, "ok": False, "code": "AUTH_ERR_AUTH_TOKEN_NOT_FOUND", "isSessionError": True}
    assert len(h.posts("/api/cometchat/token/")) == 2


def test_other_sdk_errors_are_not_retried(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    # The chat service cannot be reached: no token is to blame, so no fresh one is asked for.
    h.page.route(stack.emulator + "/v3.0/me", lambda route: route.abort())
    h.js(SESSION, uid)
    result = h.js("outcome(session.signIn())")
    assert result["ok"] is False and result["code"] == "FAILED_TO_FETCH"
    assert len(h.posts("/api/cometchat/token/")) == 1


def test_concurrent_sign_ins_share_one_attempt(harness, stack) -> None:
    uid = stack.new_user()
    before = stack.tokens(uid)
    h = harness.open()
    h.js(SESSION, uid)
    results = h.js("Promise.all([1, 2, 3, 4].map(() => outcome(session.signIn().then((u) => u.getUid()))))")
    assert results == [{"ok": True, "value": uid}] * 4
    assert len(h.posts("/api/cometchat/token/")) == 1
    assert len(stack.tokens(uid) - before) == 1


def test_sign_out_revokes_the_device_token_upstream_then_logs_both_sdks_out(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    token = signed_in(h, uid)["token"]
    device = h.js("session.deviceId")
    result = h.js("session.signOut()")
    assert result == {"uid": uid, "deviceId": device, "revoked": True, "serverReached": True, "error": None}
    [delete] = [r for r in h.requests if r.method == "DELETE" and "/sessions/" in r.url]
    assert delete.url == f"{stack.server}/api/cometchat/users/{uid}/sessions/{device}"
    assert delete.headers["x-front-end"] == "module-test"  # the same headers as the token request
    assert not stack.login_works(token)  # CometChat no longer accepts it
    assert h.js("CometChat.getLoggedinUser()") is None
    assert h.js("CometChatCalls.isUserLoggedIn()") is False


def test_sign_out_with_the_server_unreachable_still_logs_out_and_says_so(harness, stack, tmp_path) -> None:
    proc, own_server = start_server(tmp_path, stack.emulator)
    uid = stack.new_user()
    h = harness.open(origin=own_server)
    h.js(SESSION, uid)
    assert h.js("outcome(session.signIn().then((u) => u.getUid()))") == {"ok": True, "value": uid}
    proc.stop()  # the token server is gone
    result = h.js("session.signOut()")
    assert result["revoked"] is False and result["serverReached"] is False
    assert result["error"]["code"] == "NETWORK_ERROR"
    assert h.js("CometChat.getLoggedinUser()") is None
    assert h.js("CometChatCalls.isUserLoggedIn()") is False


def test_sign_out_refused_by_the_server_still_logs_out_and_names_the_code(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    signed_in(h, uid)
    h.page.route(
        stack.server + "/api/cometchat/users/**",
        lambda route: route.fulfill(
            status=503, json={"error": {"code": "ERR_SESSION_STORE_UNAVAILABLE", "message": "x"}}
        ),
    )
    result = h.js("session.signOut()")
    assert result["serverReached"] is True and result["revoked"] is False
    assert result["error"]["code"] == "ERR_SESSION_STORE_UNAVAILABLE"
    assert h.js("CometChat.getLoggedinUser()") is None


def test_the_device_id_survives_a_reload_and_is_kept_in_storage(harness, stack) -> None:
    h = harness.open()
    first = h.js("createSession({CometChat, tokenUrl: '/api/cometchat/token'}).deviceId")
    assert h.js("localStorage.getItem('cometchat-session:deviceId')") == first
    h.open()  # a reload
    assert h.js("createSession({CometChat, tokenUrl: '/api/cometchat/token'}).deviceId") == first
    # Another storage is another device; a broken stored value is replaced by a valid id.
    other = h.js("createSession({CometChat, tokenUrl: '/t', storage: sessionStorage}).deviceId")
    assert other != first and len(other) == 32
    h.js("localStorage.setItem('cometchat-session:deviceId', 'not a valid id!')")
    fixed = h.js("createSession({CometChat, tokenUrl: '/t'}).deviceId")
    assert fixed != "not a valid id!" and h.js("localStorage.getItem('cometchat-session:deviceId')") == fixed


def test_a_server_error_rejects_with_its_code(harness, stack) -> None:
    h = harness.open()
    h.js("window.session = createSession({CometChat, tokenUrl: '/api/cometchat/token/' + arg})", "not a uid!")
    result = h.js("outcome(session.signIn())")
    assert result["ok"] is False and result["isError"] is True and result["code"] == "ERR_BAD_REQUEST"
    h.js("window.session = createSession({CometChat, tokenUrl: 'http://127.0.0.1:' + arg + '/t'})", free_port())
    assert h.js("outcome(session.signIn())")["code"] == "NETWORK_ERROR"


def test_a_calls_sdk_error_rejects_with_its_code(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open(calls=False)  # the Calls SDK never init()ed
    h.js(SESSION, uid)
    result = h.js("outcome(session.signIn())")
    assert result["ok"] is False and result["code"] == "ERROR_SDK_NOT_INITIALIZED"


# ---- the Calls SDK v5 stand-in's auth surface -----------------------------------------------


def calls(h: Harness, expression: str, arg: Any = None) -> Any:
    return h.js(f"outcome(Promise.resolve().then(() => {expression}))", arg)


def test_calls_surface_signs_in_with_an_auth_token(harness, stack) -> None:
    uid = stack.new_user()
    token = stack.rest("POST", f"/users/{uid}/auth_tokens", json={"force": True}).json()["data"]["authToken"]
    h = harness.open()
    h.js("""(window.events = [], CometChatCalls.addLoginListener("t", {
        onLoginSuccess: (u) => events.push("in:" + u.uid), onLoginFailure: (e) => events.push("fail:" + e.errorCode),
        onLogoutSuccess: () => events.push("out"), onLogoutFailure: (e) => events.push("outfail:" + e.errorCode)}))""")
    assert h.js(
        "[CometChatCalls.getLoggedInUser(), CometChatCalls.isUserLoggedIn(), CometChatCalls.getUserAuthToken()]"
    ) == [
        None,
        False,
        None,
    ]
    assert calls(h, "CometChatCalls.loginWithAuthToken(arg).then((u) => u.uid)", token) == {"ok": True, "value": uid}
    [put] = [r for r in h.requests if r.method == "PUT" and r.url.endswith("/v3.0/me")]
    assert put.headers["authtoken"] == token
    assert json.loads(put.post_data) == {"platform": "web", "deviceId": put.post_data_json["deviceId"]}
    assert h.js(
        "[CometChatCalls.getLoggedInUser().uid, CometChatCalls.isUserLoggedIn(), CometChatCalls.getUserAuthToken()]"
    ) == [
        uid,
        True,
        token,
    ]
    # The same token again: the signed-in user, no call.
    assert calls(h, "CometChatCalls.loginWithAuthToken(arg).then((u) => u.uid)", token)["value"] == uid
    assert len([r for r in h.requests if r.method == "PUT"]) == 1
    # A call token for a session, which the calls host then recognises.
    issued = calls(h, "CometChatCalls.generateToken('room-1')")
    assert issued["ok"], issued
    check = requests.get(
        stack.emulator + "/v3.0/call_tokens", headers={"calltoken": issued["value"]["token"]}, timeout=5
    )
    assert check.json()["data"]["uid"] == uid and check.json()["data"]["sessionId"] == "room-1"
    # Kept across a reload, as v5 keeps it in local storage.
    h.open()
    assert h.js("CometChatCalls.getLoggedInUser().uid") == uid
    h.js("""(window.events = [], CometChatCalls.addLoginListener("t", {onLogoutSuccess: () => events.push("out")}))""")
    assert calls(h, "CometChatCalls.logout()") == {"ok": True, "value": "Logged out successfully"}
    assert [r.method for r in h.requests if r.url.endswith("/v3.0/me")][-1] == "DELETE"
    assert h.js("events") == ["out"]
    assert h.js("CometChatCalls.isUserLoggedIn()") is False
    h.js("CometChatCalls.removeLoginListener('t')")
    calls(h, "CometChatCalls.loginWithAuthToken(arg)", token)
    assert h.js("events") == ["out"]  # removed: no more events


def test_calls_surface_refuses_a_token_the_api_refuses(harness, stack) -> None:
    h = harness.open()
    h.js(
        """(window.events = [], CometChatCalls.addLoginListener("t", {onLoginFailure: (e) => events.push(e.errorCode)}))"""
    )
    result = calls(h, "CometChatCalls.loginWithAuthToken('no-such-token')")
    assert result["ok"] is False and result["code"] == "AUTH_ERR_AUTH_TOKEN_NOT_FOUND"
    assert h.js("events") == ["AUTH_ERR_AUTH_TOKEN_NOT_FOUND"]
    assert h.js("CometChatCalls.isUserLoggedIn()") is False


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("CometChatCalls.loginWithAuthToken('')", "ERROR_BLANK_AUTHTOKEN"),
        ("CometChatCalls.loginWithAuthToken('   ')", "ERROR_BLANK_AUTHTOKEN"),
        ("CometChatCalls.loginWithAuthToken(null)", "ERROR_BLANK_AUTHTOKEN"),
        ("CometChatCalls.loginWithAuthToken('abc def')", "ERROR_AUTHTOKEN_WITH_SPACE"),
        ("CometChatCalls.logout()", "ERROR_NO_USER_LOGGED_IN"),
        ("CometChatCalls.generateToken('room')", "ERROR_NO_USER_LOGGED_IN"),
        ("CometChatCalls.login('')", "ERROR_INVALID_UID"),
        ("CometChatCalls.login('a b', 'key')", "ERROR_UID_WITH_SPACE"),
        ("CometChatCalls.login('someone')", "ERROR_API_KEY_NOT_FOUND"),
    ],
)
def test_calls_error_codes(harness, expression, code) -> None:
    h = harness.open()
    result = calls(h, expression)
    assert result["ok"] is False and result["code"] == code
    assert not [r for r in h.requests if "/v3" in r.url]  # refused before any call


def test_calls_login_in_progress(harness, stack) -> None:
    uid = stack.new_user()
    token = stack.rest("POST", f"/users/{uid}/auth_tokens", json={"force": True}).json()["data"]["authToken"]
    h = harness.open()
    both = h.js(
        "Promise.all([outcome(CometChatCalls.loginWithAuthToken(arg)), outcome(CometChatCalls.loginWithAuthToken(arg))])",
        token,
    )
    assert both[0]["ok"] is True
    assert both[1]["ok"] is False and both[1]["code"] == "ERROR_LOGIN_IN_PROGRESS"


@pytest.mark.parametrize(
    "expression",
    [
        "CometChatCalls.loginWithAuthToken('some-token')",
        "CometChatCalls.login('someone', 'key')",
        "CometChatCalls.logout()",
        "CometChatCalls.generateToken('room')",
    ],
)
def test_calls_before_init(harness, expression) -> None:
    h = harness.open(calls=False)
    result = calls(h, expression)
    assert result["ok"] is False and result["code"] == "ERROR_SDK_NOT_INITIALIZED"


def test_calls_init_resolves_its_verdict_and_never_throws(harness) -> None:
    h = harness.open(calls=False)
    bad = h.js("CometChatCalls.init({appId: 'x', region: 'mars'})")
    assert bad["success"] is False and bad["error"]["name"] == "VALIDATION_ERROR"
    assert h.js("CometChatCalls.init({region: 'us'})")["success"] is False
    assert h.js("CometChatCalls.init({appId: 'x', region: 'EU'})") == {"success": True, "error": None}


# ---- the emulator's SDK routes, over real HTTP ----------------------------------------------


def error_of(answer: requests.Response) -> dict:
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) >= {"message", "devMessage", "source", "code"}, body
    return body["error"]


def test_emulator_sdk_routes(stack) -> None:
    uid = stack.new_user()
    token = stack.rest("POST", f"/users/{uid}/auth_tokens", json={"force": True}).json()["data"]["authToken"]
    for prefix in ("/v3", "/v3.0"):
        me = requests.put(
            stack.emulator + prefix + "/me", headers={"authToken": token}, json={"platform": "web"}, timeout=5
        )
        assert me.json()["data"]["uid"] == uid and me.json()["data"]["name"]
    base = stack.emulator + "/v3.0"
    assert requests.post(base + "/user_sessions", headers={"authToken": token}, json={}, timeout=5).status_code == 200
    issued = requests.post(base + "/call_tokens", headers={"authToken": token}, json={"sessionId": "s1"}, timeout=5)
    call_token = issued.json()["data"]["token"]
    assert (
        requests.get(base + "/call_tokens", headers={"calltoken": call_token}, timeout=5).json()["data"]["sessionId"]
        == "s1"
    )
    # Logging out ends the SDK's session; the token itself is only revoked through the REST API.
    assert requests.delete(base + "/me", headers={"authToken": token}, timeout=5).json()["data"]["success"] is True
    assert stack.login_works(token)


def test_emulator_sdk_routes_answer_in_cometchat_s_error_shape(stack) -> None:
    base = stack.emulator + "/v3.0"
    for method, path in (("PUT", "/me"), ("DELETE", "/me"), ("POST", "/user_sessions"), ("POST", "/call_tokens")):
        answer = requests.request(method, base + path, headers={"authToken": "nope"}, json={}, timeout=5)
        assert answer.status_code == 401
        assert error_of(answer)["code"] == "AUTH_ERR_AUTH_TOKEN_NOT_FOUND"
    assert error_of(requests.get(base + "/call_tokens", headers={"calltoken": "nope"}, timeout=5))["code"] == (
        "ERR_INVALID_CALL_TOKEN"
    )
    uid = stack.new_user()
    token = stack.rest("POST", f"/users/{uid}/auth_tokens", json={"force": True}).json()["data"]["authToken"]
    for body in ({}, {"sessionId": ""}, {"sessionId": 7}, {"sessionId": "x" * 256}):
        answer = requests.post(base + "/call_tokens", headers={"authToken": token}, json=body, timeout=5)
        assert answer.status_code == 400 and error_of(answer)["code"] == "ERR_BAD_REQUEST"
    bad_json = requests.put(
        base + "/me", headers={"authToken": token, "Content-Type": "application/json"}, data="[", timeout=5
    )
    assert error_of(bad_json)["code"] == "ERR_BAD_REQUEST"


def test_emulator_sdk_routes_answer_the_cors_preflight(stack) -> None:
    for path in ("/me", "/user_sessions", "/call_tokens"):
        answer = requests.options(
            stack.emulator + "/v3.0" + path,
            headers={"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "PUT"},
            timeout=5,
        )
        assert answer.status_code == 204
        allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"appid", "authtoken", "calltoken"} <= allowed
        assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_a_saved_chat_session_signs_the_calls_sdk_in_with_its_token_and_no_request(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    token = signed_in(h, uid)["token"]
    h.js("CometChatCalls.logout()")
    asked = len(h.posts("/api/cometchat/token/"))
    assert signed_in(h, uid)["uid"] == uid
    assert len(h.posts("/api/cometchat/token/")) == asked
    assert h.js("CometChatCalls.getUserAuthToken()") == token


# ---- the live page's Calls SDK settings -----------------------------------------------------

EMULATED = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}
GOOD_URL = "https://cdn.example.com/calls-sdk-javascript@5.0.0/index.umd.js"
GOOD_HASH = "sha384-" + "A" * 64


def test_calls_sdk_settings_are_both_or_neither_and_well_formed() -> None:
    from token_server.config import ConfigError, load_settings

    settings = load_settings(
        {**EMULATED, "COMETCHAT_CALLS_SDK_URL": GOOD_URL, "COMETCHAT_CALLS_SDK_INTEGRITY": GOOD_HASH}
    )
    assert (settings.calls_sdk_url, settings.calls_sdk_integrity) == (GOOD_URL, GOOD_HASH)
    assert load_settings(EMULATED).calls_sdk_url is None
    for url, integrity, words in (
        (GOOD_URL, None, "together"),
        (None, GOOD_HASH, "together"),
        ("http://cdn.example.com/calls.js", GOOD_HASH, "https://"),
        ("https://cdn.example.com/calls.js 'unsafe-inline'", GOOD_HASH, "https://"),
        ("https://cdn.example.com/calls.js;script-src *", GOOD_HASH, "https://"),
        (GOOD_URL, "sha384-" + "A" * 60, "integrity hash"),  # 45 bytes: not a sha384 digest
        (GOOD_URL, "md5-" + "A" * 24, "integrity hash"),
        (GOOD_URL, GOOD_HASH + " sha256-x", "integrity hash"),
    ):
        env = {**EMULATED, "COMETCHAT_CALLS_SDK_URL": url or "", "COMETCHAT_CALLS_SDK_INTEGRITY": integrity or ""}
        with pytest.raises(ConfigError, match=words):
            load_settings(env)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_a_token_server_that_never_answers_is_given_up_on(harness, silent_server) -> None:
    h = harness.open()
    h.js(
        "window.session = createSession({CometChat, tokenUrl: arg + '/api/cometchat/token', timeoutMs: 300})",
        silent_server,
    )
    # Bounded here too: without the module's own limit this resolves "HUNG" after 10 s.
    result = h.js("Promise.race([outcome(session.signIn()), new Promise((r) => setTimeout(() => r('HUNG'), 10000))])")
    assert result != "HUNG" and result["code"] == "TIMEOUT"
