"""The demo page in a real headless Chromium (Debian's), against a real server on a free port.

Without Chromium these tests skip with the reason, except under CI=true, where they must run
(.ci/run installs the chromium package). Screenshots of each state are saved under the test
run's temporary directory (the path is printed with -s, and listed in the test report).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import requests

from .procs import Process, free_port

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


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.csp_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda msg: "Content Security Policy" in msg.text and page.csp_errors.append(msg.text))
    yield page
    assert page.csp_errors == [], page.csp_errors  # type: ignore[attr-defined]
    context.close()


def snap(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def signed_in_as(page: Page, uid: str) -> None:
    expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    expect(page.locator("#user-uid")).to_have_text(uid)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_page_says_which_mode_it_is_in(page, server, shots) -> None:
    page.goto(server)
    expect(page.locator("#mode")).to_contain_text("Offline mode")
    expect(page.get_by_label("UID")).to_be_visible()
    expect(page.get_by_label("Name")).to_be_visible()
    for n in range(1, 6):
        expect(page.get_by_role("button", name=f"cometchat-uid-{n}")).to_be_visible()
    assert "COMETCHAT_API_KEY" not in page.content()
    snap(page, shots, "01-signed-out")


def test_sign_up_a_new_user(page, server, shots) -> None:
    page.goto(server)
    uid = f"browser-{os.getpid()}"
    page.get_by_label("UID").fill(uid)
    page.get_by_label("Name").fill("Browser Person")
    page.get_by_role("button", name="Sign up").click()
    signed_in_as(page, uid)
    expect(page.locator("#user-name")).to_have_text("Browser Person")
    expect(page.locator("#user-status")).to_have_text("available")
    expect(page.locator("#events li").last).to_contain_text(f"loginSuccess: {uid}")
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
    snap(page, shots, "03-signed-in")
    token = page.evaluate("localStorage.getItem('cometchat-demo:authToken')")
    assert token

    page.reload()
    signed_in_as(page, "cometchat-uid-2")  # the session survives, as the real SDK's does
    assert page.locator("#events li").count() == 0  # no new login happened
    snap(page, shots, "04-after-reload")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign up or sign in")).to_be_visible()
    expect(page.locator("#events li").last).to_contain_text("logoutSuccess")
    snap(page, shots, "05-logged-out")
    # This device's token was revoked on the server: CometChat (the emulator) refuses it now.
    me = requests.put(server + "/emulator/v3.0/me", headers={"authToken": token}, timeout=5)
    assert me.status_code == 401
    page.reload()
    expect(page.get_by_role("heading", name="Sign up or sign in")).to_be_visible()


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
        page.route(re.compile(r"https://unpkg\.com/.*"), lambda route: route.abort())
        page.goto(root)
        expect(page.locator("#mode")).to_contain_text("Live mode")
        expect(page.get_by_role("alert")).to_contain_text("could not be loaded")
        script = page.locator("script[integrity]")
        assert script.get_attribute("integrity").startswith("sha384-")
        assert "@4.2.0/" in script.get_attribute("src")
        assert "never-shown-rest-key" not in page.content()
        snap(page, shots, "09-sdk-missing")
    finally:
        proc.stop()


def test_phone_sized_screen(browser, server, shots) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_role("button", name="cometchat-uid-5").tap()
    signed_in_as(page, "cometchat-uid-5")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(page, shots, "10-phone")
    context.close()
