"""Who may mint a token for whom: service keys, end-user JWTs, dev mode, rate limits, CORS."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import token_server.auth
from token_server import create_app

from .helpers import JWT_SECRET, ROTATED_KEY, SERVICE_KEY, app_env, as_user, bearer, service, user_jwt

MINT = "/api/cometchat/token/cometchat-uid-1"


# ---- service keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {SERVICE_KEY}"},
        bearer("not-a-known-key-000000"),
        bearer(SERVICE_KEY + "x"),
        bearer(SERVICE_KEY[:-1]),
    ],
)
def test_missing_or_bad_credentials_are_401_without_upstream_call(http, upstream, headers) -> None:
    before = upstream.requests
    answer = http.post(MINT, headers=headers)
    assert answer.status_code == 401 and answer.json["error"]["code"].startswith("ERR_")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert upstream.requests == before


def test_401_comes_before_input_validation(http) -> None:
    assert http.post("/api/cometchat/token/bad%20uid").status_code == 401


def test_both_rotated_keys_work_for_any_uid(http) -> None:
    assert http.post(MINT, headers=bearer(SERVICE_KEY)).status_code == 200
    assert http.post("/api/cometchat/token/someone-else", headers=bearer(ROTATED_KEY)).status_code == 200


def test_service_keys_are_compared_in_constant_time(http, monkeypatch) -> None:
    compared = []
    real = token_server.auth.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(token_server.auth.hmac, "compare_digest", spy)
    assert http.post(MINT, headers=bearer(SERVICE_KEY)).status_code == 200
    # Every configured key is compared, even after the first one matched.
    assert len(compared) == 2 and {b for _, b in compared} == {SERVICE_KEY.encode(), ROTATED_KEY.encode()}


# ---- end-user JWTs ---------------------------------------------------------------------


def test_user_may_mint_read_and_revoke_its_own_uid(http) -> None:
    headers = as_user("CometChat-UID-1")  # compared lowercased
    token = http.post(MINT, headers=headers)
    assert token.status_code == 200
    assert http.get("/api/cometchat/users/cometchat-uid-1", headers=headers).status_code == 200
    revoke = http.post(MINT + "/revoke", json={"authToken": token.json["authToken"]}, headers=headers)
    assert revoke.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/cometchat/token/cometchat-uid-2", None),
        ("get", "/api/cometchat/users/cometchat-uid-2", None),
        ("post", "/api/cometchat/token/cometchat-uid-2/revoke", {"all": True}),
        ("post", "/api/cometchat/users", {"uid": "someone-new", "name": "X"}),
    ],
)
def test_user_acting_on_another_uid_is_403_without_upstream_call(http, upstream, method, path, body) -> None:
    before = upstream.requests
    answer = getattr(http, method)(path, json=body, headers=as_user("cometchat-uid-1"))
    assert answer.status_code == 403 and answer.json["error"]["code"] == "ERR_FORBIDDEN"
    assert upstream.requests == before


def test_user_may_sign_itself_up_but_not_choose_its_role(http) -> None:
    headers = as_user("fresh-user")
    assert (
        http.post(
            "/api/cometchat/users", json={"uid": "fresh-user", "name": "F", "role": "admin"}, headers=headers
        ).status_code
        == 403
    )
    created = http.post("/api/cometchat/users", json={"uid": "fresh-user", "name": "F"}, headers=headers)
    assert created.status_code == 201


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (lambda: user_jwt("cometchat-uid-1", exp_in=-120), "ERR_TOKEN_EXPIRED"),
        (lambda: user_jwt("cometchat-uid-1", secret="another-secret-that-is-long-enough-000"), "ERR_INVALID_TOKEN"),
        (lambda: user_jwt("cometchat-uid-1", exp=None), "ERR_INVALID_TOKEN"),
        (
            lambda: jwt.encode({"sub": "cometchat-uid-1", "exp": 9999999999}, None, algorithm="none"),
            "ERR_INVALID_TOKEN",
        ),
        (lambda: user_jwt("cometchat-uid-1", secret=JWT_SECRET * 2, algorithm="HS512"), "ERR_INVALID_TOKEN"),
        (lambda: user_jwt("not a uid!"), "ERR_INVALID_TOKEN"),
        (lambda: user_jwt(None), "ERR_INVALID_TOKEN"),
        (lambda: "eyJhbGciOiJIUzI1NiJ9.garbage.garbage", "ERR_INVALID_TOKEN"),
    ],
    ids=["expired", "wrong-signature", "no-exp", "alg-none", "alg-not-allowed", "bad-uid", "no-sub", "malformed"],
)
def test_bad_jwts_are_401(http, upstream, token, code) -> None:
    before = upstream.requests
    answer = http.post(MINT, headers=bearer(token()))
    assert answer.status_code == 401 and answer.json["error"]["code"] == code
    assert upstream.requests == before


def test_clock_skew_leeway(http) -> None:
    assert http.post(MINT, headers=as_user("cometchat-uid-1", exp_in=-10)).status_code == 200


def test_audience_issuer_and_uid_claim() -> None:
    app = create_app(
        app_env(AUTH_JWT_AUDIENCE="chat-app", AUTH_JWT_ISSUER="https://id.example.com", AUTH_JWT_UID_CLAIM="chat_uid")
    )
    http = app.test_client()
    good = {"sub": "ignored", "chat_uid": "cometchat-uid-1", "aud": "chat-app", "iss": "https://id.example.com"}
    assert http.post(MINT, headers=as_user(**good, uid=None)).status_code == 200
    for wrong in ({"aud": "other-app"}, {"iss": "https://evil.example.com"}, {"aud": None}, {"chat_uid": None}):
        answer = http.post(MINT, headers=as_user(**{**good, **wrong}, uid=None))
        assert answer.status_code == 401, wrong


# ---- JWKS ------------------------------------------------------------------------------


class JwksServer:
    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def publish(self, private_key, kid: str, alg: str) -> None:
        algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
        jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
        self.keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})


@pytest.fixture
def jwks():
    server = JwksServer()
    yield server
    server.server.shutdown()


def sign(private_key, kid: str, alg: str, uid: str = "cometchat-uid-1") -> str:
    return jwt.encode({"sub": uid, "exp": int(time.time()) + 300}, private_key, algorithm=alg, headers={"kid": kid})


def test_jwks_rs256_and_es256_with_key_rotation(jwks) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks.publish(rsa_key, "rsa-1", "RS256")
    app = create_app(app_env(AUTH_JWT_SECRET=None, AUTH_JWKS_URL=jwks.url))
    http = app.test_client()
    assert http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200
    assert http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200
    assert jwks.fetches == 1  # cached

    # The provider rotates in a new key: an unknown kid triggers one refresh.
    jwks.publish(ec_key, "ec-2", "ES256")
    app.extensions["token_server.authenticator"]._jwks._min_refresh = 0  # no wait between refreshes
    assert http.post(MINT, headers=bearer(sign(ec_key, "ec-2", "ES256"))).status_code == 200
    assert jwks.fetches == 2

    # An HS256 token signed with the public key as a secret (key confusion) is refused.
    forged = jwt.encode(
        {"sub": "cometchat-uid-1", "exp": 9999999999}, "x" * 40, algorithm="HS256", headers={"kid": "rsa-1"}
    )
    assert http.post(MINT, headers=bearer(forged)).status_code == 401
    unknown = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert http.post(MINT, headers=bearer(sign(unknown, "nope", "RS256"))).status_code == 401


def test_jwks_unknown_kids_do_not_refetch_every_time(jwks) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.publish(rsa_key, "rsa-1", "RS256")
    http = create_app(app_env(AUTH_JWT_SECRET=None, AUTH_JWKS_URL=jwks.url)).test_client()
    for n in range(5):
        assert http.post(MINT, headers=bearer(sign(rsa_key, f"random-{n}", "RS256"))).status_code == 401
    assert jwks.fetches == 1


# ---- dev mode --------------------------------------------------------------------------


def test_dev_mode_allows_unauthenticated_calls_and_warns(caplog) -> None:
    app = create_app(app_env(TOKEN_SERVER_API_KEYS=None, AUTH_JWT_SECRET=None, TOKEN_SERVER_DEV="1"))
    http = app.test_client()
    assert http.post("/api/cometchat/token/anyone").status_code == 200
    assert any("DEV MODE" in r.getMessage() for r in caplog.records)


def test_dev_mode_is_never_on_by_default_in_production() -> None:
    from token_server.config import ConfigError

    with pytest.raises(ConfigError) as info:
        create_app({"COMETCHAT_EMULATOR": "1"})
    assert "TOKEN_SERVER_API_KEYS" in str(info.value) and "TOKEN_SERVER_DEV=1" in str(info.value)


# ---- rate limits -----------------------------------------------------------------------


def test_per_user_limit_answers_429_json_with_retry_after() -> None:
    http = create_app(app_env(RATE_LIMIT_PER_USER="2 per minute")).test_client()
    headers = as_user("cometchat-uid-1")
    assert [http.post(MINT, headers=headers).status_code for _ in range(2)] == [200, 200]
    limited = http.post(MINT, headers=headers)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "ERR_TOO_MANY_REQUESTS"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another user is not affected, nor is a trusted backend.
    assert http.post("/api/cometchat/token/cometchat-uid-2", headers=as_user("cometchat-uid-2")).status_code == 200
    assert http.post(MINT, headers=service()).status_code == 200


def test_per_address_limit_and_trusted_proxies() -> None:
    http = create_app(app_env(RATE_LIMIT_PER_ADDRESS="2 per minute", TRUSTED_PROXIES="1")).test_client()
    for n in range(2):
        headers = {**as_user(f"user-{n}"), "X-Forwarded-For": "203.0.113.7"}
        assert http.post(f"/api/cometchat/token/user-{n}", headers=headers).status_code == 200
    blocked = http.post("/api/cometchat/token/user-9", headers={**as_user("user-9"), "X-Forwarded-For": "203.0.113.7"})
    assert blocked.status_code == 429
    other = http.post("/api/cometchat/token/user-9", headers={**as_user("user-9"), "X-Forwarded-For": "203.0.113.8"})
    assert other.status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    http = create_app(app_env(RATE_LIMIT_PER_ADDRESS="1 per minute")).test_client()
    assert (
        http.post("/api/cometchat/token/u1", headers={**as_user("u1"), "X-Forwarded-For": "1.1.1.1"}).status_code == 200
    )
    spoofed = http.post("/api/cometchat/token/u2", headers={**as_user("u2"), "X-Forwarded-For": "2.2.2.2"})
    assert spoofed.status_code == 429


# ---- CORS ------------------------------------------------------------------------------


def test_cors_is_off_by_default(http) -> None:
    answer = http.post(MINT, headers={**service(), "Origin": "https://app.example.com"})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_cors_allow_list_and_preflight() -> None:
    http = create_app(app_env(CORS_ORIGINS="https://app.example.com,https://admin.example.com")).test_client()
    allowed = http.post(MINT, headers={**service(), "Origin": "https://app.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    assert "Origin" in allowed.headers.get("Vary", "")
    refused = http.post(MINT, headers={**service(), "Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in refused.headers
    preflight = http.options(
        MINT,
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    bad_preflight = http.options(
        MINT, headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in bad_preflight.headers


def test_cors_wildcard_is_refused_at_start() -> None:
    from token_server.config import ConfigError

    with pytest.raises(ConfigError):
        create_app(app_env(CORS_ORIGINS="*"))
