"""Configuration: read once, validated at start, every problem named in one message."""

from __future__ import annotations

import pytest

from token_server.config import ConfigError, load_settings
from token_server.redaction import RedactingFilter, redact

from .helpers import SERVICE_KEY


def test_production_with_nothing_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({})
    message = str(info.value)
    for name in (
        "COMETCHAT_API_KEY",
        "COMETCHAT_APP_ID",
        "COMETCHAT_REGION",
        "TOKEN_SERVER_API_KEYS",
        "AUTH_JWT_SECRET",
        "AUTH_JWKS_URL",
        "COMETCHAT_EMULATOR=1",
        "TOKEN_SERVER_DEV=1",
    ):
        assert name in message


def test_production_with_credentials_and_a_service_key() -> None:
    settings = load_settings(
        {
            "COMETCHAT_APP_ID": "app1",
            "COMETCHAT_REGION": "EU",
            "COMETCHAT_API_KEY": "rest",
            "TOKEN_SERVER_API_KEYS": f" {SERVICE_KEY} , other-key-0123456789 ",
        }
    )
    assert settings.region == "eu" and not settings.emulator and not settings.dev
    assert settings.service_keys == (SERVICE_KEY, "other-key-0123456789")
    assert SERVICE_KEY not in repr(settings) and "rest" not in repr(settings).replace("region", "")


def test_base_url_replaces_app_and_region() -> None:
    settings = load_settings(
        {"COMETCHAT_BASE_URL": "http://127.0.0.1:8787/v3", "COMETCHAT_API_KEY": "k", "TOKEN_SERVER_DEV": "1"}
    )
    assert settings.base_url and settings.dev and settings.dev_reason == "TOKEN_SERVER_DEV=1"


def test_embedded_default_is_emulator_and_dev() -> None:
    settings = load_settings({}, mode="embedded")
    assert settings.emulator and settings.dev and settings.dev_reason == "no caller auth configured"


def test_embedded_with_credentials_but_no_caller_auth_is_dev_on_cometchat() -> None:
    settings = load_settings(
        {"COMETCHAT_APP_ID": "a", "COMETCHAT_REGION": "us", "COMETCHAT_API_KEY": "k"}, mode="embedded"
    )
    assert not settings.emulator and settings.dev


def test_embedded_with_partial_credentials_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"COMETCHAT_APP_ID": "a"}, mode="embedded")
    assert "COMETCHAT_API_KEY" in str(info.value) and "COMETCHAT_REGION" in str(info.value)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"COMETCHAT_EMULATOR": "0", "COMETCHAT_APP_ID": "a", "COMETCHAT_API_KEY": "k", "COMETCHAT_REGION": "mars"},
            "COMETCHAT_REGION must be one of",
        ),
        ({"TOKEN_SERVER_API_KEYS": "short"}, "at least 16 characters"),
        ({"AUTH_JWT_SECRET": "too-short"}, "at least 32 characters"),
        ({"AUTH_JWT_SECRET": "x" * 40, "AUTH_JWKS_URL": "https://id.example.com/jwks"}, "not both"),
        ({"AUTH_JWT_SECRET": "x" * 40, "AUTH_JWT_ALGORITHMS": "none"}, "not allowed: none"),
        ({"AUTH_JWKS_URL": "https://id/jwks", "AUTH_JWT_ALGORITHMS": "HS256"}, "never verify HS"),
        ({"CORS_ORIGINS": "*"}, "no wildcards"),
        ({"CORS_ORIGINS": "https://*.example.com"}, "CORS_ORIGINS"),
        ({"TRUSTED_PROXIES": "lots"}, "TRUSTED_PROXIES"),
        ({"COMETCHAT_EMULATOR": "maybe"}, "COMETCHAT_EMULATOR must be 1 or 0"),
        ({"COMETCHAT_DEADLINE": "60"}, "below gunicorn"),
        ({"COMETCHAT_READ_TIMEOUT": "soon"}, "COMETCHAT_READ_TIMEOUT must be a number"),
    ],
)
def test_bad_values_are_named(env, fragment) -> None:
    base = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}
    with pytest.raises(ConfigError) as info:
        load_settings({**base, **env})
    assert fragment in str(info.value)


def test_redaction_masks_secrets_and_token_shapes() -> None:
    token = "cometchat-uid-1_1700000000" + "ab12" * 8
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    text = f"key={SERVICE_KEY} Authorization: Bearer {jwt_like} token {token} apiKey: 'rest-secret'"
    cleaned = redact(text, [SERVICE_KEY])
    for secret in (SERVICE_KEY, jwt_like, token, "rest-secret"):
        assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_redacting_filter_rewrites_arguments_and_tracebacks() -> None:
    import logging

    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "calling with %s", (SERVICE_KEY,), None)
    try:
        raise RuntimeError(f"boom {SERVICE_KEY}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter([SERVICE_KEY]).filter(record)
    formatted = logging.Formatter().format(record)
    assert SERVICE_KEY not in formatted and "boom" in formatted
