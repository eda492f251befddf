"""The test layers hold: nothing in tests/unit or tests/http starts a process (so `-m "not slow"`
never does), and every test in tests/process and tests/browser carries its markers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.browser import conftest as browser_conftest
from tests.process import conftest as process_conftest
from tests.procs import ROOT

TESTS = ROOT / "tests"
# What starts a process: the support modules' starters, subprocess itself, and the fixtures that
# hand a test the standalone emulator.
STARTERS = {
    "Process",
    "Popen",
    "start_emulator",
    "start_gunicorn",
    "start_stack",
    "start_redis",
    "running_redis",
    "start_tls_emulator",
    "start_server",
    "subprocess",
}
PROCESS_FIXTURES = {"emulator", "emulator_client", "_emulator_process"}


def starts_a_process(path: Path) -> list[str]:
    """Where ``path`` names a starter or asks for a process fixture (as ``file:line name``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name) and node.id in STARTERS:
            found.append(f"{path.name}:{node.lineno} {node.id}")
        elif isinstance(node, ast.alias) and node.name.split(".")[0] in STARTERS:
            found.append(f"{path.name}:{node.lineno} import {node.name}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [f"{path.name}:{node.lineno} {a.arg}" for a in node.args.args if a.arg in PROCESS_FIXTURES]
    return found


def test_the_scan_sees_a_process_where_there_is_one() -> None:
    # A scan that found nothing would let the next test pass vacuously.
    assert starts_a_process(TESTS / "process" / "test_processes.py")
    assert starts_a_process(TESTS / "process" / "test_cli.py")  # the `emulator` fixture


@pytest.mark.parametrize("layer", ["unit", "http"])
def test_no_fast_test_starts_a_process(layer: str) -> None:
    found = [hit for path in sorted((TESTS / layer).rglob("test_*.py")) for hit in starts_a_process(path)]
    assert found == [], "move these tests to tests/process/"


class _Item:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.markers: list[str] = []

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.markers.append(marker.name)


def test_process_and_browser_tests_carry_their_markers() -> None:
    process, browser, fast = (_Item(TESTS / layer / "test_x.py") for layer in ("process", "browser", "http"))
    for conftest in (process_conftest, browser_conftest):
        conftest.pytest_collection_modifyitems([process, browser, fast])  # type: ignore[list-item]
    assert process.markers == ["slow"]
    assert sorted(browser.markers) == ["browser", "slow"]
    assert fast.markers == []


def test_the_markers_are_registered() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"slow: ' in text and '"browser: ' in text
