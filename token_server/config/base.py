"""What every configuration section shares: the one refusal (:class:`ConfigError`), the reader
of environment-style names (:class:`Env`), and ``.env`` for local runs."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal, Mapping, TypeVar

Mode = Literal["production", "embedded"]
TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}
# Service keys and the metrics token: long enough that guessing is hopeless.
MIN_KEY_LENGTH = 16

SectionT = TypeVar("SectionT")


class ConfigError(Exception):
    """Every problem at once, so a deploy is fixed in one round."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("token server configuration: " + "; ".join(problems))


class Env:
    """Environment-style names read for one section; each problem noted, none raised until
    :meth:`finish`, so one message names them all."""

    def __init__(self, env: Mapping[str, str] | None) -> None:
        self.values: Mapping[str, str] = dict(os.environ if env is None else env)
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def text(self, name: str) -> str | None:
        """The value without surrounding spaces; None when unset or blank."""
        return (self.values.get(name) or "").strip() or None

    def flag(self, name: str) -> bool:
        value = (self.values.get(name) or "").strip().lower()
        if value in TRUE:
            return True
        if value not in FALSE:
            self.problem(f"{name} must be 1 or 0 (got {self.values[name]!r})")
        return False

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list, blanks dropped."""
        return tuple(item.strip() for item in (self.values.get(name) or "").split(",") if item.strip())

    def seconds(self, name: str, default: float) -> float:
        raw = (self.values.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problem(f"{name} must be a number (got {raw!r})")
            return default
        if not math.isfinite(value) or value <= 0:
            self.problem(f"{name} must be a finite positive number of seconds (got {raw!r})")
            return default
        return value

    def finish(self, section: SectionT, problems: list[str] | None) -> SectionT:
        """``section`` when nothing was wrong. With a ``problems`` list (the whole configuration
        is being read) the problems join it and the caller raises once; alone, they raise here."""
        if problems is not None:
            problems.extend(self.problems)
        elif self.problems:
            raise ConfigError(self.problems)
        return section


def dotenv_path(directory: Path | None = None) -> Path | None:
    """``.env`` in the working directory, or None: never one from a parent folder (a home
    folder's or a monorepo root's ``.env`` must not configure this server)."""
    path = (Path.cwd() if directory is None else directory) / ".env"
    return path if path.is_file() else None


def load_dotenv_file() -> None:
    """Load ``.env`` for local runs; it never overrides the real environment.
    ``TOKEN_SERVER_SKIP_DOTENV=1`` skips it (the tests' child processes set it, so a
    developer's ``.env`` never leaks into a test)."""
    if os.environ.get("TOKEN_SERVER_SKIP_DOTENV") == "1":
        return
    path = dotenv_path()
    if path is not None:
        from dotenv import load_dotenv

        # An explicit path: python-dotenv's own search walks up to the filesystem root.
        load_dotenv(path, override=False)
