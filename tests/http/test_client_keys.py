"""Limits key on clients, not on text: a forwarded address loses its port and brackets, an IPv6
client is keyed by its /64, and the per-address limit is for callers that are neither a user
nor a service, so valid users behind one balancer never share it."""

from __future__ import annotations

import pytest

from tests.helpers import app_env, as_user, service
from token_server import create_app
from token_server.clientaddr import client_key
from token_server.config import ConfigError, LimitSettings

WRONG = {"Authorization": "Bearer not-the-key-0123456789"}
MINT = "/api/cometchat/token/cometchat-uid-1"


@pytest.mark.parametrize(
    ("forwarded", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:5678", "203.0.113.7"),
        (" 203.0.113.7:1 ", "203.0.113.7"),
        ("[2001:db8::1]:443", "2001:db8::/64"),
        ("[2001:db8::1]", "2001:db8::/64"),
        ("2001:DB8::1", "2001:db8::/64"),
        ("2001:db8::ffff:abcd:1", "2001:db8::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("UNKNOWN", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_an_address_is_keyed_as_its_client(forwarded, key) -> None:
    assert client_key(forwarded) == key


def test_the_ipv6_prefix_is_configurable_and_validated() -> None:
    assert client_key("2001:db8::1:2:3:4", 48) == "2001:db8::/48"
    assert client_key("2001:db8::1", 128) == "2001:db8::1/128"
    assert LimitSettings.from_env({"RATE_LIMIT_IPV6_PREFIX": "56"}).rate_limit_ipv6_prefix == 56
    assert LimitSettings.from_env({}).rate_limit_ipv6_prefix == 64
    for bad in ("0", "31", "129", "64.5", "/64", "sixty-four", "٦٤"):
        with pytest.raises(ConfigError, match="RATE_LIMIT_IPV6_PREFIX"):
            LimitSettings.from_env({"RATE_LIMIT_IPV6_PREFIX": bad})


def failed_logins(http, forwarded_for: list[str]) -> list[int]:
    return [http.post(MINT, headers={**WRONG, "X-Forwarded-For": f}).status_code for f in forwarded_for]


def test_a_port_per_connection_does_not_escape_the_failed_credential_limit() -> None:
    """Azure Application Gateway writes X-Forwarded-For as ip:port, a new port per connection:
    each wrong key used to count for a new "address", so the limit never applied."""
    http = create_app(app_env(RATE_LIMIT_AUTH_FAILURES="3 per minute", TRUSTED_PROXIES="1")).test_client()
    answers = failed_logins(http, [f"203.0.113.7:{40000 + n}" for n in range(5)])
    assert answers == [401, 401, 401, 429, 429]
    # The twin: the same client with a valid credential is answered; another client is untouched.
    assert http.post(MINT, headers={**service(), "X-Forwarded-For": "203.0.113.7:40009"}).status_code == 200
    assert http.post(MINT, headers={**as_user("cometchat-uid-1"), "X-Forwarded-For": "203.0.113.7:1"}).status_code == 200
    assert failed_logins(http, ["203.0.113.8:40000"]) == [401]


def test_an_ipv6_client_rotating_in_its_64_is_one_client() -> None:
    http = create_app(app_env(RATE_LIMIT_AUTH_FAILURES="3 per minute", TRUSTED_PROXIES="1")).test_client()
    rotating = ["[2001:db8:1:2::1]:443", "2001:db8:1:2::aaaa", "2001:db8:1:2:ffff::9", "[2001:db8:1:2::5]"]
    assert failed_logins(http, rotating) == [401, 401, 401, 429]
    assert failed_logins(http, ["2001:db8:1:3::1"]) == [401]  # the next /64 is another client
    assert http.post(MINT, headers={**service(), "X-Forwarded-For": "2001:db8:1:2::7"}).status_code == 200


def test_valid_users_behind_one_balancer_never_share_the_address_limit() -> None:
    """Without TRUSTED_PROXIES every caller has the balancer's address: 5 users x 3 mints
    against a per-address limit of 2 a minute are all answered (each user has its own budget)."""
    http = create_app(app_env(RATE_LIMIT_PER_ADDRESS="2 per minute", RATE_LIMIT_PER_USER="3 per minute")).test_client()
    answers = [
        http.post(f"/api/cometchat/token/user-{n}", headers=as_user(f"user-{n}")).status_code
        for n in range(5)
        for _ in range(3)
    ]
    assert answers == [200] * 15
    # The per-user limit still holds for each of them.
    assert http.post("/api/cometchat/token/user-0", headers=as_user("user-0")).status_code == 429


def dev_app(**env: str):
    return create_app(app_env(TOKEN_SERVER_API_KEYS=None, AUTH_JWT_SECRET=None, TOKEN_SERVER_DEV="1", **env))


def test_the_address_limit_still_holds_for_callers_without_a_user_or_service_identity() -> None:
    """Dev mode's callers are anonymous: the per-address limit is theirs, keyed by client."""
    http = dev_app(RATE_LIMIT_PER_ADDRESS="2 per minute").test_client()
    local = {"REMOTE_ADDR": "127.0.0.1"}
    answers = [http.post(f"/api/cometchat/token/u{n}", environ_base=local).status_code for n in range(3)]
    assert answers == [200, 200, 429]
    other = http.post("/api/cometchat/token/u9", environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 200  # another client has its own budget
