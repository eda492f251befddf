"""Configuration, read once from the environment (or a mapping of the same names) and validated
at start with one message naming every problem. Each section (:data:`SECTIONS`) is a frozen
dataclass in a module of its own; every variable is in docs/configuration.md (a test checks)."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Self

from .base import MIN_KEY_LENGTH, ConfigError, Env, Mode, dotenv_path, load_dotenv_file
from .caller_auth import ALLOWED_JWT_ALGORITHMS, CALLER_AUTH_VARIABLES, CallerAuthSettings
from .callsdk import DemoSettings
from .egress import proxy_password
from .observability import LOG_FORMATS, LOG_LEVELS, ObservabilitySettings
from .process import ProcessSettings
from .ratelimits import (
    DEFAULT_MAX_BODY,
    DEFAULT_RATE_LIMIT_AUTH_FAILURES,
    DEFAULT_RATE_LIMIT_PER_ADDRESS,
    DEFAULT_RATE_LIMIT_PER_USER,
    DEFAULT_RATELIMIT_STORAGE_URI,
    ORIGIN,
    LimitSettings,
    is_exact_origin,
)
from .sessions import SessionSettings
from .upstream import DEADLINE_HEADROOM, WORKER_TIMEOUT, UpstreamSettings
from .webhooks import WebhookSettings

__all__ = [
    "ALLOWED_JWT_ALGORITHMS",
    "CALLER_AUTH_VARIABLES",
    "DEADLINE_HEADROOM",
    "DEFAULT_MAX_BODY",
    "DEFAULT_RATELIMIT_STORAGE_URI",
    "DEFAULT_RATE_LIMIT_AUTH_FAILURES",
    "DEFAULT_RATE_LIMIT_PER_ADDRESS",
    "DEFAULT_RATE_LIMIT_PER_USER",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "MIN_KEY_LENGTH",
    "ORIGIN",
    "SECTIONS",
    "WORKER_TIMEOUT",
    "CallerAuthSettings",
    "ConfigError",
    "DemoSettings",
    "LimitSettings",
    "Mode",
    "ObservabilitySettings",
    "ProcessSettings",
    "SessionSettings",
    "Settings",
    "UpstreamSettings",
    "WebhookSettings",
    "dotenv_path",
    "is_exact_origin",
    "load_dotenv_file",
    "load_settings",
]

# In the order their problems are named.
SECTIONS = (
    UpstreamSettings,
    CallerAuthSettings,
    LimitSettings,
    SessionSettings,
    ObservabilitySettings,
    DemoSettings,
    ProcessSettings,
    WebhookSettings,
)


@dataclasses.dataclass(frozen=True)
class Settings(
    WebhookSettings,
    ProcessSettings,
    DemoSettings,
    ObservabilitySettings,
    SessionSettings,
    LimitSettings,
    CallerAuthSettings,
    UpstreamSettings,
):
    """Every section (the upstream's fields first); built by :func:`load_settings`, or by hand
    with keywords (``Settings(emulator=True, dev=True)``), the rest at their defaults. Its fields
    stay flat (``settings.rate_limit_per_user``), and a whole Settings goes wherever one section
    is asked for (``limits.init_app(app, settings)`` as well as ``limits.init_app(app, LimitSettings())``)."""

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        """Each section read in turn; their problems raised together in one :class:`ConfigError`."""
        read = Env(env)  # one copy of the environment for every section
        values: dict[str, object] = {}
        for section in SECTIONS:
            part = section.from_env(read.values, read.problems, mode=mode)
            values.update((f.name, getattr(part, f.name)) for f in dataclasses.fields(part))
        return read.finish(cls(**values), problems)  # type: ignore[arg-type]

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value configured, for the log filter to mask."""
        values = (
            self.api_key,
            self.jwt_secret,
            self.metrics_token,
            proxy_password(self.proxy),
            *self.service_keys,
            *self.session_store_keys,
            *self.webhook_passwords,
        )
        return tuple(s for s in values if s)


def load_settings(env: Mapping[str, str] | None = None, *, mode: Mode = "production") -> Settings:
    """Build Settings from environment-style names (``os.environ`` when None).

    ``production`` (gunicorn) is strict: CometChat credentials or ``COMETCHAT_EMULATOR=1``,
    and a caller-auth method or ``TOKEN_SERVER_DEV=1``. ``embedded`` (``python server.py``)
    falls back to the emulator without credentials and to dev mode without caller auth.
    In both, dev mode next to a caller-auth method is refused: it would serve callers
    without their credentials.
    """
    return Settings.from_env(env, mode=mode)
