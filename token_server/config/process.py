"""The process section: what the entry points (server.py, gunicorn.conf.py) read from the
environment to lay out the process, each a whole number in its range. Unset: the entry point
picks its default (port 3000 or 8000, two workers, 256 threads)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Self

from .base import Env, Mode

# (variable, field, lowest, highest) of the whole-number process settings.
PROCESS_NUMBERS = (
    ("PORT", "port", 1, 65535),
    ("WEB_CONCURRENCY", "web_concurrency", 1, 256),
    ("GUNICORN_THREADS", "gunicorn_threads", 1, 4096),
    # The connection layer's bounds (token_server/serving/bounds.py): connections waiting for a request.
    ("GUNICORN_MAX_WAITING", "gunicorn_max_waiting", 1, 65536),
)
# (variable, field, lowest, highest) of the process settings in seconds.
PROCESS_SECONDS = (("GUNICORN_HEAD_TIMEOUT", "gunicorn_head_timeout", 0.1, 300.0),)


@dataclass(frozen=True)
class ProcessSettings:
    port: int | None = None
    web_concurrency: int | None = None
    gunicorn_threads: int | None = None
    gunicorn_max_waiting: int | None = None
    gunicorn_head_timeout: float | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        read = Env(env)
        values: dict[str, int | float | None] = {}
        for name, attribute, low, high in PROCESS_NUMBERS:
            raw = read.text(name)
            values[attribute] = None
            if raw is None:
                continue
            if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
                values[attribute] = int(raw)
            else:
                read.problem(f"{name} must be a whole number from {low} to {high} (got {raw!r})")
        for name, attribute, lowest, highest in PROCESS_SECONDS:
            raw = read.text(name)
            values[attribute] = None
            if raw is None:
                continue
            try:
                seconds = float(raw)
            except ValueError:
                seconds = math.nan
            if lowest <= seconds <= highest:  # NaN fails both comparisons
                values[attribute] = seconds
            else:
                read.problem(f"{name} must be a number of seconds from {lowest:g} to {highest:g} (got {raw!r})")
        return read.finish(cls(**values), problems)  # type: ignore[arg-type]
