"""Egress over real sockets: the client and the server (gunicorn) reach an upstream over TLS
signed by a CA of the test's own (tests/tls.py), trusted through COMETCHAT_CA_BUNDLE or the
standard variables, and go through a real CONNECT proxy (tests/proxy.py) when told to."""

from __future__ import annotations

import pytest
import requests

from cometchat import CometChatClient, UpstreamUnavailableError
from tests.helpers import SERVICE_KEY, service
from tests.procs import EMULATOR_KEY, start_gunicorn
from tests.proxy import running_proxy
from tests.tls import make_tls_files, start_tls_emulator

# The variables a test's processes would otherwise inherit from the shell (this machine sets
# REQUESTS_CA_BUNDLE and friends to the system bundle, which does not hold the test CA).
CLEAR_EGRESS = {
    name: ""
    for name in (
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    )
}
PROXY_USER, PROXY_PASSWORD = "egress", "proxy-pass-SECRET-7"


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    files = make_tls_files(tmp)
    emulator, root = start_tls_emulator(tmp, files, api_key=EMULATOR_KEY)
    yield files, root
    emulator.stop()


@pytest.fixture
def clean_env(monkeypatch):
    for name in CLEAR_EGRESS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def server_env(root: str, **extra: str) -> dict[str, str]:
    # An empty https_proxy would cancel HTTPS_PROXY (the lower case wins, as in curl).
    cleared = {name: value for name, value in CLEAR_EGRESS.items() if name.upper() not in extra}
    return {
        **cleared,
        "COMETCHAT_BASE_URL": root + "/v3",
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
        **extra,
    }


def mint(root: str, uid: str) -> requests.Response:
    return requests.post(f"{root}/api/cometchat/token/{uid}", headers=service(), timeout=30)


def client(root: str, **options) -> CometChatClient:
    return CometChatClient(base_url=root + "/v3", api_key=EMULATOR_KEY, backoff=0.01, **options)


# ---- the client ---------------------------------------------------------------------------


def test_the_client_trusts_the_ca_it_is_given(tls_upstream, clean_env) -> None:
    files, root = tls_upstream
    token = client(root, ca_bundle=files.ca).create_auth_token("cometchat-uid-1")
    assert token.uid == "cometchat-uid-1" and token.auth_token


def test_without_the_ca_the_client_refuses_the_upstream(tls_upstream, clean_env) -> None:
    _, root = tls_upstream
    with pytest.raises(UpstreamUnavailableError, match="SSLError"):
        client(root, max_retries=0).create_auth_token("cometchat-uid-1")


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_the_standard_ca_variables_are_honoured(tls_upstream, clean_env, variable) -> None:
    files, root = tls_upstream
    clean_env.setenv(variable, files.ca)
    assert client(root).create_auth_token("cometchat-uid-2").uid == "cometchat-uid-2"


def test_https_proxy_carries_the_call_and_no_proxy_bypasses_it(tls_upstream, clean_env) -> None:
    files, root = tls_upstream
    target = root.removeprefix("https://")
    with running_proxy() as proxy:
        clean_env.setenv("HTTPS_PROXY", proxy.url)
        client(root, ca_bundle=files.ca).create_auth_token("cometchat-uid-3")
        assert [seen[0] for seen in proxy.seen] == [target]
        clean_env.setenv("NO_PROXY", "127.0.0.1")
        client(root, ca_bundle=files.ca).create_auth_token("cometchat-uid-3")
        assert len(proxy.seen) == 1  # straight to the upstream
        # An explicit proxy is explicit: NO_PROXY does not apply to it.
        client(root, ca_bundle=files.ca, proxy=proxy.url).create_auth_token("cometchat-uid-3")
        assert len(proxy.seen) == 2


# ---- the server under gunicorn ------------------------------------------------------------


def test_the_server_reaches_a_tls_upstream_with_cometchat_ca_bundle(tls_upstream, tmp_path) -> None:
    files, root = tls_upstream
    server, url = start_gunicorn(tmp_path, server_env(root, COMETCHAT_CA_BUNDLE=files.ca))
    try:
        answer = mint(url, "cometchat-uid-4")
    finally:
        server.stop()
    assert answer.status_code == 200 and answer.json()["uid"] == "cometchat-uid-4"


def test_without_the_ca_the_server_answers_a_clear_503(tls_upstream, tmp_path) -> None:
    _, root = tls_upstream
    server, url = start_gunicorn(tmp_path, server_env(root))
    try:
        answer = mint(url, "cometchat-uid-4")
    finally:
        output = server.stop()
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "ERR_UPSTREAM_UNAVAILABLE"
    assert "Traceback" not in output
    assert "connection to CometChat failed (SSLError)" in output  # the operator's clue


def test_the_server_honours_requests_ca_bundle(tls_upstream, tmp_path) -> None:
    files, root = tls_upstream
    server, url = start_gunicorn(tmp_path, server_env(root, REQUESTS_CA_BUNDLE=files.ca))
    try:
        assert mint(url, "cometchat-uid-4").status_code == 200
    finally:
        server.stop()


def test_the_server_goes_through_https_proxy(tls_upstream, tmp_path) -> None:
    files, root = tls_upstream
    with running_proxy() as proxy:
        server, url = start_gunicorn(tmp_path, server_env(root, COMETCHAT_CA_BUNDLE=files.ca, HTTPS_PROXY=proxy.url))
        try:
            assert mint(url, "cometchat-uid-4").status_code == 200
        finally:
            server.stop()
    assert [seen[0] for seen in proxy.seen] == [root.removeprefix("https://")]


def test_the_server_goes_through_cometchat_proxy_with_its_password_never_logged(tls_upstream, tmp_path) -> None:
    files, root = tls_upstream
    with running_proxy(credentials=(PROXY_USER, PROXY_PASSWORD)) as proxy:
        proxy_url = f"http://{PROXY_USER}:{PROXY_PASSWORD}@{proxy.url.removeprefix('http://')}"
        env = server_env(root, COMETCHAT_CA_BUNDLE=files.ca, COMETCHAT_PROXY=proxy_url, LOG_LEVEL="debug")
        server, url = start_gunicorn(tmp_path, env)
        try:
            assert mint(url, "cometchat-uid-4").status_code == 200
        finally:
            output = server.stop()
    assert proxy.seen == [(root.removeprefix("https://"), proxy.expected_authorization())]
    assert PROXY_PASSWORD not in output


def test_no_proxy_lets_the_server_bypass_the_proxy(tls_upstream, tmp_path) -> None:
    files, root = tls_upstream
    with running_proxy() as proxy:
        env = server_env(root, COMETCHAT_CA_BUNDLE=files.ca, HTTPS_PROXY=proxy.url, NO_PROXY="localhost,127.0.0.1")
        server, url = start_gunicorn(tmp_path, env)
        try:
            assert mint(url, "cometchat-uid-4").status_code == 200
        finally:
            server.stop()
    assert proxy.seen == []
