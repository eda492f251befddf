"""The demo page's headers: a Content-Security-Policy that allows exactly what the page loads."""

from __future__ import annotations

import pytest

from token_server.dev.demo import AVATAR_HOST, SDK_URL

LIVE = {"COMETCHAT_APP_ID": "app1", "COMETCHAT_REGION": "us", "COMETCHAT_API_KEY": "rest-key", "TOKEN_SERVER_DEV": "1"}
OFFLINE = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


@pytest.mark.parametrize(("env", "scripts"), [(LIVE, ["'self'", SDK_URL]), (OFFLINE, ["'self'"])])
def test_script_src_allows_only_the_pinned_sdk(env, scripts) -> None:
    from token_server import create_app

    page = create_app(env).test_client().get("/")
    assert page.status_code == 200
    policy = directives(page.headers["Content-Security-Policy"])
    assert policy["script-src"] == scripts  # never the whole of https://unpkg.com
    assert policy["default-src"] == ["'none'"]
    assert (f'src="{SDK_URL}"' in page.text) == (env is LIVE)


@pytest.mark.parametrize(
    ("env", "images"), [(LIVE, ["'self'", "data:", f"https://{AVATAR_HOST}"]), (OFFLINE, ["'self'", "data:"])]
)
def test_img_src_is_exactly_what_each_mode_shows(env, images) -> None:
    from token_server import create_app

    page = create_app(env).test_client().get("/")
    assert directives(page.headers["Content-Security-Policy"])["img-src"] == images  # offline: no remote image


def test_the_favicon_is_served() -> None:
    from token_server import create_app

    icon = create_app(OFFLINE).test_client().get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO header
