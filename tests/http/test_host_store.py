"""A host app that embeds the routes and names no device store gets the stand-alone server's
default (the SQLite file shared by the workers of one host, or SESSION_STORE_URI's store),
never one in process memory unless it asks for it; asking for it warns when this process is
one of several."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from token_server import routes
from token_server.auth import Caller
from token_server.config import ConfigError
from token_server.deprovisioned import SqliteTombstones
from token_server.devices import MemorySessionStore
from token_server.devices.sqlite import SqliteSessionStore

SERVER_VARIABLES = (
    "SESSION_STORE_URI",
    "SESSION_STORE_KEY",
    "RATELIMIT_STORAGE_URI",
    "COMETCHAT_API_KEY",
    "COMETCHAT_APP_ID",
    "COMETCHAT_REGION",
    "COMETCHAT_EMULATOR",
    "WEB_CONCURRENCY",
    "SERVER_SOFTWARE",
    "TOKEN_MAX_AGE",
    "DEPROVISION_RETENTION",
)


@pytest.fixture
def host_env(monkeypatch, tmp_path):
    """A host's process: its own working directory, none of the server's variables set."""
    monkeypatch.chdir(tmp_path)
    for name in SERVER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def upstream() -> CometChatClient:
    emulator = create_emulator_app(EmulatorState(api_keys=["k"]))
    return CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", adapter_factory=lambda: WSGIAdapter(emulator)
    )


def worker(client: CometChatClient) -> Flask:
    """One worker of a host app: its own Flask app, the routes added with no device store named."""
    app = Flask("host")
    routes.init_app(app, client, lambda request: Caller.service())
    return app


def login(app: Flask) -> dict:
    answer = app.test_client().post("/api/cometchat/token/ann", json={"deviceId": "laptop"})
    assert answer.status_code == 200, answer.json
    return answer.json


def test_two_workers_of_a_host_hand_a_device_one_token(host_env, tmp_path, upstream) -> None:
    first, second = worker(upstream), worker(upstream)
    store = routes.device_tokens_of(first).store
    assert isinstance(store, SqliteSessionStore)
    assert store.path.resolve() == (tmp_path / "instance" / "device-sessions.sqlite3").resolve()
    tombstones = first.extensions["token_server.deprovisioned"].store  # deleted users: beside the devices
    assert isinstance(tombstones, SqliteTombstones) and tombstones.path == store.path
    minted = login(first)
    again = login(second)  # the other worker: the same store, the same key
    assert (again["authToken"], again["reused"]) == (minted["authToken"], True)


def test_the_emulator_does_not_make_a_hosts_store_a_memory_one(host_env, upstream) -> None:
    host_env.setenv("COMETCHAT_EMULATOR", "1")  # python server.py's memory default is not a host's
    assert isinstance(routes.device_tokens_of(worker(upstream)).store, SqliteSessionStore)


def test_session_store_uri_and_key_are_the_servers(host_env, tmp_path, upstream) -> None:
    host_env.setenv("SESSION_STORE_URI", f"sqlite:///{tmp_path}/elsewhere.sqlite3")
    host_env.setenv("SESSION_STORE_KEY", "a-session-store-key-of-enough-length-0123")
    tokens = routes.device_tokens_of(worker(upstream))
    assert tokens.store.path == tmp_path / "elsewhere.sqlite3"  # type: ignore[attr-defined]


def test_memory_is_chosen_explicitly_and_warns_among_several_workers(host_env, upstream, caplog) -> None:
    host_env.setenv("SESSION_STORE_URI", "memory://")
    host_env.setenv("WEB_CONCURRENCY", "2")
    with caplog.at_level(logging.WARNING, logger="token_server"):
        app = worker(upstream)
    assert isinstance(routes.device_tokens_of(app).store, MemorySessionStore)
    assert "WEB_CONCURRENCY=2" in caplog.text and "memory://" in caplog.text
    assert login(app)["reused"] is False  # still answers


def test_memory_in_a_gunicorn_worker_warns(host_env, upstream, caplog) -> None:
    host_env.setenv("SESSION_STORE_URI", "memory://")
    host_env.setenv("SERVER_SOFTWARE", "gunicorn/23.0.0")
    with caplog.at_level(logging.WARNING, logger="token_server"):
        worker(upstream)
    assert "a gunicorn worker" in caplog.text


def test_memory_in_a_single_process_is_quiet(host_env, upstream, caplog) -> None:
    host_env.setenv("SESSION_STORE_URI", "memory://")
    host_env.setenv("WEB_CONCURRENCY", "1")
    with caplog.at_level(logging.WARNING, logger="token_server"):
        worker(upstream)
    assert "memory://" not in caplog.text


@pytest.mark.parametrize("key", ["SESSION_STORE_KEY", "COMETCHAT_API_KEY", None])
def test_a_redis_store_is_built_with_or_without_a_key(host_env, upstream, key) -> None:
    """Without SESSION_STORE_KEY the store keeps the sealing key itself, as the server's does."""
    from token_server.devices.redis_store import RedisSessionStore

    host_env.setenv("SESSION_STORE_URI", "redis://127.0.0.1:16007/0")  # not reached: built lazily
    if key is not None:
        host_env.setenv(key, "a-key-of-enough-length-0123456789abcdef")
    assert isinstance(routes.device_tokens_of(worker(upstream)).store, RedisSessionStore)


def test_a_bad_deprovision_retention_is_refused_by_name(host_env, upstream) -> None:
    host_env.setenv("DEPROVISION_RETENTION", "5m")  # shorter than any JWT worth the name
    with pytest.raises(ConfigError, match="DEPROVISION_RETENTION"):
        worker(upstream)
