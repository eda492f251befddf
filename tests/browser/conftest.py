"""Every test here drives Debian's Chromium (Playwright) against real processes: all carry the
``browser`` and ``slow`` markers."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here + "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
