"""Shared fixtures: the standalone emulator over a real socket, and clients pointed at it."""

from __future__ import annotations

from typing import Iterator

import pytest

from cometchat import CometChatClient

from .helpers import app_env
from .procs import EMULATOR_KEY, RunningEmulator, start_emulator


@pytest.fixture(scope="session")
def _emulator_process(tmp_path_factory) -> Iterator[RunningEmulator]:
    proc, root = start_emulator(tmp_path_factory.mktemp("emulator"), api_key=EMULATOR_KEY)
    yield RunningEmulator(root)
    proc.stop()


@pytest.fixture
def emulator(_emulator_process: RunningEmulator) -> RunningEmulator:
    """The emulator over real HTTP, reset before each test."""
    _emulator_process.reset()
    return _emulator_process


@pytest.fixture
def emulator_client(emulator: RunningEmulator) -> Iterator[CometChatClient]:
    client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, backoff=0.01)
    yield client
    client.close()


@pytest.fixture
def app():
    """The server on the in-process emulator, with service keys and an HS256 JWT secret."""
    from token_server import create_app

    return create_app(app_env())


@pytest.fixture
def http(app):
    return app.test_client()


@pytest.fixture
def upstream(app):
    """The in-process emulator's state: its request count is the number of upstream calls."""
    return app.extensions["token_server.emulator"]
