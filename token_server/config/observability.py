"""The observability section: the log lines' layout (``LOG_FORMAT``) and level (``LOG_LEVEL``,
read by gunicorn.conf.py) and the bearer token that opens ``/metrics`` (``METRICS_TOKEN``).
Request ids need no setting: every answer carries one (token_server/requestid.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Self

from .base import MIN_KEY_LENGTH, Env, Mode

LOG_FORMATS = ("plain", "json")
# gunicorn's level names; it quietly takes any other name as info.
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class ObservabilitySettings:
    log_format: Literal["plain", "json"] = "plain"
    log_level: str = "info"
    # /metrics is served only when set, to callers presenting it as a bearer token.
    metrics_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        read = Env(env)
        log_format = (read.text("LOG_FORMAT") or "plain").lower()
        if log_format not in LOG_FORMATS:
            read.problem(f"LOG_FORMAT must be plain or json (got {log_format!r})")
            log_format = "plain"
        log_level = (read.text("LOG_LEVEL") or "info").lower()
        if log_level not in LOG_LEVELS:
            read.problem(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (got {log_level!r})")
            log_level = "info"
        metrics_token = read.text("METRICS_TOKEN")
        if metrics_token is not None and (
            len(metrics_token) < MIN_KEY_LENGTH or any(c.isspace() for c in metrics_token)
        ):
            read.problem(f"METRICS_TOKEN must be at least {MIN_KEY_LENGTH} characters, without spaces")
        section = cls(log_format=log_format, log_level=log_level, metrics_token=metrics_token)  # type: ignore[arg-type]
        return read.finish(section, problems)
