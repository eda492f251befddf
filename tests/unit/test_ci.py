"""CI (.ci/run) runs what the README tells a newcomer to run, and checks the tree with ruff
and mypy as steps of their own, before the tests."""

from __future__ import annotations

import re

from tests.procs import ROOT


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(python -m pip install -r requirements-dev\.txt && python -m pytest.*)$", text, re.M)
    assert len(commands) == 1, commands
    return commands[0]


def ci_lines() -> list[str]:
    return [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]


def test_ci_runs_the_readmes_test_command_exactly() -> None:
    assert readme_test_command() in ci_lines()


def test_ci_checks_with_ruff_and_mypy_before_the_tests() -> None:
    lines = ci_lines()
    tests = lines.index(readme_test_command())
    assert 0 <= lines.index("python -m ruff check .") < tests
    assert 0 <= lines.index("python -m mypy --strict cometchat/") < tests


def test_the_checkers_are_pinned_for_ci() -> None:
    pins = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert any(re.fullmatch(r"ruff==[\d.]+", line) for line in pins)
    assert any(re.fullmatch(r"mypy==[\d.]+", line) for line in pins)


def test_ci_runs_the_attack_tests_at_the_lowest_gunicorn_pyproject_allows() -> None:
    text = (ROOT / ".ci" / "run").read_text()
    # CI reads the lower bound from pyproject.toml with this sed expression: the same pattern here.
    assert """lowest=$(sed -n 's/.*"gunicorn>=\\([0-9.]*\\),.*/\\1/p' pyproject.toml)""" in ci_lines()
    assert re.search(r'"gunicorn>=([0-9.]+),', (ROOT / "pyproject.toml").read_text())
    assert 'gunicorn==${lowest}.*' in text
    assert "/tmp/ci-lowest-gunicorn/bin/python -m pytest -q tests/process/test_connection_attacks.py" in text
