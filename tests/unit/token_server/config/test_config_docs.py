"""The settings tables cannot drift from the code: every variable a configuration section reads
is in docs/configuration.md's table and in .env.example, and every variable those name is read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import pytest

from token_server.config import ConfigError, load_settings
from token_server.config.base import Env

ROOT = Path(__file__).resolve().parents[4]
VARIABLE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
# Read before any section (the metrics library and the .env loader need them first): documented
# in the table, but .env.example cannot set them usefully.
READ_BEFORE_SECTIONS = {"TOKEN_SERVER_SKIP_DOTENV", "PROMETHEUS_MULTIPROC_DIR"}


class _Recording(dict):
    """The environment a section reads, noting every name it asks for."""

    def __init__(self, values: Mapping[str, str], seen: set[str]) -> None:
        super().__init__(values)
        self.seen = seen

    def get(self, name, default=None):  # type: ignore[override]
        self.seen.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.seen.add(name)
        return super().__getitem__(name)

    def __contains__(self, name) -> bool:
        self.seen.add(name)
        return super().__contains__(name)


def variables_read() -> set[str]:
    """Every name the configuration sections ask the environment for, over starts that take
    each branch: empty, every documented variable set, in both modes."""
    seen: set[str] = set()
    original = Env.__init__

    def recording(self: Env, env: Mapping[str, str] | None) -> None:
        original(self, env)
        self.values = _Recording(self.values, seen)

    documented = table_variables((ROOT / "docs" / "configuration.md").read_text())
    everything = {name: "1" for name in documented}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Env, "__init__", recording)
        for env in ({}, everything, {"AUTH_JWKS_URL": "https://idp.example/jwks", "AUTH_JWT_SECRET": "x" * 40}):
            for mode in ("production", "embedded"):
                try:
                    load_settings(env, mode=mode)
                except ConfigError:
                    pass
    return {name for name in seen if VARIABLE.fullmatch(name)}


def table_variables(markdown: str) -> set[str]:
    """The backquoted names in the first column of the first table (``| `A`, `B` | ... |``)."""
    names: set[str] = set()
    for line in markdown.splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            names |= {name for name in re.findall(r"`([A-Z0-9_]+)(?:=[^`]*)?`", first_column) if VARIABLE.fullmatch(name)}
        elif names and not line.startswith("|"):
            break
    return names


def test_the_scan_finds_the_variables_it_must() -> None:
    # A scan that found nothing would pass the tests below vacuously.
    assert {"COMETCHAT_API_KEY", "TOKEN_SERVER_API_KEYS", "SESSION_STORE_URI", "RATE_LIMIT_PER_USER"} <= variables_read()


def test_every_variable_read_is_in_the_configuration_table() -> None:
    documented = table_variables((ROOT / "docs" / "configuration.md").read_text())
    assert variables_read() - documented == set()


def test_the_configuration_table_names_only_variables_that_are_read() -> None:
    documented = table_variables((ROOT / "docs" / "configuration.md").read_text())
    assert documented - variables_read() - READ_BEFORE_SECTIONS == set()


def test_every_variable_read_is_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text()
    missing = {name for name in variables_read() - READ_BEFORE_SECTIONS if not re.search(rf"\b{name}=", example)}
    assert missing == set()


def test_the_readme_names_only_variables_that_are_read() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Essential settings", 1)[1].split("\n## ", 1)[0]
    assert table_variables(section) - variables_read() == set()
