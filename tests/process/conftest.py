"""Every test here starts a process (gunicorn, the standalone emulator, redis-server, a Python
subprocess): all carry the ``slow`` marker, so ``pytest -m "not slow"`` runs the fast layers."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here + "/"):
            item.add_marker(pytest.mark.slow)
