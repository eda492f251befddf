"""Dev mode is a local tool: loopback host names only, no foreign Origin, JSON bodies only."""

from __future__ import annotations

import pytest

from tests.helpers import app_env, http_client, service
from token_server import create_app

MINT = "/api/cometchat/token/cometchat-uid-1"
REVOKE = "/api/cometchat/token/cometchat-uid-1/revoke"


@pytest.fixture
def dev_app():
    return create_app(app_env(TOKEN_SERVER_API_KEYS=None, AUTH_JWT_SECRET=None, TOKEN_SERVER_DEV="1"))


@pytest.fixture
def dev(dev_app):
    return dev_app.test_client()


@pytest.fixture
def upstream(dev_app):
    return dev_app.extensions["token_server.emulator"]


@pytest.mark.parametrize("host", ["localhost", "localhost:3000", "127.0.0.1:3000", "[::1]", "[::1]:8080", "LOCALHOST"])
def test_loopback_host_names_are_served(dev, host) -> None:
    answer = dev.post(MINT, headers={"Host": host})
    assert answer.status_code == 200, answer.json


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:3000", "127.0.0.1.attacker.example", "localhost.evil", "[::2]"]
)
def test_any_other_host_name_is_400_without_an_upstream_call(dev, upstream, host) -> None:
    before = upstream.requests
    for method, path in (("POST", MINT), ("GET", "/"), ("GET", "/healthz")):
        answer = dev.open(path, method=method, headers={"Host": host})
        assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_HOST", (method, path)
    assert upstream.requests == before


def test_a_foreign_origin_is_403_without_an_upstream_call(dev, upstream) -> None:
    before = upstream.requests
    for origin in ("https://attacker.example", "null", "http://localhost:3001", "http://127.0.0.1"):
        answer = dev.post(REVOKE, json={"all": True}, headers={"Host": "127.0.0.1:3000", "Origin": origin})
        assert answer.status_code == 403 and answer.json["error"]["code"] == "ERR_FOREIGN_ORIGIN", origin
    assert upstream.requests == before


def test_the_servers_own_origin_and_no_origin_are_served(dev) -> None:
    own = dev.post(MINT, headers={"Host": "127.0.0.1:3000", "Origin": "http://127.0.0.1:3000"})
    assert own.status_code == 200
    assert dev.post(MINT, headers={"Host": "localhost:3000"}).status_code == 200  # curl -X POST


def test_a_configured_cors_origin_may_call_a_dev_server() -> None:
    app = create_app(
        app_env(
            TOKEN_SERVER_API_KEYS=None,
            AUTH_JWT_SECRET=None,
            TOKEN_SERVER_DEV="1",
            CORS_ORIGINS="http://localhost:5173",
        )
    )
    answer = app.test_client().post(MINT, headers={"Host": "127.0.0.1:3000", "Origin": "http://localhost:5173"})
    assert answer.status_code == 200


def test_a_cross_site_text_plain_post_cannot_act(dev, upstream) -> None:
    """The CSRF shape: no preflight, a body the browser calls text/plain."""
    before = upstream.requests
    plain = dev.post(REVOKE, data='{"all": true}', headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and plain.json["error"]["code"] == "ERR_UNSUPPORTED_MEDIA_TYPE"
    assert upstream.requests == before


def test_production_answers_on_any_host_name() -> None:
    http = http_client()
    assert http.post(MINT, headers={**service(), "Host": "tokens.example.com"}).status_code == 200


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_clients_are_served(dev, address) -> None:
    answer = dev.post(MINT, headers={"Host": "localhost"}, environ_base={"REMOTE_ADDR": address})
    assert answer.status_code == 200, answer.json


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.2", "::ffff:10.0.0.2", "2001:db8::1", ""])
def test_a_remote_client_forging_a_loopback_host_gets_nothing(dev, upstream, address) -> None:
    """`curl -H 'Host: localhost'` from another machine: the Host header is the client's to write."""
    before = upstream.requests
    for method, path in (("POST", MINT), ("GET", "/"), ("POST", "/api/dev/jwt")):
        answer = dev.open(path, method=method, headers={"Host": "localhost"}, environ_base={"REMOTE_ADDR": address})
        assert answer.status_code == 403 and answer.json["error"]["code"] == "ERR_NOT_LOCAL", (method, path)
    assert upstream.requests == before


def test_behind_trusted_proxies_both_the_peer_and_the_forwarded_client_must_be_local() -> None:
    http = create_app(
        app_env(TOKEN_SERVER_API_KEYS=None, AUTH_JWT_SECRET=None, TOKEN_SERVER_DEV="1", TRUSTED_PROXIES="1")
    ).test_client()

    def mint(peer: str, forwarded: str) -> int:
        headers = {"Host": "localhost", "X-Forwarded-For": forwarded}
        return http.post(MINT, headers=headers, environ_base={"REMOTE_ADDR": peer}).status_code

    assert mint("127.0.0.1", "127.0.0.1") == 200
    assert mint("203.0.113.7", "127.0.0.1") == 403  # a forged header from afar
    assert mint("127.0.0.1", "203.0.113.7") == 403  # a local proxy forwarding the world
