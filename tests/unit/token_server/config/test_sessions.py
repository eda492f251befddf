"""SESSION_STORE_URI, SESSION_STORE_KEY and TOKEN_MAX_AGE: defaults and refusals."""

from __future__ import annotations

import pytest

from tests.helpers import app_env
from token_server.config import ConfigError, load_settings
from token_server.config.sessions import DEFAULT_SESSION_SQLITE

REAL = {
    "COMETCHAT_APP_ID": "abc123",
    "COMETCHAT_REGION": "us",
    "COMETCHAT_API_KEY": "rest-key-0123456789",
    "TOKEN_SERVER_API_KEYS": "service-key-0123456789abcdef",
}


@pytest.mark.parametrize(
    ("value", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("3600s", 3600), ("90", 90)]
)
def test_token_max_age_takes_seconds_or_a_duration(value, seconds) -> None:
    assert load_settings(app_env(TOKEN_MAX_AGE=value)).token_max_age == seconds


def test_token_max_age_unset_is_no_limit() -> None:
    assert load_settings(app_env()).token_max_age is None


@pytest.mark.parametrize("value", ["soon", "0", "-5", "1.5d", "30 days", "d"])
def test_a_bad_token_max_age_is_refused_at_start(value) -> None:
    with pytest.raises(ConfigError, match="TOKEN_MAX_AGE"):
        load_settings(app_env(TOKEN_MAX_AGE=value))


def test_the_embedded_emulator_keeps_device_tokens_in_memory() -> None:
    assert load_settings(app_env()).session_store_uri == "memory://"
    assert load_settings({}, mode="embedded").session_store_uri == "memory://"


def test_real_credentials_default_to_the_rate_limit_redis_else_a_sqlite_file() -> None:
    assert load_settings(REAL).session_store_uri == DEFAULT_SESSION_SQLITE
    shared = {**REAL, "RATELIMIT_STORAGE_URI": "redis://10.0.0.5:6379/1"}
    assert load_settings(shared).session_store_uri == "redis://10.0.0.5:6379/1"
    own = {**shared, "SESSION_STORE_URI": "sqlite:////var/lib/tokens.db"}
    assert load_settings(own).session_store_uri == "sqlite:////var/lib/tokens.db"


def test_the_rest_key_only_opens_and_the_store_key_is_a_secret() -> None:
    # A REST-key rotation must not change the sealing key: the REST key only opens older records.
    assert load_settings(REAL).session_store_keys == ()
    assert load_settings(REAL).session_store_opening_keys == ("rest-key-0123456789",)
    key = "k" * 40
    settings = load_settings({**REAL, "SESSION_STORE_KEY": f"{key}, {'o' * 40}"})
    assert settings.session_store_keys == (key, "o" * 40) and key in settings.secrets
    assert key not in repr(settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SESSION_STORE_URI": "postgres://db/x"}, "SESSION_STORE_URI"),
        ({"SESSION_STORE_URI": "sqlite:///"}, "SESSION_STORE_URI"),
        ({"SESSION_STORE_KEY": "too-short"}, "SESSION_STORE_KEY"),
    ],
)
def test_a_bad_store_setting_is_refused_at_start(env, named) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings({**REAL, **env})


def test_the_embedded_emulator_without_a_key_seals_with_a_key_of_its_own_process() -> None:
    # The emulator's tokens die with its process: nothing to derive a lasting key from, none needed.
    assert load_settings(app_env(SESSION_STORE_URI="sqlite:///x.db")).session_store_keys == ()
    assert load_settings(app_env(SESSION_STORE_URI="sqlite:///x.db", SESSION_STORE_KEY="s" * 32)).session_store_keys
