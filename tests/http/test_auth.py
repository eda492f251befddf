"""Who may mint a token for whom: service keys, end-user JWTs, dev mode, rate limits, CORS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask import request as flask_request

import token_server.auth
from cometchat import to_cometchat_uid
from tests.helpers import JWT_SECRET, ROTATED_KEY, SERVICE_KEY, app_env, as_user, bearer, http_client, service, user_jwt
from tests.jwks import AUDIENCE, JwksServer, sign
from token_server import create_app
from token_server.auth import Authenticator, Caller
from token_server.config import ConfigError, Settings, load_settings
from token_server.errors import ApiError
from token_server.jwks import MAX_JWKS_BYTES, JwksKeys, JwksUnavailable, SigningKey

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
        (lambda: user_jwt("not a uid!"), "ERR_INVALID_TOKEN"),
        (lambda: user_jwt(None), "ERR_INVALID_TOKEN"),
        (lambda: "eyJhbGciOiJIUzI1NiJ9.garbage.garbage", "ERR_INVALID_TOKEN"),
    ],
    ids=["expired", "wrong-signature", "no-exp", "alg-none", "bad-uid", "no-sub", "malformed"],
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
        app_env(
            AUTH_JWT_AUDIENCE="chat-app",
            AUTH_JWT_ISSUER="https://id.example.com",
            AUTH_JWT_UID_CLAIM="chat_uid",
            AUTH_JWT_UID_MAPPING_ANY_CLAIM="1",  # the provider assigns chat_uid
        )
    )
    http = app.test_client()
    good = {"sub": "ignored", "chat_uid": "cometchat-uid-1", "aud": "chat-app", "iss": "https://id.example.com"}
    assert http.post(MINT, headers=as_user(**good, uid=None)).status_code == 200
    for wrong in ({"aud": "other-app"}, {"iss": "https://evil.example.com"}, {"aud": None}, {"chat_uid": None}):
        answer = http.post(MINT, headers=as_user(**{**good, **wrong}, uid=None))
        assert answer.status_code == 401, wrong


def test_without_a_configured_audience_a_token_naming_one_is_refused(http) -> None:
    """A token issued for another application (it says so in `aud`) is not ours to honour."""
    assert http.post(MINT, headers=as_user("cometchat-uid-1")).status_code == 200
    for aud in ("some-other-app", ["some-other-app", "chat-app"]):
        answer = http.post(MINT, headers=as_user("cometchat-uid-1", aud=aud))
        assert answer.status_code == 401 and answer.json["error"]["code"] == "ERR_INVALID_TOKEN", aud


# ---- JWKS ------------------------------------------------------------------------------

# Generous room above the fetch deadlines used below, for a busy 2-core machine.
SLACK = 4.0


@pytest.fixture
def jwks():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwks_app(url: str, **env: str):
    app = create_app(
        app_env(
            AUTH_JWT_SECRET=None,
            AUTH_JWKS_URL=url,
            AUTH_JWT_AUDIENCE=AUDIENCE,
            RATE_LIMIT_PER_USER="100000 per minute",
            RATE_LIMIT_PER_ADDRESS="100000 per minute",
            RATE_LIMIT_AUTH_FAILURES="100000 per minute",  # these floods of 401s test JWKS fetching
            **env,
        )
    )
    return app, app.extensions["token_server.authenticator"]._jwks


def auth_errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "token_server.auth" and r.levelno >= logging.ERROR]


def test_jwks_rs256_and_es256_with_key_rotation(jwks, rsa_key) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks.publish(rsa_key, "rsa-1", "RS256")
    app, keys = jwks_app(jwks.url)
    http = app.test_client()
    assert http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200
    assert http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200
    assert jwks.fetches == 1  # cached

    # The provider rotates in a new key: the first token naming it waits for one refresh.
    jwks.publish(ec_key, "ec-2", "ES256")
    keys._min_refresh = 0
    assert http.post(MINT, headers=bearer(sign(ec_key, "ec-2", "ES256"))).status_code == 200
    assert jwks.fetches == 2
    unknown = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert http.post(MINT, headers=bearer(sign(unknown, "nope", "RS256"))).status_code == 401


def test_jwks_token_without_kid_uses_the_only_key(jwks, rsa_key) -> None:
    jwks.publish(rsa_key, "rsa-1", "RS256")
    http = jwks_app(jwks.url)[0].test_client()
    assert http.post(MINT, headers=bearer(sign(rsa_key, None, "RS256"))).status_code == 200


def test_jwks_unknown_kids_do_not_refetch_every_time(jwks, rsa_key) -> None:
    jwks.publish(rsa_key, "rsa-1", "RS256")
    http = jwks_app(jwks.url)[0].test_client()
    for n in range(5):
        assert http.post(MINT, headers=bearer(sign(rsa_key, f"random-{n}", "RS256"))).status_code == 401
    assert jwks.fetches == 1


def test_valid_callers_are_answered_at_once_while_unknown_kids_meet_a_trickling_jwks(jwks, rsa_key) -> None:
    jwks.publish(rsa_key, "rsa-1", "RS256")
    app, keys = jwks_app(jwks.url)
    assert app.test_client().post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200

    # From now on the provider trickles, every unknown kid may ask for a refetch, and a fetch
    # may take 30 s: a valid caller must not notice any of it.
    jwks.mode, keys._min_refresh, keys._deadline = "trickle", 0, 30.0
    flooding, statuses = threading.Event(), []

    def flood(n: int) -> None:
        http = app.test_client()
        while not flooding.is_set():
            token = sign(rsa_key, f"unknown-{n}-{len(statuses)}", "RS256")
            statuses.append(http.post(MINT, headers=bearer(token)).status_code)

    flooders = [threading.Thread(target=flood, args=(n,), daemon=True) for n in range(3)]
    for thread in flooders:
        thread.start()
    try:
        assert jwks.trickling.wait(10)
        valid = app.test_client()
        for _ in range(5):
            started = time.monotonic()
            assert valid.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200
            assert time.monotonic() - started < SLACK
        assert keys._fetching() and jwks.fetches == 2  # one fetch at a time, still trickling
    finally:
        flooding.set()
        jwks.stop.set()
        for thread in flooders:
            thread.join(10)
    assert statuses and set(statuses) == {401}


def test_a_fetch_is_cut_off_at_its_total_deadline_however_the_body_trickles(jwks) -> None:
    jwks.mode = "trickle"
    keys = JwksKeys(jwks.url, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(JwksUnavailable):
        keys.key_for("any")
    assert time.monotonic() - started < 1.0 + SLACK
    # The fetch ended on its own clock while the server is still trickling.
    keys._fetcher.join(1.0 + SLACK)
    assert not keys._fetcher.is_alive() and not jwks.stop.is_set()


def test_a_caller_never_waits_past_the_deadline_even_on_endless_headers(jwks) -> None:
    jwks.mode = "trickle-headers"
    keys = JwksKeys(jwks.url, deadline=1.0)
    outcome: list = []

    def first_caller() -> None:
        try:
            keys.key_for("any")
        except JwksUnavailable as exc:
            outcome.append(exc)

    caller = threading.Thread(target=first_caller, daemon=True)
    caller.start()
    caller.join(1.0 + SLACK)
    assert not caller.is_alive() and len(outcome) == 1
    assert jwks.trickling.is_set()


def test_a_failed_fetch_is_throttled_like_a_successful_one(jwks, rsa_key, caplog) -> None:
    jwks.status = 500
    app, keys = jwks_app(jwks.url)
    http = app.test_client()
    for _ in range(4):
        answer = http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256")))
        assert answer.status_code == 503 and answer.json["error"]["code"] == "ERR_AUTH_UNAVAILABLE"
        assert 1 <= int(answer.headers["Retry-After"]) <= 30
    assert jwks.fetches == 1
    # This fetch's failure, logged once; an earlier test's trickling fetch may still log its own
    # timeout from its background thread while this test runs.
    assert len([r for r in auth_errors(caplog) if "HTTP 500" in r.getMessage()]) == 1


def test_an_oversized_jwks_is_refused_however_it_is_framed(jwks, rsa_key) -> None:
    jwks.publish(rsa_key, "rsa-1", "RS256")
    token = sign(rsa_key, "rsa-1", "RS256")
    for content_length in (True, False):
        jwks.content_length = content_length
        jwks.body = json.dumps({"keys": jwks.keys, "padding": "x" * MAX_JWKS_BYTES}).encode()
        assert jwks_app(jwks.url)[0].test_client().post(MINT, headers=bearer(token)).status_code == 503
    # Just under the cap is fine.
    jwks.body = json.dumps({"keys": jwks.keys, "padding": "x" * (MAX_JWKS_BYTES - 2000)}).encode()
    assert jwks_app(jwks.url)[0].test_client().post(MINT, headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"keys"',
        b'{"keys": 5}',
        b'{"keys": {"kid": "rsa-1"}}',
        b'{"keys": ["junk", 5, null, {"kty": "RSA"}, {"kty": "EC", "crv": "P-256", "x": 1}]}',
        b'{"keys": [{"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC13aXRoLWV2ZXJ5b25l", "kid": "rsa-1"}]}',
        b"not json",
        b"[" * 100_00 + b"]" * 100_00,
    ],
    ids=["list", "string", "keys-number", "keys-object", "junk-keys", "symmetric-key", "not-json", "deep"],
)
def test_a_document_that_is_not_a_key_set_is_a_failed_fetch(jwks, rsa_key, caplog, body) -> None:
    jwks.body = body
    http = jwks_app(jwks.url)[0].test_client()
    answer = http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256")))
    assert answer.status_code == 503 and answer.json["error"]["code"] == "ERR_AUTH_UNAVAILABLE"
    [logged] = auth_errors(caplog)  # once, with the reason, without a traceback
    assert logged.exc_info is None and "AUTH_JWKS_URL" in logged.getMessage()


def test_junk_beside_a_good_key_is_skipped(jwks, rsa_key) -> None:
    jwks.publish(rsa_key, "rsa-1", "RS256")
    jwks.body = json.dumps({"keys": ["junk", {"kty": "RSA", "kid": "x"}, *jwks.keys]}).encode()
    http = jwks_app(jwks.url)[0].test_client()
    assert http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200


def test_an_es256_token_naming_an_rsa_key_is_401_without_a_traceback(jwks, rsa_key, caplog) -> None:
    jwks.publish(rsa_key, "rsa-1", None)  # no declared alg: only the key's type tells
    http = jwks_app(jwks.url)[0].test_client()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    answer = http.post(MINT, headers=bearer(sign(ec_key, "rsa-1", "ES256")))
    assert answer.status_code == 401 and answer.json["error"]["code"] == "ERR_INVALID_TOKEN"
    assert not [r for r in caplog.records if r.exc_info]


def test_a_kid_that_is_not_a_string_is_401(jwks, rsa_key) -> None:
    jwks.publish(rsa_key, "rsa-1", "RS256")
    http = jwks_app(jwks.url)[0].test_client()
    token = sign(rsa_key, "rsa-1", "RS256")
    _, claims, signature = token.split(".")
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": ["rsa-1"]}).encode())
    assert http.post(MINT, headers=bearer(f"{header}.{claims}.{signature}")).status_code == 401


# ---- the algorithm allow-list ------------------------------------------------------------


def test_hs256_signed_with_the_public_key_pem_is_refused(jwks, rsa_key) -> None:
    jwks.publish(rsa_key, "rsa-1", "RS256")
    http = jwks_app(jwks.url)[0].test_client()
    assert http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200
    # The classic key confusion: the published public key, as PEM, used as an HMAC secret.
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    claims = _b64(json.dumps({"sub": "cometchat-uid-1", "aud": AUDIENCE, "exp": int(time.time()) + 300}).encode())
    signature = _b64(hmac.new(pem, f"{header}.{claims}".encode(), hashlib.sha256).digest())
    answer = http.post(MINT, headers=bearer(f"{header}.{claims}.{signature}"))
    assert answer.status_code == 401 and answer.json["error"]["code"] == "ERR_INVALID_TOKEN"


def test_a_refused_algorithm_costs_no_key_fetch(jwks, rsa_key) -> None:
    # The header check answers before any key lookup: a foreign algorithm never makes the
    # server call the identity provider.
    jwks.publish(rsa_key, "rsa-1", "RS256")
    http = jwks_app(jwks.url)[0].test_client()
    token = jwt.encode({"sub": "a", "exp": int(time.time()) + 300}, "s" * 40, algorithm="HS256", headers={"kid": "k"})
    answer = http.post(MINT, headers=bearer(token))
    assert answer.status_code == 401 and "algorithm is not accepted" in answer.json["error"]["message"]
    assert jwks.fetches == 0


def test_a_token_verified_under_another_allowed_alg_than_its_key_declares_is_refused(jwks, rsa_key) -> None:
    # RS384 is allowed, and the key is the right RSA key, but the provider says it signs RS256.
    jwks.publish(rsa_key, "rsa-1", "RS256")
    http = jwks_app(jwks.url, AUTH_JWT_ALGORITHMS="RS256,RS384")[0].test_client()
    assert http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS256"))).status_code == 200
    assert http.post(MINT, headers=bearer(sign(rsa_key, "rsa-1", "RS384"))).status_code == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_jwt_decode_holds_the_allow_list_even_if_the_header_check_is_fooled(http, monkeypatch) -> None:
    # Defence in depth: make the header check see an allowed algorithm; decode must still
    # refuse the HS512 token, signed with the right secret.
    monkeypatch.setattr(token_server.auth.jwt, "get_unverified_header", lambda token: {"alg": "HS256"})
    answer = http.post(MINT, headers=as_user("cometchat-uid-1", algorithm="HS512"))
    assert answer.status_code == 401 and "InvalidAlgorithmError" in answer.json["error"]["message"]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_hs512_is_not_accepted_by_default_even_with_the_right_secret(http) -> None:
    assert http.post(MINT, headers=as_user("cometchat-uid-1", algorithm="HS512")).status_code == 401
    assert http.post(MINT, headers=as_user("cometchat-uid-1", algorithm="HS256")).status_code == 200


# ---- the uid claim -----------------------------------------------------------------------


def test_strict_mapping_refuses_an_id_that_is_not_a_uid_and_names_the_fix(http) -> None:
    answer = http.post(MINT, headers=as_user("auth0|5f7c8ec7c33c6c004bbafe82"))
    assert answer.status_code == 401 and "AUTH_JWT_UID_MAPPING" in answer.json["error"]["message"]


def test_cometchat_mapping_maps_the_claim() -> None:
    http = http_client(AUTH_JWT_UID_MAPPING="cometchat")
    subject = "auth0|5f7c8ec7c33c6c004bbafe82"
    uid = to_cometchat_uid(subject)
    assert uid == "auth0_5f7c8ec7c33c6c004bbafe82_1jlak5h"
    answer = http.post("/api/cometchat/token", headers=as_user(subject))
    assert answer.status_code == 200 and answer.json["uid"] == uid
    assert http.post(f"/api/cometchat/token/{uid}", headers=as_user(subject)).status_code == 200
    # The mapped uid is the user's own, not the raw subject's cleaned form.
    assert http.post("/api/cometchat/token/auth0_5f7c8ec7c33c6c004bbafe82", headers=as_user(subject)).status_code == 403
    for bad in ("", 5):
        assert http.post("/api/cometchat/token", headers=as_user(bad)).status_code == 401


def test_uid_mapping_setting_is_checked_at_start() -> None:
    assert load_settings(app_env()).jwt_uid_mapping == "strict"
    assert load_settings(app_env(AUTH_JWT_UID_MAPPING="CometChat")).jwt_uid_mapping == "cometchat"
    with pytest.raises(ConfigError, match="AUTH_JWT_UID_MAPPING"):
        load_settings(app_env(AUTH_JWT_UID_MAPPING="lenient"))


# ---- dev mode --------------------------------------------------------------------------


def test_dev_mode_allows_unauthenticated_calls_and_warns(caplog) -> None:
    app = create_app(app_env(TOKEN_SERVER_API_KEYS=None, AUTH_JWT_SECRET=None, TOKEN_SERVER_DEV="1"))
    http = app.test_client()
    assert http.post("/api/cometchat/token/anyone").status_code == 200
    assert any("DEV MODE" in r.getMessage() for r in caplog.records)


def _identify(settings: Settings, headers: dict[str, str]):
    with Flask(__name__).test_request_context("/", headers=headers):
        return Authenticator(settings)(flask_request)


@pytest.mark.parametrize(
    "auth",
    [{"service_keys": (SERVICE_KEY,)}, {"jwt_secret": "s" * 40}, {"jwks_url": "http://127.0.0.1:9/jwks"}],
    ids=["service-keys", "jwt-secret", "jwks"],
)
def test_dev_settings_beside_caller_auth_never_trust_an_unauthenticated_caller(auth) -> None:
    # The configuration refuses this combination at start; the authenticator holds on its own.
    settings = Settings(emulator=True, dev=True, **auth)
    for headers in ({}, bearer("not-a-known-key-000000")):
        with pytest.raises(ApiError) as info:
            _identify(settings, headers)
        assert info.value.status == 401


def test_dev_settings_without_caller_auth_trust_everyone() -> None:
    settings = Settings(emulator=True, dev=True)
    assert _identify(settings, {}) == Caller.dev()
    assert _identify(settings, bearer("anything-at-all")) == Caller.dev()
    with pytest.raises(ApiError):
        _identify(Settings(emulator=True, dev=False), {})


def test_dev_mode_is_never_on_by_default_in_production() -> None:
    from token_server.config import ConfigError

    with pytest.raises(ConfigError) as info:
        create_app({"COMETCHAT_EMULATOR": "1"})
    assert "TOKEN_SERVER_API_KEYS" in str(info.value) and "TOKEN_SERVER_DEV=1" in str(info.value)


# ---- rate limits -----------------------------------------------------------------------


def test_per_user_limit_answers_429_json_with_retry_after() -> None:
    http = http_client(RATE_LIMIT_PER_USER="2 per minute")
    headers = as_user("cometchat-uid-1")
    assert [http.post(MINT, headers=headers).status_code for _ in range(2)] == [200, 200]
    limited = http.post(MINT, headers=headers)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "ERR_TOO_MANY_REQUESTS"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another user is not affected, nor is a trusted backend.
    assert http.post("/api/cometchat/token/cometchat-uid-2", headers=as_user("cometchat-uid-2")).status_code == 200
    assert http.post(MINT, headers=service()).status_code == 200


def dev_app(**env: str):
    return create_app(app_env(TOKEN_SERVER_API_KEYS=None, AUTH_JWT_SECRET=None, TOKEN_SERVER_DEV="1", **env))


def test_per_address_limit_and_trusted_proxies() -> None:
    """The per-address limit (callers without a user or service identity: dev mode here) keys
    on the client ProxyFix takes from X-Forwarded-For."""
    http = dev_app(RATE_LIMIT_PER_ADDRESS="2 per minute", TRUSTED_PROXIES="1").test_client()
    for n in range(2):
        assert http.post(f"/api/cometchat/token/user-{n}", headers={"X-Forwarded-For": "127.0.0.7"}).status_code == 200
    blocked = http.post("/api/cometchat/token/user-9", headers={"X-Forwarded-For": "127.0.0.7"})
    assert blocked.status_code == 429
    other = http.post("/api/cometchat/token/user-9", headers={"X-Forwarded-For": "127.0.0.8"})
    assert other.status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    http = dev_app(RATE_LIMIT_PER_ADDRESS="1 per minute").test_client()
    assert http.post("/api/cometchat/token/u1", headers={"X-Forwarded-For": "127.0.0.5"}).status_code == 200
    spoofed = http.post("/api/cometchat/token/u2", headers={"X-Forwarded-For": "127.0.0.6"})
    assert spoofed.status_code == 429


# ---- CORS ------------------------------------------------------------------------------


def test_cors_is_off_by_default(http) -> None:
    answer = http.post(MINT, headers={**service(), "Origin": "https://app.example.com"})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_cors_allow_list_and_preflight() -> None:
    http = http_client(CORS_ORIGINS="https://app.example.com,https://admin.example.com")
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
            "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
        },
    )
    assert preflight.status_code == 204 and preflight.data == b""  # any 2xx passes a preflight
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "x-request-id" in allowed_headers
    bad_preflight = http.options(
        MINT, headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in bad_preflight.headers


def test_cors_wildcard_is_refused_at_start() -> None:
    from token_server.config import ConfigError

    with pytest.raises(ConfigError):
        create_app(app_env(CORS_ORIGINS="*"))


# ---- edges found by mutation testing (scripts/mutation.py) ------------------------------
# These kill the mutants of token_server/auth.py that survived the tests above: the exact
# status, code, message and headers of every refusal, and an audience claim that is ignored when
# no audience is configured.


SECRET = Settings(emulator=True, jwt_secret=JWT_SECRET, jwt_algorithms=("HS256",))


JWKS = Settings(emulator=True, jwks_url="http://127.0.0.1:9/jwks", jwt_algorithms=("RS256", "ES256"))


REALM = 'Bearer realm="cometchat-token-server"'


class FakeKeys:
    """Stands in for JwksKeys: answers key_for without any fetch."""

    def __init__(self, answer: SigningKey | None | JwksUnavailable) -> None:
        self.answer = answer

    def key_for(self, _kid: str | None) -> SigningKey | None:
        if isinstance(self.answer, JwksUnavailable):
            raise self.answer
        return self.answer


def identify(settings: Settings, credential: str, keys: FakeKeys | None = None) -> Caller:
    authenticator = Authenticator(settings)
    if keys is not None:
        authenticator._jwks = keys
    with Flask(__name__).test_request_context("/", headers=bearer(credential)):
        return authenticator(flask_request)


def refusal(settings: Settings, credential: str, keys: FakeKeys | None = None) -> ApiError:
    with pytest.raises(ApiError) as info:
        identify(settings, credential, keys)
    return info.value


def rs256(private_key, uid: str = "alice") -> str:
    return jwt.encode({"sub": uid, "exp": int(time.time()) + 300}, private_key, algorithm="RS256")


def test_401s_say_what_was_wrong_and_carry_the_bearer_challenge() -> None:
    cases = [
        ("abc.def.ghi", "ERR_INVALID_TOKEN", "The bearer token is malformed."),
        (
            user_jwt("alice", algorithm="HS512", secret="s" * 64),
            "ERR_INVALID_TOKEN",
            "The token's algorithm is not accepted.",
        ),
        (user_jwt("alice", exp_in=-3600), "ERR_TOKEN_EXPIRED", "The token has expired."),
        (
            user_jwt("a b"),
            "ERR_INVALID_TOKEN",
            "The token's 'sub' claim is not a valid CometChat uid; set AUTH_JWT_UID_MAPPING=cometchat "
            "to map identity-provider ids onto uids.",
        ),
    ]
    for credential, code, message in cases:
        error = refusal(SECRET, credential)
        assert (error.status, error.code, error.message) == (401, code, message)
        assert error.headers == {"WWW-Authenticate": REALM}


def test_the_cometchat_mapping_names_a_missing_claim() -> None:
    settings = Settings(emulator=True, jwt_secret=JWT_SECRET, jwt_algorithms=("HS256",), jwt_uid_mapping="cometchat")
    error = refusal(settings, user_jwt(""))
    assert (error.status, error.code, error.message) == (
        401,
        "ERR_INVALID_TOKEN",
        "The token's 'sub' claim is missing or empty.",
    )


def test_jwks_refusals_say_what_was_wrong(rsa_key) -> None:
    unknown = refusal(JWKS, rs256(rsa_key), FakeKeys(None))
    assert (unknown.status, unknown.code, unknown.message) == (
        401,
        "ERR_INVALID_TOKEN",
        "The token's signing key is unknown.",
    )
    assert unknown.headers == {"WWW-Authenticate": REALM}
    ec_key = SigningKey(ec.generate_private_key(ec.SECP256R1()).public_key(), None)
    misfit = refusal(JWKS, rs256(rsa_key), FakeKeys(ec_key))
    assert (misfit.status, misfit.code, misfit.message) == (
        401,
        "ERR_INVALID_TOKEN",
        "The token's algorithm does not fit its signing key.",
    )


def test_no_keys_yet_is_a_503_with_a_whole_retry_after(rsa_key) -> None:
    error = refusal(JWKS, rs256(rsa_key), FakeKeys(JwksUnavailable(retry_after=2.1)))
    assert (error.status, error.code, error.message) == (503, "ERR_AUTH_UNAVAILABLE", "Cannot verify tokens right now.")
    assert error.headers == {"Retry-After": "3"}


def test_a_jwks_key_verifies_a_matching_token(rsa_key) -> None:
    key = SigningKey(rsa_key.public_key(), "RS256")
    assert identify(JWKS, rs256(rsa_key), FakeKeys(key)) == Caller.user("alice")


def test_a_token_naming_an_audience_is_refused_when_none_is_configured() -> None:
    # With a shared secret and no AUTH_JWT_AUDIENCE, a token meant for another app (it names
    # an aud) is not ours: PyJWT's default audience check stays on.
    with pytest.raises(ApiError) as info:
        identify(SECRET, user_jwt("alice", aud="some-app"))
    assert (info.value.status, info.value.code) == (401, "ERR_INVALID_TOKEN")
    assert identify(SECRET, user_jwt("alice")) == Caller.user("alice")


def refusal_of(settings: Settings, headers: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as info, Flask(__name__).test_request_context("/", headers=headers):
        Authenticator(settings)(flask_request)
    return info.value


def test_header_refusals_say_what_to_send() -> None:
    keys_only = Settings(emulator=True, service_keys=(SERVICE_KEY,))
    cases = [
        ({}, "ERR_UNAUTHORIZED", "Send Authorization: Bearer <service key or user JWT>."),
        ({"Authorization": "Basic abc"}, "ERR_UNAUTHORIZED", "The Authorization header must be 'Bearer <credential>'."),
        # Shaped like a JWT, but no JWT auth is configured: an unknown credential, not a bad token.
        (bearer("abc.def.ghi"), "ERR_INVALID_CREDENTIALS", "The credential is not valid."),
    ]
    for headers, code, message in cases:
        error = refusal_of(keys_only, headers)
        assert (error.status, error.code, error.message) == (401, code, message)
        assert error.headers == {"WWW-Authenticate": REALM}


def test_spaces_around_the_credential_are_tolerated() -> None:
    keys_only = Settings(emulator=True, service_keys=(SERVICE_KEY,))
    with Flask(__name__).test_request_context("/", headers={"Authorization": f"Bearer  {SERVICE_KEY} "}):
        assert Authenticator(keys_only)(flask_request) == Caller.service()


def test_a_jwt_shaped_credential_is_still_a_dev_caller_without_jwt_auth() -> None:
    dev = Settings(emulator=True, dev=True)
    with Flask(__name__).test_request_context("/", headers=bearer("abc.def.ghi")):
        assert Authenticator(dev)(flask_request) == Caller.dev()


def user_named(app, uid: str):
    return app.extensions["token_server.client"].get_user(uid)


def test_a_jwts_name_and_picture_claims_name_a_new_user_over_the_body(app, http) -> None:
    headers = as_user("claimed-user", name="From The IdP", picture="https://idp.example/p.png")
    answer = http.post("/api/cometchat/token", json={"name": "Self Chosen"}, headers=headers)
    assert answer.status_code == 200
    user = user_named(app, "claimed-user")
    assert (user.name, user.avatar) == ("From The IdP", "https://idp.example/p.png")


def test_a_jwt_without_profile_claims_keeps_the_body_profile(app, http) -> None:
    answer = http.post("/api/cometchat/token", json={"name": "Body Name"}, headers=as_user("plain-user"))
    assert answer.status_code == 200 and user_named(app, "plain-user").name == "Body Name"


def test_profile_claims_cometchat_would_refuse_never_refuse_the_login(app, http) -> None:
    headers = as_user("odd-claims", name=["not", "a", "string"], picture="ftp://idp.example/p.png")
    answer = http.post("/api/cometchat/token", json={"name": "Fallback"}, headers=headers)
    assert answer.status_code == 200
    user = user_named(app, "odd-claims")
    assert (user.name, user.avatar) == ("Fallback", None)


def test_a_returning_user_keeps_its_profile_whatever_the_claims_say(app, http) -> None:
    http.post("/api/cometchat/token", headers=as_user("returning", name="First"))
    again = http.post("/api/cometchat/token", headers=as_user("returning", name="Second"))
    assert again.status_code == 200 and user_named(app, "returning").name == "First"
