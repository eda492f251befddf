"""The demo page in a real headless Chromium (Debian's), against a real server on a free port.

Offline means offline: every page records the hosts it asks for, and a test fails if the page
reached any host other than the server it was opened from (only the live-mode test allows
the SDK's host, and aborts that request).

Without Chromium these tests skip with the reason, except under CI=true, where they must run
(.ci/run installs the chromium package). Screenshots of each state are saved under the test
run's temporary directory (the path is printed with -s, and listed in the test report).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.procs import Process, free_port

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI") == "true"

if not CHROMIUM and not IN_CI:
    pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",  # running as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine's network is closed: without these Chromium keeps dialling Google.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def start_server(tmp: Path, env: dict[str, str] | None = None) -> tuple[Process, str]:
    port = free_port()
    proc = Process(
        [sys.executable, "server.py"], env={"PORT": str(port), **(env or {})}, log_path=tmp / f"page-server-{port}.log"
    )
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/healthz")
    return proc, root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, root = start_server(tmp_path_factory.mktemp("page"))
    yield root
    proc.stop()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "CI=true: Chromium must be installed by .ci/run"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots: {folder}")
    return folder


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else parts.scheme + ":"


def watch(page: Page) -> None:
    """Record what a page asks for: CSP violations and every request's origin (anything not on
    127.0.0.1 is also aborted, so a test never sends traffic off this machine)."""
    page.csp_errors = []  # type: ignore[attr-defined]
    page.origins = []  # type: ignore[attr-defined]
    page.allowed_foreign = set()  # type: ignore[attr-defined]
    page.on("console", lambda msg: "Content Security Policy" in msg.text and page.csp_errors.append(msg.text))
    page.on("request", lambda req: page.origins.append(origin(req.url)))
    page.context.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), lambda route: route.abort())


def check_stayed_home(page: Page) -> None:
    assert page.csp_errors == [], page.csp_errors  # type: ignore[attr-defined]
    pages = [o for o in page.origins if o.startswith("http://127.0.0.1:")]  # type: ignore[attr-defined]
    home = pages[0] if pages else None
    foreign = [o for o in page.origins if o not in (home, "data:") and o not in page.allowed_foreign]  # type: ignore[attr-defined]
    assert foreign == [], f"the page reached other hosts: {foreign}"


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    watch(page)
    yield page
    check_stayed_home(page)
    context.close()


def snap(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def signed_in_as(page: Page, uid: str) -> None:
    expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    expect(page.locator("#user-uid")).to_have_text(uid)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def flow_steps(page: Page, kind: str):
    """The flow panel's finished steps of one kind: "server" (the page's calls) or "sdk"."""
    return page.locator(f"#flow li[data-kind={kind}][data-outcome]")


def upstream_calls(step) -> list[str]:
    return step.locator("li[data-kind=upstream]").evaluate_all("items => items.map(i => i.dataset.call)")


def chat_token(page: Page) -> str:
    """The token the chat SDK signed in with (the stand-in keeps it, as the real SDK does)."""
    return page.evaluate("CometChat.getLoggedinUser().then((user) => user && user.getAuthToken())")


def sdk_calls(page: Page) -> list[str]:
    """The flow panel's finished SDK steps, by the call they made (arguments left out)."""
    return flow_steps(page, "sdk").locator(".what").evaluate_all("items => items.map(i => i.textContent.split('(')[0])")


def test_page_says_which_mode_it_is_in(page, server, shots) -> None:
    page.goto(server)
    expect(page.locator("#mode")).to_contain_text("Offline mode")
    expect(page.get_by_label("UID")).to_be_visible()
    expect(page.get_by_label("Name")).to_be_visible()
    for n in range(1, 6):
        expect(page.get_by_role("button", name=f"cometchat-uid-{n}")).to_be_visible()
    assert "COMETCHAT_API_KEY" not in page.content()
    snap(page, shots, "01-signed-out")


def test_favicon_is_not_a_404(page, server) -> None:
    page.goto(server)
    expect(page.get_by_label("UID")).to_be_visible()
    icon = page.request.get(server + "/favicon.ico")
    assert icon.status == 200
    assert icon.headers["content-type"].startswith("image/")


def test_labels_sit_apart_from_their_inputs(page, server) -> None:
    page.goto(server)
    for name, field_id in (("UID", "uid"), ("Name", "name")):
        label = page.locator(f"label[for={field_id}]").bounding_box()
        field = page.get_by_label(name).bounding_box()
        assert field["y"] - (label["y"] + label["height"]) >= 4, name  # a visible gap below the label
    uid_box = page.get_by_label("UID").bounding_box()
    name_label = page.locator("label[for=name]").bounding_box()
    assert name_label["y"] - (uid_box["y"] + uid_box["height"]) >= 12  # the next label starts a new group


def test_sign_up_a_new_user(page, server, shots) -> None:
    page.goto(server)
    uid = f"browser-{os.getpid()}"
    page.get_by_label("UID").fill(uid)
    page.get_by_label("Name").fill("Browser Person")
    page.get_by_role("button", name="Sign up").click()
    signed_in_as(page, uid)
    expect(page.locator("#user-name")).to_have_text("Browser Person")
    expect(page.locator("#user-status")).to_have_text("available")
    expect(page.locator("#events li[data-event=loginSuccess]")).to_contain_text(f"loginSuccess: {uid}")
    # The flow: the user created (with its token, in one upstream call), then this device's own
    # token through the session module, the chat SDK's login and the Calls SDK's with that token.
    create, mint = flow_steps(page, "server").all()
    expect(create).to_contain_text("POST /api/cometchat/users")
    expect(create.locator(".badge").first).to_have_text("201")
    assert upstream_calls(create) == ["POST /users"]
    expect(create).to_contain_text("withAuthToken")
    expect(mint.locator(".what").first).to_have_text(f"POST /api/cometchat/token/{uid}")
    expect(mint).to_contain_text("device ")
    assert sdk_calls(page) == ["CometChat.getLoggedinUser", "CometChat.login", "CometChatCalls.loginWithAuthToken"]
    expect(flow_steps(page, "sdk").nth(1)).to_contain_text(f"logged in as {uid}")
    token = chat_token(page)
    flow_text = page.locator("#flow").inner_text()
    assert token not in flow_text and f"{token[:6]}…{token[-4:]}" in flow_text  # masked
    snap(page, shots, "02-signed-up")
    # Signing up again with the same uid is refused in words.
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("UID").fill(uid)
    page.get_by_label("Name").fill("Someone Else")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_contain_text("already taken")


def test_sign_in_as_a_test_user_reload_and_log_out(page, server, shots) -> None:
    page.goto(server)
    page.get_by_role("button", name="cometchat-uid-2").click()
    signed_in_as(page, "cometchat-uid-2")
    expect(page.locator("#user-name")).to_have_text("George Alan")
    # Offline the avatar URL cannot load: the initials stand in for it.
    expect(page.locator("#user-initials")).to_have_text("GA")
    expect(page.locator("#user-avatar")).not_to_have_attribute("src", re.compile("."))  # no remote image
    # A returning user: the server asked CometChat once per call, and minted in one round trip.
    read, mint = flow_steps(page, "server").all()
    expect(read).to_contain_text("GET /api/cometchat/users/cometchat-uid-2")
    assert upstream_calls(read) == ["GET /users/{uid}"]
    expect(mint).to_contain_text("POST /api/cometchat/token/cometchat-uid-2")
    assert upstream_calls(mint) == ["POST /users/{uid}/auth_tokens"]
    expect(mint.locator(".ms").first).to_have_text(re.compile(r"^[0-9.]+ ms$"))
    expect(mint).to_contain_text("new token")
    assert sdk_calls(page) == ["CometChat.getLoggedinUser", "CometChat.login", "CometChatCalls.loginWithAuthToken"]
    expect(flow_steps(page, "sdk").last).to_contain_text("Calls SDK signed in as cometchat-uid-2 with the same token")
    expect(page.locator("#user-calls")).to_have_text("signed in as cometchat-uid-2, with the chat SDK's token")
    device = page.evaluate("localStorage.getItem('cometchat-session:deviceId')")
    expect(page.locator("#user-device")).to_have_text(device)
    expect(page.locator("#why-uid")).to_contain_text("named the uid in the route")
    snap(page, shots, "03-signed-in")
    token = chat_token(page)
    assert token and page.evaluate("CometChatCalls.getUserAuthToken()") == token

    page.reload()
    signed_in_as(page, "cometchat-uid-2")  # the session survives, as the real SDK's does
    [restored] = page.locator("#events li").all()  # no new login happened, and the panel says so
    expect(restored).to_contain_text("sessionRestored: cometchat-uid-2")
    assert flow_steps(page, "server").count() == 0  # signIn() found the session: no request
    expect(page.locator("#user-calls")).to_have_text("signed in as cometchat-uid-2, with the chat SDK's token")
    snap(page, shots, "04-after-reload")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign up or sign in")).to_be_visible()
    expect(page.locator("#events li[data-event=logoutSuccess]")).to_have_count(1)
    expect(page.locator("#events li[data-event='calls.onLogoutSuccess']")).to_have_count(1)
    assert sdk_calls(page)[-2:] == ["CometChat.logout", "CometChatCalls.logout"]
    revoke = flow_steps(page, "server").last
    expect(revoke.locator(".what").first).to_have_text(f"DELETE /api/cometchat/users/cometchat-uid-2/sessions/{device}")
    expect(revoke.locator(".badge").first).to_have_text("200")
    # The token's push registrations go first (token_server/pushtokens.py), then the token.
    assert upstream_calls(revoke) == ["GET /notifications/push/v1/tokens", "DELETE /users/{uid}/auth_tokens/{authToken}"]
    assert token not in page.locator("#flow").inner_text()
    snap(page, shots, "05-logged-out")
    # This device's token was revoked on the server: CometChat (the emulator) refuses it now.
    me = requests.put(server + "/emulator/v3.0/me", headers={"authToken": token}, timeout=5)
    assert me.status_code == 401
    page.reload()
    expect(page.get_by_role("heading", name="Sign up or sign in")).to_be_visible()


def webhook_steps(page: Page):
    return page.locator("#flow li[data-kind=webhook]")


def presence_of(server: str, uid: str, status: str) -> dict:
    """The presence route's answer once it says ``status`` (the worker handles the event off the
    request); a bounded wait that only a hang reaches."""
    deadline = time.monotonic() + 30
    while True:
        answer = requests.get(f"{server}/api/cometchat/users/{uid}/presence", timeout=5)
        if answer.status_code == 200 and answer.json()["status"] == status or time.monotonic() > deadline:
            return {"http": answer.status_code, **answer.json()}
        time.sleep(0.1)


def test_the_connection_webhooks_reach_the_server_and_the_flow_shows_them(page, server, shots) -> None:
    # python server.py: the embedded emulator delivers its webhooks to the server's own receiver.
    page.goto(server)
    page.get_by_role("button", name="cometchat-uid-3").click()
    signed_in_as(page, "cometchat-uid-3")
    online = webhook_steps(page).first
    expect(online.locator(".what")).to_have_text("webhook user_connection_status_changed (online)")
    expect(online).to_have_attribute("data-outcome", "ok", timeout=30_000)
    expect(online.locator(".badge")).to_have_text("200 received")
    expect(online).to_have_attribute("data-status", "online")
    expect(online).to_contain_text("cometchat-uid-3 connected on javascript")
    heard = presence_of(server, "cometchat-uid-3", "online")  # the receiver's worker kept it
    assert {k: heard[k] for k in ("http", "uid", "status", "platform")} == {
        "http": 200, "uid": "cometchat-uid-3", "status": "online", "platform": "javascript"
    }
    snap(page, shots, "06-webhook-online")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign up or sign in")).to_be_visible()
    expect(webhook_steps(page)).to_have_count(2)
    offline = webhook_steps(page).last
    expect(offline.locator(".what")).to_have_text("webhook user_connection_status_changed (offline)")
    expect(offline).to_have_attribute("data-outcome", "ok", timeout=30_000)
    expect(offline).to_have_attribute("data-status", "offline")
    expect(offline).to_contain_text("cometchat-uid-3 disconnected on javascript")
    assert presence_of(server, "cometchat-uid-3", "offline")["status"] == "offline"
    snap(page, shots, "07-webhook-offline")


def test_single_page_app_path_uses_the_jwt_uid_only(page, server, shots) -> None:
    page.goto(server)
    page.get_by_label("As a single-page app").check()
    uid = f"spa-{os.getpid()}"
    page.get_by_label("UID").fill(uid)
    page.get_by_label("Name").fill("Spa Person")
    page.get_by_role("button", name="Sign in").click()
    signed_in_as(page, uid)
    jwt_step, mint = flow_steps(page, "server").all()
    expect(jwt_step).to_contain_text("POST /api/dev/jwt")
    expect(jwt_step).to_contain_text(f"for uid {uid}")
    # The production route: no uid in it, the JWT (masked) in the Authorization header.
    expect(mint.locator(".what").first).to_have_text("POST /api/cometchat/token")
    expect(mint.locator(".sent")).to_have_text(re.compile(r"^Authorization: Bearer eyJ\S{3}…\S{4}$"))
    # A first login: the mint found no user, so the server created it with its token.
    assert upstream_calls(mint) == ["POST /users/{uid}/auth_tokens", "POST /users"]
    not_found = mint.locator("li[data-kind=upstream]").first
    expect(not_found.locator(".badge")).to_have_text("404")
    expect(not_found.locator(".detail")).to_contain_text("ERR_UID_NOT_FOUND")
    expect(page.locator("#why-uid")).to_contain_text(f"Token minted for {uid}")
    expect(page.locator("#why-uid")).to_contain_text("sub claim")
    # ... and the JWT gets no token for anyone else.
    page.get_by_role("button", name="Ask for another user's token with this JWT").click()
    expect(page.locator("#try-other-result")).to_contain_text("Refused (ERR_FORBIDDEN)")
    refused = flow_steps(page, "server").last
    expect(refused.locator(".badge").first).to_have_text("403")
    assert upstream_calls(refused) == []  # refused before any CometChat call
    snap(page, shots, "11-single-page-app")

    # A returning user on the production path: one round trip.
    page.get_by_role("button", name="Log out").click()
    revoke = flow_steps(page, "server").last
    expect(revoke.locator(".sent")).to_contain_text("Authorization: Bearer eyJ")
    expect(revoke.locator(".badge").first).to_have_text("200")
    page.get_by_label("UID").fill(uid)
    page.get_by_role("button", name="Sign in").click()
    signed_in_as(page, uid)
    assert upstream_calls(flow_steps(page, "server").last) == ["POST /users/{uid}/auth_tokens"]


def test_single_page_app_sign_up_sends_the_jwt(page, server) -> None:
    page.goto(server)
    page.get_by_label("As a single-page app").check()
    uid = f"spa-new-{os.getpid()}"
    page.get_by_label("UID").fill(uid)
    page.get_by_label("Name").fill("New Spa")
    page.get_by_role("button", name="Sign up").click()
    signed_in_as(page, uid)
    jwt_step, create, mint = flow_steps(page, "server").all()
    expect(jwt_step).to_contain_text("POST /api/dev/jwt")
    expect(create.locator(".what").first).to_have_text("POST /api/cometchat/users")
    expect(create.locator(".sent")).to_contain_text("Authorization: Bearer eyJ")
    expect(create.locator(".badge").first).to_have_text("201")
    assert upstream_calls(create) == ["POST /users"]
    # This device's token on the production route, with the same JWT (still fresh: not asked again).
    expect(mint.locator(".what").first).to_have_text("POST /api/cometchat/token")
    expect(mint.locator(".sent")).to_contain_text("Authorization: Bearer eyJ")


def test_keyboard_only_sign_in(page, server) -> None:
    page.goto(server)
    expect(page.get_by_label("UID")).to_be_visible()
    page.get_by_label("UID").focus()
    page.keyboard.type("cometchat-uid-4")
    page.keyboard.press("Enter")
    signed_in_as(page, "cometchat-uid-4")
    expect(page.get_by_role("button", name="Log out")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign up or sign in")).to_be_visible()


def test_bad_uid_shows_its_error(page, server, shots) -> None:
    page.goto(server)
    page.get_by_label("UID").fill("not a valid uid!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That UID is not valid")
    snap(page, shots, "06-bad-uid")


def test_unknown_user_shows_its_error(page, server, shots) -> None:
    page.goto(server)
    page.get_by_label("UID").fill("nobody-by-this-name")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("no user with that UID")
    snap(page, shots, "07-unknown-user")


def test_server_down_shows_its_error(page, tmp_path, shots) -> None:
    proc, root = start_server(tmp_path)
    page.goto(root)
    expect(page.get_by_label("UID")).to_be_visible()
    proc.stop()
    page.get_by_role("button", name="cometchat-uid-1").click()
    expect(page.get_by_role("alert")).to_contain_text("Cannot reach the token server")
    text = page.get_by_role("alert").inner_text()
    assert "{" not in text and "Error:" not in text  # words, not a dump
    snap(page, shots, "08-server-down")


def test_live_mode_without_the_sdk_says_so(page, tmp_path, shots) -> None:
    # Credentials but no caller auth: dev mode on "CometChat" (never reached here).
    proc, root = start_server(
        tmp_path, {"COMETCHAT_APP_ID": "demoapp", "COMETCHAT_REGION": "eu", "COMETCHAT_API_KEY": "never-shown-rest-key"}
    )
    try:
        page.allowed_foreign.add("https://unpkg.com")  # the pinned SDK, and only it (aborted here)
        page.goto(root)
        expect(page.locator("#mode")).to_contain_text("Live mode")
        expect(page.get_by_role("alert")).to_contain_text("could not be loaded")
        # No Calls SDK v5 build configured: the page loads none and says which settings would.
        expect(page.locator("#calls-note")).to_contain_text("COMETCHAT_CALLS_SDK_URL")
        assert page.locator("script[src*=calls]").count() == 0
        script = page.locator("script[integrity]")
        assert script.get_attribute("integrity").startswith("sha384-")
        assert "@4.2.0/" in script.get_attribute("src")
        assert "never-shown-rest-key" not in page.content()
        assert "https://data-us.cometchat.io" in page.evaluate(
            "JSON.parse(document.getElementById('demo-config').textContent).imageHosts.map(h => 'https://' + h).join(' ')"
        )
        snap(page, shots, "09-sdk-missing")
    finally:
        proc.stop()


def test_phone_sized_screen(browser, server, shots) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    watch(page)
    page.goto(server)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_role("button", name="cometchat-uid-5").tap()
    signed_in_as(page, "cometchat-uid-5")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(page, shots, "10-phone")
    check_stayed_home(page)
    context.close()
