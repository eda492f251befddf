"""Egress settings without a network: which proxy and which CAs a client's calls use, that
``.netrc`` is never read, and how COMETCHAT_PROXY / COMETCHAT_CA_BUNDLE are checked at start."""

from __future__ import annotations

import base64
import http.server
import threading

import pytest
import requests
import responses
from responses.registries import OrderedRegistry

from cometchat import CometChatClient
from cometchat.egress import CA_BUNDLE_VARIABLES, redact_proxy, resolve
from tests.helpers import SERVICE_KEY
from tests.tls import make_tls_files
from token_server import create_app, routes
from token_server.config import ConfigError, load_settings

BASE = "https://app123.api-eu.cometchat.io/v3"
KEY = "rest-key-SECRET-123"
USER = {"uid": "alice", "name": "Alice", "role": "default", "status": "offline", "createdAt": 1700000000}
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
PRODUCTION = {"COMETCHAT_APP_ID": "abc123", "COMETCHAT_REGION": "eu", "COMETCHAT_API_KEY": "k" * 40}
PRODUCTION_AUTH = {**PRODUCTION, "TOKEN_SERVER_API_KEYS": SERVICE_KEY}


@pytest.fixture
def env(monkeypatch):
    for name in (*PROXY_VARIABLES, *CA_BUNDLE_VARIABLES):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


# ---- which proxy, which CAs ----------------------------------------------------------------


def test_nothing_set_means_direct_and_certifi(env) -> None:
    assert resolve(BASE) == resolve(BASE, proxies={}, ca_bundle=None)
    assert resolve(BASE).proxies == {} and resolve(BASE).verify is True


def test_https_proxy_is_used_unless_no_proxy_covers_the_host(env) -> None:
    env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert resolve(BASE).proxies == {"https": "http://proxy.corp:3128"}
    env.setenv("NO_PROXY", ".cometchat.io")
    assert resolve(BASE).proxies == {}
    env.setenv("NO_PROXY", "other.example")
    assert resolve(BASE).proxies == {"https": "http://proxy.corp:3128"}


def test_lower_case_proxy_variables_count_too(env) -> None:
    env.setenv("https_proxy", "http://lower.corp:3128")
    env.setenv("all_proxy", "http://all.corp:3128")
    assert resolve(BASE).proxies == {"https": "http://lower.corp:3128", "all": "http://all.corp:3128"}


def test_an_explicit_proxy_wins_over_the_environment_and_no_proxy(env) -> None:
    env.setenv("HTTPS_PROXY", "http://env.corp:3128")
    env.setenv("NO_PROXY", "*")
    explicit = {"http": "http://mine:8080", "https": "http://mine:8080"}
    assert resolve(BASE, proxies=explicit).proxies == explicit


def test_ca_bundle_order_explicit_then_requests_curl_ssl_cert_file(env) -> None:
    env.setenv("SSL_CERT_FILE", "/ssl.pem")
    assert resolve(BASE).verify == "/ssl.pem"
    env.setenv("CURL_CA_BUNDLE", "/curl.pem")
    assert resolve(BASE).verify == "/curl.pem"
    env.setenv("REQUESTS_CA_BUNDLE", "/requests.pem")
    assert resolve(BASE).verify == "/requests.pem"
    assert resolve(BASE, ca_bundle="/mine.pem").verify == "/mine.pem"
    env.setenv("REQUESTS_CA_BUNDLE", "")  # empty: as if unset
    assert resolve(BASE).verify == "/curl.pem"


def test_the_client_sends_through_the_resolved_proxy_and_ca(env) -> None:
    env.setenv("HTTPS_PROXY", "http://env.corp:3128")
    env.setenv("REQUESTS_CA_BUNDLE", "/env-ca.pem")
    with responses.RequestsMock(registry=OrderedRegistry) as rsps:
        rsps.get(f"{BASE}/users/alice", json={"data": USER})
        rsps.get(f"{BASE}/users/alice", json={"data": USER})
        CometChatClient("app123", "eu", KEY).get_user("alice")
        CometChatClient("app123", "eu", KEY, proxy="http://u:p@mine:8080", ca_bundle="/mine.pem").get_user("alice")
        first, second = (call.request.req_kwargs for call in rsps.calls)
    assert first["proxies"] == {"https": "http://env.corp:3128"} and first["verify"] == "/env-ca.pem"
    assert second["proxies"] == {"http": "http://u:p@mine:8080", "https": "http://u:p@mine:8080"}
    assert second["verify"] == "/mine.pem"
    with pytest.raises(ValueError):
        CometChatClient("app123", "eu", KEY, proxy="http://a:1", proxies={"https": "http://b:2"})


def test_a_proxy_password_is_masked_for_logs() -> None:
    assert redact_proxy("http://user:s3cret@proxy.corp:3128") == "http://user:***@proxy.corp:3128"
    assert redact_proxy("http://proxy.corp:3128") == "http://proxy.corp:3128"
    assert "s3cret" not in redact_proxy("https://user:s3cret@[::1]:99")


# ---- .netrc is never read ------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802
        _Recorder.seen.append(self.headers.get("Authorization"))
        body = b'{"data": {"uid": "alice", "name": "Alice"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_netrc_file_is_never_read(env, tmp_path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1\n  login netrc-user\n  password netrc-SECRET\n")
    netrc.chmod(0o600)
    env.setenv("HOME", str(tmp_path))
    env.setenv("NETRC", str(netrc))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v3"
        CometChatClient(base_url=url, api_key=KEY).get_user("alice")
        # The same file, read by a plain requests call, would have sent it: the test can tell.
        requests.get(url + "/users/alice", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    secret = "Basic " + base64.b64encode(b"netrc-user:netrc-SECRET").decode()
    assert _Recorder.seen == [None, secret]


# ---- COMETCHAT_PROXY and COMETCHAT_CA_BUNDLE at start ---------------------------------------


def test_a_valid_proxy_and_ca_bundle_are_taken(tmp_path) -> None:
    files = make_tls_files(tmp_path)
    settings = load_settings(
        {**PRODUCTION_AUTH, "COMETCHAT_PROXY": "http://u:pw-SECRET-1@proxy.corp:3128", "COMETCHAT_CA_BUNDLE": files.ca}
    )
    assert settings.proxy == "http://u:pw-SECRET-1@proxy.corp:3128" and settings.ca_bundle == files.ca
    assert "pw-SECRET-1" in settings.secrets  # the log filter masks it
    assert "pw-SECRET-1" not in repr(settings)
    assert load_settings(PRODUCTION_AUTH).proxy is None


@pytest.mark.parametrize(
    "proxy",
    [
        "proxy.corp:3128",
        "ftp://proxy.corp:21",
        "socks5://proxy.corp:1080",
        "http://",
        "http://proxy.corp:99999",
        "http://proxy.corp:3128/path",
        "http://proxy.corp:3128?x=1",
        "http://u:pw-SECRET-2@proxy corp:3128",
    ],
)
def test_a_bad_proxy_is_refused_at_start_without_its_password(proxy) -> None:
    with pytest.raises(ConfigError, match="COMETCHAT_PROXY must be http") as info:
        load_settings({**PRODUCTION_AUTH, "COMETCHAT_PROXY": proxy})
    assert "pw-SECRET-2" not in str(info.value)


def test_a_bad_ca_bundle_is_refused_at_start(tmp_path) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    for path in (tmp_path / "missing.pem", not_pem, tmp_path):
        with pytest.raises(ConfigError, match="COMETCHAT_CA_BUNDLE must be a readable PEM file"):
            load_settings({**PRODUCTION_AUTH, "COMETCHAT_CA_BUNDLE": str(path)})
    # Both problems in the one message, with the others.
    with pytest.raises(ConfigError) as info:
        load_settings({**PRODUCTION, "COMETCHAT_CA_BUNDLE": str(not_pem), "COMETCHAT_PROXY": "nope"})
    assert {"COMETCHAT_CA_BUNDLE", "COMETCHAT_PROXY", "TOKEN_SERVER_API_KEYS"} <= {
        word for problem in info.value.problems for word in problem.replace(":", " ").split()
    }


def test_the_server_builds_its_client_with_the_egress_settings(tmp_path, caplog) -> None:
    files = make_tls_files(tmp_path)
    caplog.set_level("INFO", logger="token_server")
    app = create_app(
        {**PRODUCTION_AUTH, "COMETCHAT_PROXY": "http://u:pw-SECRET-3@proxy.corp:3128", "COMETCHAT_CA_BUNDLE": files.ca}
    )
    session = app.extensions[routes.CLIENT].transport.session
    assert session.proxies["https"] == "http://u:pw-SECRET-3@proxy.corp:3128" and session.verify == files.ca
    assert session.trust_env is False
    ready = [r.getMessage() for r in caplog.records if "token server ready" in r.getMessage()]
    assert ready and "via proxy http://u:***@proxy.corp:3128" in ready[0] and files.ca in ready[0]
    assert "pw-SECRET-3" not in caplog.text


# ---- the process settings ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"])
@pytest.mark.parametrize("value", ["abc", "8000x", "1.5", "-1", "0", "１２", "99999999"])
def test_process_numbers_are_checked_at_start(name, value) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a whole number"):
        load_settings({**PRODUCTION_AUTH, name: value})


def test_valid_process_numbers_are_kept() -> None:
    settings = load_settings({**PRODUCTION_AUTH, "PORT": "8123", "WEB_CONCURRENCY": " 3 ", "GUNICORN_THREADS": "64"})
    assert (settings.port, settings.web_concurrency, settings.gunicorn_threads) == (8123, 3, 64)
    unset = load_settings(PRODUCTION_AUTH)
    assert (unset.port, unset.web_concurrency, unset.gunicorn_threads) == (None, None, None)


def test_the_emulator_serves_tls_only_with_both_files(tmp_path) -> None:
    from cometchat.emulator.__main__ import parse_args

    files = make_tls_files(tmp_path)
    assert parse_args(["--certfile", files.cert, "--keyfile", files.key]).certfile == files.cert
    for argv in (["--certfile", files.cert], ["--certfile", files.cert, "--keyfile", str(tmp_path / "missing.pem")]):
        with pytest.raises(SystemExit):
            parse_args(argv)
