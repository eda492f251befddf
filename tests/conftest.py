"""Shared fixtures: the standalone emulator over a real socket, and clients pointed at it."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from cometchat import CometChatClient

from .helpers import app_env
from .procs import EMULATOR_KEY, start_emulator

__all__ = ["EMULATOR_KEY"]  # tests import it from here too


class RunningEmulator:
    """``python -m cometchat.emulator`` in its own process, driven through its controls."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.base_url = root + "/v3"

    def faults(
        self, *queue: dict, latency_ms: float | None = None, rate_limit: int | None = None, **settings: float
    ) -> None:
        """Queue faults and change settings (``core_per_minute``, ``minute_seconds``, ...)."""
        body: dict = {"queue": list(queue), **settings}
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        if rate_limit is not None:
            body["rate_limit_per_minute"] = rate_limit
        requests.post(self.root + "/_emulator/faults", json=body, timeout=5).raise_for_status()

    def reset(self) -> None:
        requests.post(self.root + "/_emulator/reset", timeout=5).raise_for_status()

    def stats(self) -> dict:
        return requests.get(self.root + "/_emulator/stats", timeout=5).json()


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
