"""The demo page's headers: a Content-Security-Policy that allows exactly what the page loads."""

from __future__ import annotations

import pytest

from token_server.demo import SDK_URL

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
