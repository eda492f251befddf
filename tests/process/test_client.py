"""The client over real sockets. Both clients (the ``kind`` parameter) against the emulator, a raw
server that trickles its answer, a proxy, a TLS upstream; and one client suite on two backends
(the emulator over a real socket, and `responses` fixtures built from CometChat's documented
answers) that must satisfy the same contract."""
from __future__ import annotations

from typing import Iterator

import pytest
import responses
from responses.registries import OrderedRegistry

from cometchat import (
    AuthTokenNotFoundError,
    CometChatClient,
    UidAlreadyExistsError,
    UidNotFoundError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
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


BASE = "https://contract.api-us.cometchat.io/v3"
NEW_TOKEN = "contract-user_1700000000" + "a" * 30

# The documented answers (docs/cometchat-api.md), in the order the scenario makes its calls.
RECORDED: list[tuple[str, str, int, dict]] = [
    (
        "GET",
        "/users/cometchat-uid-1",
        200,
        {
            "data": {
                "uid": "cometchat-uid-1",
                "name": "Andrew Joseph",
                "avatar": "https://data-us.cometchat.io/assets/images/avatars/andrewjoseph.png",
                "status": "offline",
                "role": "default",
                "createdAt": 1700000000,
            }
        },
    ),
    (
        "POST",
        "/users",
        200,
        {
            "data": {
                "uid": "contract-user",
                "name": "Contract User",
                "status": "offline",
                "role": "default",
                "createdAt": 1700000000,
                "authToken": NEW_TOKEN,
            }
        },
    ),
    (
        "POST",
        "/users",
        400,
        {
            "error": {
                "message": "The UID contract-user already exists. Please use a different UID.",
                "devMessage": "uid exists",
                "source": "chat-api",
                "code": "ERR_UID_ALREADY_EXISTS",
            }
        },
    ),
    (
        "GET",
        "/users/nobody-here",
        404,
        {
            "error": {
                "message": "The UID nobody-here does not exist, please make sure you have created a user with UID nobody-here.",
                "devMessage": "not found",
                "source": "chat-api",
                "code": "ERR_UID_NOT_FOUND",
            }
        },
    ),
    (
        "POST",
        "/users/contract-user/auth_tokens",
        200,
        {"data": {"uid": "contract-user", "authToken": "contract-user_1700000001" + "b" * 30, "createdAt": 1700000001}},
    ),
    (
        "DELETE",
        "/users/contract-user/auth_tokens/no-such-token",
        404,
        {
            "error": {
                "message": "Auth token does not exist.",
                "devMessage": "x",
                "source": "chat-api",
                "code": "ERR_AUTH_TOKEN_NOT_FOUND",
            }
        },
    ),
    ("DELETE", f"/users/contract-user/auth_tokens/{NEW_TOKEN}", 200, {"data": {"success": True}}),
    (
        "DELETE",
        "/users/contract-user/auth_tokens",
        200,
        {"data": {"success": True, "message": "Cleared Auth Tokens successfully for uid contract-user."}},
    ),
    ("DELETE", "/users/contract-user", 200, {"data": {"deactivatedUids": ["contract-user"]}}),
    (
        "GET",
        "/users/contract-user",
        404,
        {
            "error": {
                "message": "The UID contract-user does not exist.",
                "devMessage": "x",
                "source": "chat-api",
                "code": "ERR_UID_NOT_FOUND",
            }
        },
    ),
]


def scenario(client: CometChatClient) -> None:
    test_user = client.get_user("cometchat-uid-1")
    assert test_user.name == "Andrew Joseph" and test_user.status == "offline"
    assert test_user.link is None and test_user.metadata == {}  # unset fields left out
    assert isinstance(test_user.created_at, int)

    created = client.create_user("Contract-User", "Contract User", with_auth_token=True)
    assert created.uid == "contract-user" and created.role == "default"
    assert created.auth_token and created.auth_token.startswith("contract-user_")
    first_token = created.auth_token

    with pytest.raises(UidAlreadyExistsError) as dup:
        client.create_user("contract-user", "Again")
    assert dup.value.status == 400

    with pytest.raises(UidNotFoundError) as missing:
        client.get_user("nobody-here")
    assert missing.value.status == 404

    minted = client.create_auth_token("contract-user")
    assert minted.uid == "contract-user" and minted.auth_token != first_token

    with pytest.raises(AuthTokenNotFoundError):
        client.delete_auth_token("contract-user", "no-such-token")
    client.delete_auth_token("contract-user", first_token)
    client.flush_auth_tokens("contract-user")
    client.delete_user("contract-user")
    with pytest.raises(UidNotFoundError):
        client.get_user("contract-user")


@pytest.fixture(params=["emulator", "recorded"])
def contract_client(request) -> Iterator[CometChatClient]:
    if request.param == "emulator":
        emulator = request.getfixturevalue("emulator")
        client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY)
        yield client
        client.close()
        return
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        for method, path, status, body in RECORDED:
            mock.add(method, BASE + path, json=body, status=status)
        yield CometChatClient("contract", "us", "rest-key")


def test_client_contract(contract_client: CometChatClient) -> None:
    scenario(contract_client)


# The client refuses bad input locally (no upstream call); the emulator holds the documented
# rules. Both must draw the line in the same place: where they differ, the client either
# spends an upstream call on a doomed request or refuses what CometChat accepts.
BOUNDARY_CASES: list[tuple[str, dict]] = [
    ("a", {}),
    ("A" * 100, {}),
    ("a" * 101, {}),
    ("with space", {}),
    ("dotted.uid", {}),
    ("ümlaut", {}),
    ("\u212a", {}),  # the Kelvin sign lowercases to an ASCII "k"
    ("", {}),
    ("x", {"name": "n" * 100}),
    ("x", {"name": "n" * 101}),
    ("x", {"name": ""}),
    ("x", {"avatar": "https://example.com/" + "a" * 2980}),
    ("x", {"avatar": "https://example.com/" + "a" * 2981}),
    ("x", {"link": "not a url"}),
    ("x", {"tags": ["t" * 100] * 25}),
    ("x", {"tags": ["t"] * 26}),
    ("x", {"tags": ["t" * 101]}),
]


@pytest.mark.parametrize(("uid", "fields"), BOUNDARY_CASES)
def test_client_and_emulator_draw_the_same_lines(emulator, uid, fields) -> None:
    import requests

    from cometchat import ValidationError

    body = {"uid": uid, "name": "Boundary", **fields}
    answer = requests.post(emulator.base_url + "/users", json=body, headers={"apikey": EMULATOR_KEY}, timeout=5)
    emulator_refuses = answer.status_code == 400
    assert answer.status_code in (200, 400)
    emulator.reset()
    client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY)
    try:
        extra = {k: v for k, v in fields.items() if k != "name"}
        client.create_user(uid, body["name"], **extra)
        client_refuses = False
    except ValidationError:
        client_refuses = True
    finally:
        client.close()
    assert client_refuses == emulator_refuses, f"client refuses: {client_refuses}, emulator: {answer.json()}"
