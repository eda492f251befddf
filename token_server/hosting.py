"""The settings of a host app that embeds the routes (a Flask or FastAPI backend), read from the
environment under the stand-alone server's names, with the server's checks.

Two differences from ``python server.py``, both toward refusing rather than opening: a host has
no dev mode (callers are always identified: service keys, user JWTs, or the host's own login),
and with no caller-auth method configured it refuses to start, naming the variables, as the
Procfile's server does. Like ``python server.py``, no ``COMETCHAT_*`` credentials at all means
the embedded emulator, offline."""

from __future__ import annotations

import os
from typing import Mapping

from .config import ConfigError, Settings, load_dotenv_file, load_settings

NO_CALLER_AUTH = (
    "no way to identify callers: set TOKEN_SERVER_API_KEYS (service keys for trusted backends) and/or "
    "AUTH_JWT_SECRET or AUTH_JWKS_URL (end users' JWTs)"
)
NO_DEV_MODE = "TOKEN_SERVER_DEV: a host app has no dev mode (callers are always identified); unset it"


def host_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Every section of the server's settings from ``env`` (None: the environment and ./.env);
    :class:`~token_server.config.ConfigError` naming every problem."""
    if env is None:
        load_dotenv_file()
        env = os.environ
    if (env.get("TOKEN_SERVER_DEV") or "").strip() not in ("", "0"):
        raise ConfigError([NO_DEV_MODE])
    settings = load_settings(env, mode="embedded")
    if not settings.has_caller_auth:
        raise ConfigError([NO_CALLER_AUTH])
    return settings
