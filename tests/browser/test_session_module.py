"""cometchat-session.js in headless Chromium, against the standalone emulator (its REST key known
here, so a test revokes a token behind the server's back and counts the tokens CometChat holds)
and ``python server.py`` pointed at it with a SQLite device store (see session_harness.py).
"""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from tests import session_harness
from tests.procs import free_port
from tests.session_harness import SESSION, signed_in, start_server

# The harness's fixtures, used here by name.
browser, harness, stack = session_harness.browser, session_harness.harness, session_harness.stack
headers_then_body = session_harness.headers_then_body


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
    # headers() failing (the identity provider is down): its code, as a SessionError, no request.
    h.js("""window.session = createSession({CometChat, tokenUrl: '/api/cometchat/token',
        headers: async () => { throw Object.assign(new Error('down'), {code: 'IDP_DOWN'}); }})""")
    failed = h.js("outcome(session.signIn())")
    assert failed["code"] == "IDP_DOWN" and failed["isSessionError"] is True
    assert not [r for r in h.requests if r.method == "POST" and r.url.endswith("/api/cometchat/token")]


def test_a_calls_sdk_error_rejects_with_its_code(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open(calls=False)  # the Calls SDK never init()ed
    h.js(SESSION, uid)
    result = h.js("outcome(session.signIn())")
    assert result["ok"] is False and result["code"] == "ERROR_SDK_NOT_INITIALIZED"


def test_a_saved_chat_session_signs_the_calls_sdk_in_with_its_token_and_no_request(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    token = signed_in(h, uid)["token"]
    h.js("CometChatCalls.logout()")
    asked = len(h.posts("/api/cometchat/token/"))
    assert signed_in(h, uid)["uid"] == uid
    assert len(h.posts("/api/cometchat/token/")) == asked
    assert h.js("CometChatCalls.getUserAuthToken()") == token


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


def test_an_answer_whose_body_stalls_after_its_headers_is_given_up_on(harness, headers_then_body) -> None:
    h = harness.open()
    h.js(
        "window.session = createSession({CometChat, tokenUrl: arg + '/api/cometchat/token', timeoutMs: 300})",
        headers_then_body.url,
    )
    # Bounded here too: without the module's limit on the body this resolves "HUNG" after 10 s.
    result = h.js("Promise.race([outcome(session.signIn()), new Promise((r) => setTimeout(() => r('HUNG'), 10000))])")
    assert headers_then_body.headers_sent.is_set()  # the headers did arrive: the body is what stalled
    assert result != "HUNG" and result["code"] == "TIMEOUT"


def test_a_body_that_arrives_after_its_headers_within_the_limit_is_read(harness, headers_then_body) -> None:
    h = harness.open()
    h.js(
        "window.session = createSession({CometChat, tokenUrl: arg + '/api/cometchat/token', timeoutMs: 15000})",
        headers_then_body.url,
    )
    h.js("void (window.answer = outcome(session.signIn()))")
    assert headers_then_body.headers_sent.wait(10)
    headers_then_body.release.set()  # the rest of the body, while the module still waits for it
    result = h.js("window.answer")
    assert result["ok"] is False and result["code"] == "ERR_SPLIT_ANSWER"  # the whole body was read


def token_posts(h, uid: str) -> list:
    return [r for r in h.requests if r.method == "POST" and r.url.endswith("/api/cometchat/token/" + uid)]


def test_a_saved_session_for_another_uid_than_token_url_names_is_left_for_a_fresh_sign_in(harness, stack) -> None:
    alice, bob = stack.new_user(), stack.new_user()
    h = harness.open()
    alice_token = signed_in(h, alice)["token"]
    bob_user = signed_in(h, bob)  # the same page, now with tokenUrl /token/<bob>
    assert bob_user["uid"] == bob and bob_user["token"] != alice_token
    assert len(token_posts(h, bob)) == 1
    assert h.js("CometChatCalls.getLoggedInUser().uid") == bob
    assert h.js("CometChatCalls.getUserAuthToken()") == bob_user["token"]
    # Its twin: the same uid in other letters is the same user (CometChat lowercases): no request.
    h.js(
        "window.session = createSession({CometChat, CometChatCalls, tokenUrl: '/api/cometchat/token/' + arg})",
        bob.upper(),
    )
    assert h.js("outcome(session.signIn().then((u) => u.getUid()))") == {"ok": True, "value": bob}
    assert len([r for r in h.requests if r.method == "POST" and "/api/cometchat/token" in r.url]) == 2


def test_the_uid_option_checks_a_saved_session_for_the_jwt_form(harness, stack) -> None:
    alice, bob = stack.new_user(), stack.new_user()
    h = harness.open()
    signed_in(h, alice)
    jwt = requests.post(stack.server + "/api/dev/jwt", json={"uid": bob}, timeout=10).json()["jwt"]
    make = """window.session = createSession({CometChat, CometChatCalls, tokenUrl: '/api/cometchat/token',
        headers: {Authorization: 'Bearer ' + arg.jwt}, ...(arg.uid ? {uid: arg.uid} : {})})"""
    # Without it the module cannot know whom the JWT names: the saved session stands (the app's
    # own sign-out must call signOut(), see docs/frontend.md).
    h.js(make, {"jwt": jwt})
    assert h.js("outcome(session.signIn().then((u) => u.getUid()))") == {"ok": True, "value": alice}
    h.js(make, {"jwt": jwt, "uid": bob.upper()})
    result = h.js("outcome(session.signIn().then((u) => ({uid: u.getUid(), token: u.getAuthToken()})))")
    assert result["ok"] and result["value"]["uid"] == bob, result
    assert len([r for r in h.requests if r.method == "POST" and r.url.endswith("/api/cometchat/token")]) == 1
    assert h.js("CometChatCalls.getUserAuthToken()") == result["value"]["token"]
    refused = h.js("""[{uid: 'a', tokenUrl: '/api/cometchat/token/b'}, {uid: '', tokenUrl: '/api/cometchat/token'}]
        .map((o) => { try { createSession({CometChat, ...o}); return 'made'; } catch (e) { return e.name; } })""")
    assert refused == ["TypeError", "TypeError"]


def test_a_sign_in_started_during_a_sign_out_waits_for_it_then_signs_in(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    old = signed_in(h, uid)["token"]
    result = h.js("""(async () => {
        const out = session.signOut();
        const again = outcome(session.signIn().then((u) => ({uid: u.getUid(), token: u.getAuthToken()})));
        return {out: await out, again: await again, after: await CometChat.getLoggedinUser()};
    })()""")
    assert result["out"]["revoked"] is True
    assert result["again"]["ok"] and result["again"]["value"]["uid"] == uid, result
    token = result["again"]["value"]["token"]
    assert token != old and stack.login_works(token) and not stack.login_works(old)
    assert result["after"] is not None  # still signed in: the sign-out did not undo it
    assert h.js("CometChatCalls.getUserAuthToken()") == token
    methods = [r.method for r in h.requests if "/api/cometchat/" in r.url]
    assert methods[-2:] == ["DELETE", "POST"]  # the new sign-in asked after the sign-out's revoke
    # A sign-in asked for after the sign-out is a new attempt, not the one the sign-out waits for.
    second = h.js("""(async () => {
        const before = session.signIn(), out = session.signOut(), again = session.signIn();
        return {same: before === again, out: await out, again: (await again).getUid(),
                after: await CometChat.getLoggedinUser()};
    })()""")
    assert second["same"] is False and second["out"]["revoked"] is True and second["again"] == uid
    assert second["after"] is not None


def test_sign_out_keeps_the_path_prefix_of_token_url(harness, stack) -> None:
    uid = stack.new_user()
    h = harness.open()
    # A server mounted under /chat: the fetch option stands for the proxy that strips the prefix.
    h.js(
        """window.asked = [], window.session = createSession({CometChat, CometChatCalls,
          tokenUrl: location.origin + '/chat/api/cometchat/token/' + arg,
          fetch: (url, init) => { asked.push(init.method + ' ' + url);
                                  return fetch(url.replace('/chat/api/', '/api/'), init); }})""",
        uid,
    )
    assert h.js("outcome(session.signIn().then((u) => u.getUid()))") == {"ok": True, "value": uid}
    result = h.js("session.signOut()")
    assert result["revoked"] is True
    device = h.js("session.deviceId")
    assert h.js("asked") == [
        f"POST {stack.server}/chat/api/cometchat/token/{uid}",
        f"DELETE {stack.server}/chat/api/cometchat/users/{uid}/sessions/{device}",
    ]


def test_a_stored_device_id_the_server_would_refuse_is_replaced(harness) -> None:
    h = harness.open()
    key = "cometchat-session:deviceId"
    for bad in ["", "x" * 101, "abc\n", "abc def", "caf\u00e9", "a/b", "a.b"]:
        h.js("localStorage.setItem(arg.key, arg.bad)", {"key": key, "bad": bad})
        made = h.js("createSession({CometChat, tokenUrl: '/t'}).deviceId")
        assert made != bad and len(made) == 32 and set(made) <= set("0123456789abcdef"), (bad, made)
        assert h.js("localStorage.getItem(arg)", key) == made
    # Its twin: any id the server takes is kept, not only the module's own hex ones.
    for good in ["x" * 100, "0b8f6c1e-1d2a-4f7e-9c3b-5a6d7e8f9a0b", "app_install-7"]:
        h.js("localStorage.setItem(arg.key, arg.good)", {"key": key, "good": good})
        assert h.js("createSession({CometChat, tokenUrl: '/t'}).deviceId") == good
