"""The device-session settings (docs/devices.md), read beside the rest of the configuration:
``SESSION_STORE_URI``, ``SESSION_STORE_KEY`` and ``TOKEN_MAX_AGE``."""

from __future__ import annotations

import re
from typing import Any, Mapping

DEFAULT_SESSION_SQLITE = "sqlite:///instance/device-sessions.sqlite3"  # relative to the working directory
MEMORY_URI = "memory://"
REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")
MIN_SESSION_KEY_LENGTH = 32
DURATION = re.compile(r"([0-9]+)\s*([smhd]?)")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``3600s`` or plain seconds; ValueError for anything else or 0."""
    match = DURATION.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"not a positive duration: {text!r}")
    return float(int(match.group(1)) * DURATION_UNITS[match.group(2)])


def session_settings(
    env: Mapping[str, str], problems: list[str], *, emulator: bool, api_key: str | None, ratelimit_uri: str
) -> dict[str, Any]:
    """Settings fields ``session_store_uri``, ``session_store_keys``, ``token_max_age``; problems appended.

    The store: SESSION_STORE_URI; else the rate-limit store's Redis; else in-process memory with the
    embedded emulator (``python server.py``'s default: its tokens die with the process too); else a SQLite file.
    """
    uri = (env.get("SESSION_STORE_URI") or "").strip()
    if not uri:
        if ratelimit_uri.startswith(REDIS_SCHEMES):
            uri = ratelimit_uri
        else:
            uri = MEMORY_URI if emulator else DEFAULT_SESSION_SQLITE
    if not (uri.startswith(REDIS_SCHEMES) or uri == MEMORY_URI):
        if not uri.startswith("sqlite:///") or uri == "sqlite:///":
            problems.append(f"SESSION_STORE_URI must be redis://..., sqlite:///path or memory:// (got {uri!r})")
    keys = tuple(key.strip() for key in (env.get("SESSION_STORE_KEY") or "").split(",") if key.strip())
    if any(len(key) < MIN_SESSION_KEY_LENGTH for key in keys):
        problems.append(f"SESSION_STORE_KEY: every key must be at least {MIN_SESSION_KEY_LENGTH} characters")
    if not keys and api_key:
        keys = (api_key,)  # derived with HKDF, never used as is (token_server/sessions/crypto.py)
    if not keys and uri != MEMORY_URI:
        problems.append(
            "SESSION_STORE_KEY is needed to seal device tokens in a shared store (no REST key to derive one from)"
        )
    max_age = None
    raw_age = (env.get("TOKEN_MAX_AGE") or "").strip()
    if raw_age:
        try:
            max_age = parse_duration(raw_age)
        except ValueError:
            problems.append(f"TOKEN_MAX_AGE must be seconds or a duration like 30d, 12h (got {raw_age!r})")
    return {"session_store_uri": uri, "session_store_keys": keys, "token_max_age": max_age}
