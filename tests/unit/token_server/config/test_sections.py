"""The configuration by section: each section reads and checks its own variables alone, the
whole load still names every section's problems in one message, and a host app builds only
the section it needs."""

from __future__ import annotations

import dataclasses
import runpy

import pytest
from flask import Flask, session

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from tests.helpers import JWT_SECRET, SERVICE_KEY
from tests.procs import ROOT
from token_server import limits, routes
from token_server.auth import Authenticator, Caller
from token_server.config import (
    SECTIONS,
    CallerAuthSettings,
    ConfigError,
    DemoSettings,
    LimitSettings,
    ObservabilitySettings,
    ProcessSettings,
    SessionSettings,
    Settings,
    UpstreamSettings,
    load_settings,
)
from token_server.errors import ApiError
from token_server.routes import URL_PREFIX

# (section, one bad variable of its own, its value, a good value for the same variable)
ONE_BAD_VARIABLE = [
    (UpstreamSettings, "COMETCHAT_DEADLINE", "27", "8"),
    (UpstreamSettings, "COMETCHAT_PROXY", "socks5://proxy:1080", "http://proxy.example:3128"),
    (CallerAuthSettings, "AUTH_JWT_SECRET", "too-short", JWT_SECRET),
    (LimitSettings, "RATE_LIMIT_PER_USER", "lots", "5 per second"),
    (LimitSettings, "TRUSTED_PROXIES", "9", "2"),
    (SessionSettings, "TOKEN_MAX_AGE", "forever", "30d"),
    (ObservabilitySettings, "LOG_LEVEL", "loud", "WARNING"),
    (ObservabilitySettings, "METRICS_TOKEN", "short", "m" * 32),
    (DemoSettings, "COMETCHAT_CALLS_SDK_URL", "https://cdn.example/calls.js", None),
    (ProcessSettings, "WEB_CONCURRENCY", "0", "4"),
]
# What each section needs besides the variable under test, to be valid alone.
BASE = {UpstreamSettings: {"COMETCHAT_EMULATOR": "1"}}


@pytest.mark.parametrize(("section", "name", "bad", "good"), ONE_BAD_VARIABLE)
def test_each_section_refuses_its_own_bad_variable_alone(section, name, bad, good) -> None:
    with pytest.raises(ConfigError) as info:
        section.from_env({**BASE.get(section, {}), name: bad})
    assert len(info.value.problems) == 1 and name in info.value.problems[0]
    if good is not None:  # the twin: the same variable well set passes
        assert isinstance(section.from_env({**BASE.get(section, {}), name: good}), section)


@pytest.mark.parametrize(("section", "name", "bad", "good"), ONE_BAD_VARIABLE)
def test_a_section_adds_its_problems_to_a_shared_list_instead_of_raising(section, name, bad, good) -> None:
    problems = ["an earlier section's problem"]
    built = section.from_env({**BASE.get(section, {}), name: bad}, problems)
    assert isinstance(built, section)
    assert problems[0] == "an earlier section's problem" and len(problems) == 2 and name in problems[1]


def test_a_section_alone_ignores_the_other_sections_variables() -> None:
    """Nothing configured but the limits: the limits section is valid, though a whole load refuses."""
    env = {"RATE_LIMIT_PER_USER": "3 per minute"}
    assert LimitSettings.from_env(env).rate_limit_per_user == "3 per minute"
    with pytest.raises(ConfigError):
        load_settings(env)


def test_the_whole_load_names_every_sections_problem_in_one_message() -> None:
    env = {"TOKEN_SERVER_API_KEYS": SERVICE_KEY}
    for _, name, bad, _ in ONE_BAD_VARIABLE:
        env[name] = bad
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    message = str(info.value)
    for _, name, _, _ in ONE_BAD_VARIABLE:
        assert name in message
    assert "COMETCHAT_API_KEY" in message  # no credentials and no emulator


def test_settings_is_every_section_and_no_two_sections_share_a_field() -> None:
    names = [f.name for section in SECTIONS for f in dataclasses.fields(section)]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(Settings))
    settings = load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", "RATE_LIMIT_PER_USER": "7/minute"})
    assert all(isinstance(settings, section) for section in SECTIONS)
    assert settings.rate_limit_per_user == "7/minute" and settings.emulator and settings.dev


@pytest.mark.parametrize("mode", ["production", "embedded"])
def test_the_sections_read_alone_give_what_the_whole_load_gives(mode) -> None:
    env = {
        "COMETCHAT_APP_ID": "abc123",
        "COMETCHAT_REGION": "EU",
        "COMETCHAT_API_KEY": "k" * 40,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "RATE_LIMIT_PER_ADDRESS": "50 per minute",
        "LOG_FORMAT": "json",
        "PORT": "8123",
    }
    whole = load_settings(env, mode=mode)
    for section in SECTIONS:
        alone = section.from_env(env, mode=mode)
        for f in dataclasses.fields(section):
            assert getattr(alone, f.name) == getattr(whole, f.name), f.name


def test_the_modes_reach_the_sections_that_depend_on_them() -> None:
    assert UpstreamSettings.from_env({}, mode="embedded").emulator
    with pytest.raises(ConfigError, match="COMETCHAT_API_KEY"):
        UpstreamSettings.from_env({})
    embedded = CallerAuthSettings.from_env({}, mode="embedded")
    assert embedded.dev and embedded.dev_reason == "no caller auth configured"
    with pytest.raises(ConfigError, match="no caller authentication"):
        CallerAuthSettings.from_env({})
    # The session store follows the emulator: memory with it, a SQLite file without.
    assert SessionSettings.from_env({}, mode="embedded").session_store_uri == "memory://"
    assert SessionSettings.from_env({"COMETCHAT_API_KEY": "k" * 40}).session_store_uri.startswith("sqlite:///")


def test_log_level_is_checked_at_start_and_gunicorn_takes_the_checked_one(monkeypatch, tmp_path, capsys) -> None:
    for name in ("TOKEN_SERVER_DEV", "AUTH_JWT_SECRET", "AUTH_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "TOKEN_SERVER_SKIP_DOTENV": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["loglevel"] == "warning"
    monkeypatch.setenv("LOG_LEVEL", "verbose")  # gunicorn itself would quietly log at info
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert stopped.value.code == 3
    assert "LOG_LEVEL must be one of debug, info, warning, error, critical" in capsys.readouterr().err


# ---- a host app builds only the section it needs ----------------------------------------


@pytest.fixture
def host() -> Flask:
    state = EmulatorState(api_keys=["k"])
    emulator = create_emulator_app(state)
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", backoff=0.001, adapter_factory=lambda: WSGIAdapter(emulator)
    )
    app = Flask("host_with_its_own_login")
    app.secret_key = "test-only"

    def identify(request) -> Caller:
        if "user" not in session:
            raise ApiError(401, "ERR_UNAUTHORIZED", "Sign in first.")
        return Caller.user(session["user"])

    @app.post("/login/<uid>")
    def login(uid):
        session["user"] = uid
        return "ok"

    routes.init_app(app, client, identify)
    return app


def test_a_host_app_limits_the_routes_with_the_limits_section_alone(host, monkeypatch) -> None:
    def no_whole_settings(*args, **kwargs):
        raise AssertionError("a whole Settings was built")

    monkeypatch.setattr(Settings, "__init__", no_whole_settings)
    limits.init_app(host, LimitSettings(rate_limit_per_user="1 per minute"))
    first, second = host.test_client(), host.test_client()
    first.post("/login/cometchat-uid-1")
    second.post("/login/cometchat-uid-2")
    assert first.post(URL_PREFIX + "/token").status_code == 200
    limited = first.post(URL_PREFIX + "/token")
    assert limited.status_code == 429 and limited.json["error"]["code"] == "ERR_TOO_MANY_REQUESTS"
    # The twin: another user is still answered.
    assert second.post(URL_PREFIX + "/token").status_code == 200


def test_a_host_app_limits_from_its_own_environment_names(host) -> None:
    limits.init_app(host, LimitSettings.from_env({"RATE_LIMIT_PER_USER": "1 per minute"}))
    http = host.test_client()
    http.post("/login/cometchat-uid-1")
    assert http.post(URL_PREFIX + "/token").status_code == 200
    assert http.post(URL_PREFIX + "/token").status_code == 429


def test_the_authenticator_takes_the_caller_auth_section_alone() -> None:
    """``Authenticator(CallerAuthSettings(...))`` is a host app's identify function."""
    state = EmulatorState(api_keys=["k"])
    emulator = create_emulator_app(state)
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", adapter_factory=lambda: WSGIAdapter(emulator)
    )
    app = Flask("host_with_service_keys")
    routes.init_app(app, client, Authenticator(CallerAuthSettings(service_keys=(SERVICE_KEY,))))
    http = app.test_client()
    answered = http.get(URL_PREFIX + "/users/cometchat-uid-1", headers={"Authorization": f"Bearer {SERVICE_KEY}"})
    assert answered.status_code == 200 and answered.json["user"]["uid"] == "cometchat-uid-1"
    refused = http.get(URL_PREFIX + "/users/cometchat-uid-1", headers={"Authorization": "Bearer wrong-key-0123456789"})
    assert refused.status_code == 401 and refused.json["error"]["code"] == "ERR_INVALID_CREDENTIALS"
