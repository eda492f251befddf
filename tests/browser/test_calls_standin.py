"""The offline stand-in for the Calls SDK v5's auth surface (in headless Chromium), the emulator's
routes the SDKs call with a user's token (over real HTTP), and the live page's Calls SDK settings.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests import session_harness
from tests.session_harness import calls, error_of

# The harness's fixtures, used here by name.
browser, harness, stack = session_harness.browser, session_harness.harness, session_harness.stack

# ---- the Calls SDK v5 stand-in's auth surface -----------------------------------------------


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


def open_connections(stack, expected: int) -> int:
    """The emulator's open SDK connections, once they reach ``expected`` (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        count = requests.get(stack.emulator + "/_emulator/stats", timeout=5).json()["sdk_connections"]
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_the_chat_stand_in_opens_its_socket_after_login_and_closes_it_on_logout(harness, stack) -> None:
    uid = stack.new_user()
    token = stack.rest("POST", f"/users/{uid}/auth_tokens", json={"force": True}).json()["data"]["authToken"]
    h = harness.open(calls=False)
    before = open_connections(stack, 0)
    assert calls(h, "CometChat.login(arg).then((u) => u.getUid())", token) == {"ok": True, "value": uid}
    assert open_connections(stack, before + 1) == before + 1  # where the real SDK opens its WebSocket
    [opened] = [r for r in h.requests if r.method == "PUT" and r.url.endswith("/v3.0/me/connection")]
    assert opened.headers["authtoken"] == token
    assert calls(h, "CometChat.logout()")["ok"] is True
    assert open_connections(stack, before) == before
    assert [r.method for r in h.requests if r.url.endswith("/me/connection")] == ["PUT", "DELETE"]


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
