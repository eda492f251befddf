"""The sessions section (docs/devices.md): where device tokens are kept (``SESSION_STORE_URI``),
the secrets that seal them (``SESSION_STORE_KEY``) and their maximum age (``TOKEN_MAX_AGE``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Self

from .base import Env, Mode
from .ratelimits import DEFAULT_RATELIMIT_STORAGE_URI
from .upstream import uses_emulator

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


@dataclass(frozen=True)
class SessionSettings:
    # SESSION_STORE_KEY: the first key seals, all open (empty: a key kept in the store seals).
    # The opening keys only open: the REST key, whose derived key sealed records before.
    # token_max_age None: device tokens never expire.
    session_store_uri: str = MEMORY_URI
    session_store_keys: tuple[str, ...] = field(default=(), repr=False)
    session_store_opening_keys: tuple[str, ...] = field(default=(), repr=False)
    token_max_age: float | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        """The store: SESSION_STORE_URI; else the rate-limit store's Redis; else in-process memory
        with the embedded emulator (``python server.py``'s default: its tokens die with the process
        too); else a SQLite file. The keys: SESSION_STORE_KEY, else one the server keeps in the
        store; the REST key only opens what its derived key sealed before (docs/devices.md)."""
        read = Env(env)
        ratelimit_uri = read.text("RATELIMIT_STORAGE_URI") or DEFAULT_RATELIMIT_STORAGE_URI
        uri = read.text("SESSION_STORE_URI") or ""
        if not uri:
            if ratelimit_uri.startswith(REDIS_SCHEMES):
                uri = ratelimit_uri
            else:
                # A throwaway reader: the upstream section reports a bad COMETCHAT_EMULATOR itself.
                uri = MEMORY_URI if uses_emulator(Env(read.values), mode) else DEFAULT_SESSION_SQLITE
        if not (uri.startswith(REDIS_SCHEMES) or uri == MEMORY_URI):
            if not uri.startswith("sqlite:///") or uri == "sqlite:///":
                read.problem(f"SESSION_STORE_URI must be redis://..., sqlite:///path or memory:// (got {uri!r})")
        keys = read.items("SESSION_STORE_KEY")
        if any(len(key) < MIN_SESSION_KEY_LENGTH for key in keys):
            read.problem(f"SESSION_STORE_KEY: every key must be at least {MIN_SESSION_KEY_LENGTH} characters")
        api_key = read.text("COMETCHAT_API_KEY")
        # Derived with HKDF, never used as is, and never sealing: a REST-key rotation must not
        # change the sealing key (token_server/devices/crypto.py).
        opening = (api_key,) if api_key else ()
        # No key and no REST key: only the embedded emulator, whose tokens die with its process; the
        # in-process store then seals with a key of this process only (token_server.build_device_tokens).
        max_age = None
        raw_age = read.text("TOKEN_MAX_AGE")
        if raw_age:
            try:
                max_age = parse_duration(raw_age)
            except ValueError:
                read.problem(f"TOKEN_MAX_AGE must be seconds or a duration like 30d, 12h (got {raw_age!r})")
        section = cls(
            session_store_uri=uri, session_store_keys=keys, session_store_opening_keys=opening, token_max_age=max_age
        )
        return read.finish(section, problems)
