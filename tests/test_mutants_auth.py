"""Tests that kill the mutants of token_server/auth.py which survived tests/test_auth.py
(scripts/mutation.py): the exact status, code, message and headers of every refusal, and
an audience claim that is ignored when no audience is configured."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask import request as flask_request

from token_server.auth import Authenticator, Caller
from token_server.config import Settings
from token_server.errors import ApiError
from token_server.jwks import JwksUnavailable, SigningKey

from .helpers import JWT_SECRET, SERVICE_KEY, bearer, user_jwt

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


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


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
