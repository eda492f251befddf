"""The two clients' contract over real sockets: the emulator, a raw server that trickles its
answer, a proxy, a TLS upstream. Every case runs against ``CometChatClient`` and
``AsyncCometChatClient`` (the ``kind`` parameter)."""

from __future__ import annotations

import pytest

from cometchat import AuthTokenNotFoundError, UidNotFoundError, UpstreamTimeoutError, UpstreamUnavailableError
from tests.clients import KINDS, make
from tests.procs import EMULATOR_KEY
from tests.unit.cometchat import test_deadline as raw

KEY = "rest-key-SECRET-contract"


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


# ---- on the emulator, over a real socket ---------------------------------------------------


@pytest.fixture
def live(kind, emulator):
    driver = make(kind, base_url=emulator.base_url, api_key=EMULATOR_KEY, backoff=0.01)
    yield driver
    driver.close()


def test_a_user_lives_and_dies_on_the_emulator(live) -> None:
    token, created = live.mint_token("contract-user", name="Contract")
    assert created is True and token.uid == "contract-user"
    again, created = live.mint_token("contract-user")
    assert created is False and again.auth_token != token.auth_token
    assert live.update_user("contract-user", name="Renamed").name == "Renamed"
    assert {t.auth_token for t in live.iter_auth_tokens("contract-user")} >= {token.auth_token, again.auth_token}
    live.delete_auth_token("contract-user", token.auth_token)
    with pytest.raises(AuthTokenNotFoundError):
        live.get_auth_token("contract-user", token.auth_token)
    live.delete_user("contract-user", permanent=True)
    with pytest.raises(UidNotFoundError):
        live.get_user("contract-user")


def test_an_emulated_outage_is_retried_over_the_socket(live, emulator) -> None:
    emulator.faults({"kind": "status", "status": 503}, {"kind": "reset"})
    assert live.get_user("cometchat-uid-1").uid == "cometchat-uid-1"


# ---- the total deadline, against a raw socket server that trickles its answer --------------


@pytest.mark.parametrize("script", ["body_drip", "header_drip"])
def test_an_answer_that_trickles_in_is_cut_at_the_deadline(kind, script) -> None:
    """Every piece comes well within the read timeout, so only the total deadline can end the
    call; without it the trickle runs for its full 8 s and ends as a broken connection."""
    server = raw.RawUpstream(getattr(raw, script))
    client = make(kind, base_url=server.base_url, api_key=KEY, read_timeout=raw.READ_TIMEOUT, total_deadline=1.0)
    try:
        with pytest.raises(UpstreamTimeoutError) as info:
            client.get_user("alice")
    finally:
        client.close()
        server.close()
    assert info.value.maybe_applied is True
    assert len(server.request_lines) == 1  # a slow upstream is not asked again


# ---- egress: the proxy and the CA bundle the options name -----------------------------------


def test_calls_go_through_the_proxy_the_options_name(kind) -> None:
    proxy = raw.RawUpstream(raw.ok)
    root = proxy.base_url.removesuffix("/v3")
    client = make(kind, base_url="http://cometchat-upstream.invalid/v3", api_key=KEY, proxies={"http": root})
    try:
        client.delete_user("alice")
    finally:
        client.close()
        proxy.close()
    assert proxy.request_lines == ["DELETE http://cometchat-upstream.invalid/v3/users/alice HTTP/1.1"]


def test_the_ca_bundle_option_is_what_a_tls_upstream_is_checked_against(kind, tmp_path) -> None:
    context, cert = raw.self_signed(tmp_path)
    server = raw.RawUpstream(raw.ok, tls=context)
    trusting = make(kind, base_url=server.base_url, api_key=KEY, ca_bundle=cert)
    untrusting = make(kind, base_url=server.base_url, api_key=KEY, max_retries=0)
    try:
        trusting.delete_user("alice")  # the self-signed certificate, trusted through the option
        with pytest.raises(UpstreamUnavailableError):
            untrusting.delete_user("alice")  # the system's CAs do not know it
    finally:
        trusting.close()
        untrusting.close()
        server.close()
