"""One loopback predicate for URLs, Host headers and client addresses, and every user of it
agreeing (a dual-stack socket reports ``::ffff:127.0.0.1``)."""

from __future__ import annotations

import pytest

from tests.helpers import SERVICE_KEY
from token_server import create_app
from token_server.config import ConfigError, load_settings
from token_server.dev.devjwt import DEV_JWT_PATH
from token_server.loopback import is_loopback

LOCAL = ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]"]
FOREIGN = [
    None,
    "",
    "localhost.example",
    "127.0.0.1.example",
    "10.0.0.2",
    "::ffff:10.0.0.2",
    "[::2]",
    "2001:db8::1",
    "0.0.0.0",
    "::",
    "[127.0.0.1]",
    "127.1",
    "[::1",
]


@pytest.mark.parametrize("host", LOCAL)
def test_loopback_names_and_addresses(host) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", FOREIGN)
def test_anything_else_is_not_loopback(host) -> None:
    assert not is_loopback(host)


DEV = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}


def test_an_ipv4_mapped_loopback_client_is_local_to_the_guard_and_the_test_jwt_route_alike() -> None:
    http = create_app(DEV).test_client()
    mapped = {"REMOTE_ADDR": "::ffff:127.0.0.1"}
    answer = http.post(DEV_JWT_PATH, json={"uid": "alice"}, headers={"Host": "localhost"}, environ_base=mapped)
    assert answer.status_code == 200, answer.json
    mint = http.post("/api/cometchat/token/alice", headers={"Host": "[::ffff:127.0.0.1]:3000"}, environ_base=mapped)
    assert mint.status_code == 200, mint.json


def test_a_remote_client_still_gets_no_test_jwt() -> None:
    http = create_app(DEV).test_client()
    answer = http.post(DEV_JWT_PATH, json={"uid": "alice"}, environ_base={"REMOTE_ADDR": "::ffff:10.0.0.2"})
    assert answer.status_code == 403 and answer.json["error"]["code"] == "ERR_NOT_LOCAL"


@pytest.mark.parametrize("url", ["http://[::ffff:127.0.0.1]:8787/v3", "http://127.0.0.1:8787/v3"])
def test_config_takes_the_same_loopback_hosts_for_plain_http(url) -> None:
    env = {"COMETCHAT_BASE_URL": url, "COMETCHAT_API_KEY": "k" * 40, "TOKEN_SERVER_API_KEYS": SERVICE_KEY}
    assert load_settings(env).base_url == url


def test_config_refuses_plain_http_elsewhere() -> None:
    env = {"COMETCHAT_BASE_URL": "http://[::ffff:10.0.0.2]/v3", "COMETCHAT_API_KEY": "k" * 40}
    with pytest.raises(ConfigError, match="COMETCHAT_BASE_URL must be an"):
        load_settings({**env, "TOKEN_SERVER_API_KEYS": SERVICE_KEY})
