"""The demo page's Calls SDK v5 and its session module, in headless Chromium: the live page loads
the configured Calls build with its hash (and the policy allows that URL only), a log-out with the
server gone still logs both SDKs out and says so, and the module is served for front ends to copy.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import test_demo_page as test_browser
from tests.browser.test_demo_page import signed_in_as, start_server
from tests.procs import ROOT
from token_server.dev import demo

# test_browser's fixtures, used here by name.
browser, page, server = test_browser.browser, test_browser.page, test_browser.server

CALLS_URL = "https://cdn.example.com/calls-sdk-javascript@5.0.0/index.umd.js"
# A stand-in for the build, shaped like its UMD bundle: the package's exports on one global.
CALLS_BUILD = b'globalThis["@cometchat/calls-sdk-javascript"] = {CometChatCalls: {loginWithAuthToken() {}}};'
CALLS_INTEGRITY = "sha384-" + base64.b64encode(hashlib.sha384(CALLS_BUILD).digest()).decode()


def serve_calls_build(page) -> None:
    page.route(
        CALLS_URL,
        lambda route: route.fulfill(
            body=CALLS_BUILD, content_type="text/javascript", headers={"Access-Control-Allow-Origin": "*"}
        ),
    )


@pytest.mark.parametrize("build_matches", [True, False])
def test_live_mode_loads_the_configured_calls_sdk_with_its_hash(page, tmp_path, build_matches) -> None:
    if not build_matches:  # the host served other bytes than the operator hashed: the browser refuses them
        page.route(
            CALLS_URL,
            lambda route: route.fulfill(
                body=b"globalThis.tampered = true;",
                content_type="text/javascript",
                headers={"Access-Control-Allow-Origin": "*"},
            ),
        )
    else:
        serve_calls_build(page)
    proc, root = start_server(
        tmp_path,
        {
            "COMETCHAT_APP_ID": "demoapp",
            "COMETCHAT_REGION": "us",
            "COMETCHAT_API_KEY": "never-shown-rest-key",
            "COMETCHAT_CALLS_SDK_URL": CALLS_URL,
            "COMETCHAT_CALLS_SDK_INTEGRITY": CALLS_INTEGRITY,
        },
    )
    try:
        page.allowed_foreign.update({"https://unpkg.com", "https://cdn.example.com"})  # aborted here
        response = page.goto(root)
        script = page.locator(f"script[src='{CALLS_URL}']")
        assert script.get_attribute("integrity") == CALLS_INTEGRITY
        assert script.get_attribute("crossorigin") == "anonymous"
        policy = response.headers["content-security-policy"]
        [scripts] = [d for d in policy.split("; ") if d.startswith("script-src ")]
        assert scripts.split() == ["script-src", "'self'", demo.SDK_URL, CALLS_URL]  # that URL, not its host
        expect(page.locator("#mode")).to_contain_text("Calls SDK v5 from")
        expect(page.locator("#calls-note")).to_be_hidden()
        loaded = "window['@cometchat/calls-sdk-javascript'] !== undefined || window.tampered === true"
        assert page.evaluate(loaded) is build_matches
    finally:
        proc.stop()


def test_the_session_module_is_served_for_front_ends_to_copy(server) -> None:
    answer = requests.get(server + "/static/cometchat-session.js", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert "export function createSession" in answer.text
    assert answer.text == (ROOT / "token_server" / "static" / "cometchat-session.js").read_text()


def test_log_out_with_the_server_gone_still_logs_out_and_says_so(page, tmp_path) -> None:
    proc, root = start_server(tmp_path)
    page.goto(root)
    page.get_by_role("button", name="cometchat-uid-3").click()
    signed_in_as(page, "cometchat-uid-3")
    proc.stop()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign up or sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("did not revoke this device's token (NETWORK_ERROR)")
    assert page.evaluate("CometChatCalls.isUserLoggedIn()") is False
    assert page.evaluate("CometChat.getLoggedinUser()") is None
