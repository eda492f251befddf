"""Configuration: read once, validated at start, every problem named in one message."""

from __future__ import annotations

import logging
import os
import runpy
import sys

import pytest
from dotenv import dotenv_values

from cometchat import to_cometchat_uid
from tests.helpers import JWT_SECRET, SERVICE_KEY
from tests.procs import ROOT
from token_server.config import (
    DEADLINE_HEADROOM,
    WORKER_TIMEOUT,
    ConfigError,
    load_dotenv_file,
    load_settings,
)
from token_server.ops.redaction import RedactingFilter, escape_controls, redact

JWKS = "https://id.example.com/.well-known/jwks.json"


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
        ({"COMETCHAT_DEADLINE": str(WORKER_TIMEOUT - DEADLINE_HEADROOM)}, "COMETCHAT_DEADLINE must stay below"),
        ({"COMETCHAT_READ_TIMEOUT": "soon"}, "COMETCHAT_READ_TIMEOUT must be a number"),
    ],
)
def test_bad_values_are_named(env, fragment) -> None:
    base = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}
    with pytest.raises(ConfigError) as info:
        load_settings({**base, **env})
    assert fragment in str(info.value)


def test_the_deadline_bound_comes_from_the_worker_timeout() -> None:
    just_below = str(WORKER_TIMEOUT - DEADLINE_HEADROOM - 0.5)
    settings = load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", "COMETCHAT_DEADLINE": just_below})
    assert settings.upstream_deadline == float(just_below)


# ---- .env: the working directory only ------------------------------------------------


@pytest.fixture
def dotenv_tree(tmp_path, monkeypatch):
    """parent/.env says TOKEN_SERVER_DEV=1; the working directory is parent/child."""
    parent, child = tmp_path / "parent", tmp_path / "parent" / "child"
    child.mkdir(parents=True)
    (parent / ".env").write_text("TOKEN_SERVER_DEV=1\nCOMETCHAT_EMULATOR=1\n")
    monkeypatch.chdir(child)
    # monkeypatch restores "unset" too, so whatever a load sets is undone after the test.
    for name in ("TOKEN_SERVER_SKIP_DOTENV", "TOKEN_SERVER_DEV", "COMETCHAT_EMULATOR", "COMETCHAT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return child


def test_dotenv_in_a_parent_folder_is_never_read(dotenv_tree) -> None:
    load_dotenv_file()
    assert "TOKEN_SERVER_DEV" not in os.environ and "COMETCHAT_EMULATOR" not in os.environ


def test_dotenv_in_the_working_directory_is_read_and_never_overrides(dotenv_tree, monkeypatch) -> None:
    (dotenv_tree / ".env").write_text("COMETCHAT_EMULATOR=1\nCOMETCHAT_REGION=us\n")
    monkeypatch.setenv("COMETCHAT_REGION", "eu")
    load_dotenv_file()
    assert os.environ["COMETCHAT_EMULATOR"] == "1" and os.environ["COMETCHAT_REGION"] == "eu"
    assert "TOKEN_SERVER_DEV" not in os.environ  # still not the parent's


def test_env_example_copied_as_is_starts_the_embedded_default() -> None:
    values = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    settings = load_settings(values, mode="embedded")
    assert settings.emulator and settings.dev and settings.dev_reason == "no caller auth configured"


# ---- dev mode, JWKS, CORS ----------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        {"TOKEN_SERVER_API_KEYS": SERVICE_KEY},
        {"AUTH_JWT_SECRET": JWT_SECRET},
        {"AUTH_JWKS_URL": JWKS, "AUTH_JWT_AUDIENCE": "chat-app"},
    ],
)
@pytest.mark.parametrize("mode", ["production", "embedded"])
def test_dev_mode_next_to_caller_auth_is_refused(auth, mode) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", **auth}, mode=mode)
    assert f"TOKEN_SERVER_DEV=1 together with {next(iter(auth))}" in str(info.value)
    assert not load_settings({"COMETCHAT_EMULATOR": "1", **auth}, mode=mode).dev


def test_jwks_needs_an_audience_in_production() -> None:
    env = {"COMETCHAT_EMULATOR": "1", "AUTH_JWKS_URL": JWKS}
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert "AUTH_JWT_AUDIENCE" in str(info.value)
    assert load_settings({**env, "AUTH_JWT_AUDIENCE": "chat-app"}).jwt_audience == "chat-app"
    assert load_settings(env, mode="embedded").jwks_url == JWKS  # a local run may leave it out


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        (JWKS, True),
        ("http://localhost:8080/jwks", True),
        ("http://127.0.0.1:9/jwks", True),
        ("http://127.8.9.10/jwks", True),
        ("http://[::1]:8080/jwks", True),
        ("http://id.example.com/jwks", False),
        ("http://127.0.0.1.evil.example/jwks", False),
        ("http://10.0.0.1/jwks", False),
        ("ftp://id.example.com/jwks", False),
        ("https:///jwks", False),
    ],
)
def test_jwks_url_is_https_except_on_loopback(url, accepted) -> None:
    env = {"COMETCHAT_EMULATOR": "1", "AUTH_JWKS_URL": url, "AUTH_JWT_AUDIENCE": "chat-app"}
    if accepted:
        assert load_settings(env).jwks_url == url
    else:
        with pytest.raises(ConfigError, match="AUTH_JWKS_URL must be an https:// URL"):
            load_settings(env)


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com?",  # flask-cors would read it as a regex: app.example.co + anything
        "https://app.example.com$",
        "^https://app.example.com",
        "https://app\\.example\\.com",
        "https://(app|evil).example.com",
        "https://[a-z]+.example.com",
        "https://app.example.com{1}",
        "https://ap+.example.com",
        "https://*.example.com",
        "*",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://app.example.com#top",
        "https://user@app.example.com",
        "https://app.example.com:99999",
        "https://app.example.com%2f.evil.net",
        "app.example.com",
        "ftp://app.example.com",
    ],
)
def test_cors_origins_must_be_exact(origin) -> None:
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", "CORS_ORIGINS": origin})


def test_exact_cors_origins_pass() -> None:
    origins = (
        "https://app.example.com, http://localhost:3000,http://127.0.0.1:8080,http://[::1]:5173,https://A.Example.com"
    )
    settings = load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", "CORS_ORIGINS": origins})
    assert len(settings.cors_origins) == 5


# ---- logs ----------------------------------------------------------------------------------


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


def test_the_filter_escapes_control_characters_so_no_line_is_forged() -> None:
    forged = "GET /x\nERROR forged\r\x1b[31m\x85\u2028\u2029 line"
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%s", (forged,), None)
    RedactingFilter([]).filter(record)
    line = logging.Formatter().format(record)
    assert len(line.splitlines()) == 1 and "\x1b" not in line and "\u2028" not in line
    assert line == "GET /x\\nERROR forged\\r\\x1b[31m\\x85\\u2028\\u2029 line"
    assert escape_controls("a\tb\x00\x7f") == "a\\tb\\x00\\x7f"


def test_traceback_lines_keep_their_breaks_but_lose_other_controls() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError("bad \x1b[2J input")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactingFilter([]).filter(record)
    formatted = logging.Formatter().format(record)
    assert "\x1b" not in formatted and "\\x1b[2J" in formatted and "Traceback" in formatted.splitlines()[1]


def test_gunicorn_logger_filters_its_own_handlers(monkeypatch, capsys, tmp_path) -> None:
    """gunicorn.conf.py's logger class puts the filter on gunicorn's handlers itself, so the
    master's lines and every access line go through it, whatever the app does."""
    from gunicorn.config import Config

    for name, value in {
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "TOKEN_SERVER_SKIP_DOTENV": "1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("TOKEN_SERVER_DEV", "AUTH_JWT_SECRET", "AUTH_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # else the file makes one, in os.environ
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("errorlog", "-")
    cfg.set("logger_class", settings["logger_class"])
    logger = cfg.logger_class(cfg)
    try:
        logger.access_log.info('127.0.0.1 "GET /x\nERROR forged %s" 404', SERVICE_KEY)
        logger.error_log.warning("started with %s", SERVICE_KEY)
        out = capsys.readouterr()
        lines = (out.out + out.err).splitlines()
        assert any("GET /x\\nERROR forged [REDACTED]" in line for line in lines)
        assert not any(line.startswith("ERROR forged") for line in lines)
        assert SERVICE_KEY not in out.out + out.err
    finally:
        for log in (logger.access_log, logger.error_log):
            for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                log.removeHandler(handler)


def _gunicorn_bind(monkeypatch, **env: str) -> str:
    for name in ("TOKEN_SERVER_DEV", "TOKEN_SERVER_API_KEYS", "AUTH_JWT_SECRET", "AUTH_JWKS_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_SKIP_DOTENV": "1", "PORT": "8123", **env}.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"]


def test_gunicorn_binds_loopback_only_in_dev_mode(monkeypatch) -> None:
    assert _gunicorn_bind(monkeypatch, TOKEN_SERVER_DEV="1") == "127.0.0.1:8123"
    assert _gunicorn_bind(monkeypatch, TOKEN_SERVER_API_KEYS=SERVICE_KEY) == "0.0.0.0:8123"


# ---- values that would quietly switch a guard off ---------------------------------------

PRODUCTION = {"COMETCHAT_APP_ID": "abc123", "COMETCHAT_REGION": "eu", "COMETCHAT_API_KEY": "k" * 40}


@pytest.mark.parametrize("name", ["COMETCHAT_DEADLINE", "COMETCHAT_CONNECT_TIMEOUT", "COMETCHAT_READ_TIMEOUT"])
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999", "0", "-1"])
def test_timeouts_must_be_finite_positive_numbers(name, value) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", name: value})
    assert f"{name} must be a finite positive number" in str(info.value)


@pytest.mark.parametrize("name", ["RATE_LIMIT_PER_USER", "RATE_LIMIT_PER_ADDRESS", "RATE_LIMIT_AUTH_FAILURES"])
@pytest.mark.parametrize("value", ["lots", "30 per fortnight", "per minute", "30"])
def test_a_rate_limit_that_does_not_parse_is_refused(name, value) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", name: value})
    assert name in str(info.value) and value in str(info.value)


def test_rate_limits_in_flask_limiter_syntax_pass() -> None:
    settings = load_settings(
        {
            "COMETCHAT_EMULATOR": "1",
            "TOKEN_SERVER_DEV": "1",
            "RATE_LIMIT_PER_USER": "5/second; 100 per hour",
            "RATE_LIMIT_PER_ADDRESS": "1000 per day",
        }
    )
    assert (settings.rate_limit_per_user, settings.rate_limit_per_address) == ("5/second; 100 per hour", "1000 per day")


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://proxy.example.com/v3", True),
        ("http://127.0.0.1:8787/v3", True),
        ("http://localhost:8787/v3", True),
        ("http://[::1]:8787/v3", True),
        ("http://evil.example/v3", False),
        ("http://127.0.0.1.evil.example/v3", False),
        ("https:///v3", False),
        ("ftp://127.0.0.1/v3", False),
    ],
)
def test_base_url_is_https_except_on_loopback(url, accepted) -> None:
    env = {"COMETCHAT_BASE_URL": url, "COMETCHAT_API_KEY": "k" * 40, "TOKEN_SERVER_API_KEYS": SERVICE_KEY}
    if accepted:
        assert load_settings(env).base_url == url
    else:
        with pytest.raises(ConfigError, match="COMETCHAT_BASE_URL must be an"):
            load_settings(env)


@pytest.mark.parametrize("app_id", ["evil.example/#", "a.b", "abc-123", "abc 123", "x" * 64, "ünï"])
def test_app_id_is_letters_and_digits(app_id) -> None:
    with pytest.raises(ConfigError, match="COMETCHAT_APP_ID must be letters and digits"):
        load_settings({**PRODUCTION, "COMETCHAT_APP_ID": app_id, "TOKEN_SERVER_API_KEYS": SERVICE_KEY})


def test_a_letters_and_digits_app_id_passes() -> None:
    settings = load_settings({**PRODUCTION, "COMETCHAT_APP_ID": "2493458aBc", "TOKEN_SERVER_API_KEYS": SERVICE_KEY})
    assert settings.app_id == "2493458aBc"


@pytest.mark.parametrize(
    "key", ["tab\there-0123456789", "newline\n0123456789ab", "nul\x00-0123456789abc", "ünicode-0123456789"]
)
def test_service_keys_must_be_printable_ascii(key) -> None:
    with pytest.raises(ConfigError, match="printable ASCII"):
        load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_API_KEYS": f"{SERVICE_KEY},{key}"})


@pytest.mark.parametrize("claim", ["email", "name", "preferred_username"])
def test_the_cometchat_mapping_on_a_claim_users_choose_is_refused(claim) -> None:
    env = {"COMETCHAT_EMULATOR": "1", "AUTH_JWT_SECRET": JWT_SECRET, "AUTH_JWT_UID_MAPPING": "cometchat"}
    with pytest.raises(ConfigError, match="AUTH_JWT_UID_MAPPING_ANY_CLAIM"):
        load_settings({**env, "AUTH_JWT_UID_CLAIM": claim})
    opted_in = load_settings({**env, "AUTH_JWT_UID_CLAIM": claim, "AUTH_JWT_UID_MAPPING_ANY_CLAIM": "1"})
    assert opted_in.jwt_uid_claim == claim
    assert to_cometchat_uid("Alice") == to_cometchat_uid("alice_11ptgg")  # why: not one-to-one
    assert load_settings(env).jwt_uid_claim == "sub"  # the provider's own id: allowed


@pytest.mark.parametrize("claim", ["email", "name", "nickname"])
def test_strict_mode_on_a_claim_users_choose_is_refused_like_the_mapping(claim) -> None:
    env = {"COMETCHAT_EMULATOR": "1", "AUTH_JWT_SECRET": JWT_SECRET, "AUTH_JWT_UID_MAPPING": "strict"}
    with pytest.raises(ConfigError, match="AUTH_JWT_UID_MAPPING=strict with AUTH_JWT_UID_CLAIM=") as info:
        load_settings({**env, "AUTH_JWT_UID_CLAIM": claim})
    assert "AUTH_JWT_UID_MAPPING_ANY_CLAIM=1" in str(info.value)
    # The twin: the provider's own id, or an operator who vouches for the claim, still start.
    assert load_settings(env).jwt_uid_claim == "sub"
    opted_in = load_settings({**env, "AUTH_JWT_UID_CLAIM": claim, "AUTH_JWT_UID_MAPPING_ANY_CLAIM": "1"})
    assert opted_in.jwt_uid_claim == claim and opted_in.jwt_uid_mapping == "strict"
