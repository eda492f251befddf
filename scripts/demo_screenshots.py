"""Regenerate docs/demo-signed-out.png and docs/demo-signed-in.png (docs/demo.md).

Starts ``python server.py`` (the embedded default) on a loopback port, opens the demo page in
Debian's Chromium at a desktop width, and saves the page signed out, then signed in as
``cometchat-uid-1`` the way a single-page app does, once the connection webhook reached the
server. Run from the repository root: ``python scripts/demo_screenshots.py [--port 29100]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
VIEWPORT = {"width": 1200, "height": 800}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server.py exited with {proc.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=29100)
    port = parser.parse_args().port
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMETCHAT_", "AUTH_", "TOKEN_SERVER", "WEBHOOK_"))}
    env.update({"PORT": str(port), "TOKEN_SERVER_SKIP_DOTENV": "1"})
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, start_new_session=True)
    root = f"http://127.0.0.1:{port}"
    try:
        wait_up(root + "/healthz", proc)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.goto(root)
            expect(page.get_by_label("UID")).to_be_visible()
            page.screenshot(path=str(DOCS / "demo-signed-out.png"), full_page=True)
            page.get_by_label("As a single-page app").check()
            page.get_by_role("button", name="cometchat-uid-1").click()
            expect(page.locator("#flow li[data-kind=webhook]")).to_have_attribute("data-outcome", "ok", timeout=30_000)
            page.locator("#logout").blur()
            page.screenshot(path=str(DOCS / "demo-signed-in.png"), full_page=True)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    print("saved docs/demo-signed-out.png and docs/demo-signed-in.png")


if __name__ == "__main__":
    main()
