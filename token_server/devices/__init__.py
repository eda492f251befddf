"""Device sessions: which token each device of a user holds, shared by every worker.

- :mod:`.service`: the login, revoke and list logic (:class:`DeviceTokens`);
- :mod:`.base`: what a store keeps and the calls it answers;
- stores: :mod:`.redis_store` (the fleet), :mod:`.sqlite` (the workers of one host),
  :mod:`.memory` (one process: ``python server.py``);
- :mod:`.crypto`: tokens are sealed (Fernet) before any store sees them.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import SessionStore, StoredSession
from .crypto import TokenCipher
from .memory import MemorySessionStore
from .service import DeviceBusy, DeviceLogin, DeviceTokens, Session, StoreUnavailable

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "DEVICE_ID",
    "DeviceBusy",
    "DeviceLogin",
    "DeviceTokens",
    "MemorySessionStore",
    "Session",
    "SessionStore",
    "StoreUnavailable",
    "StoredSession",
    "TokenCipher",
    "store_for",
]

# A device id as the token routes take it: what a browser's crypto.randomUUID() or an app's
# install id looks like, and nothing that needs escaping in a URL or a Redis key.
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# The default SQLite file, relative to the server's working directory (Flask's "instance" folder).
DEFAULT_SQLITE_PATH = Path("instance") / "device-sessions.sqlite3"
MEMORY_URI = "memory://"


def store_for(uri: str) -> SessionStore:
    """The store a ``SESSION_STORE_URI`` names: ``redis://``, ``rediss://``, ``redis+unix://``,
    ``sqlite:///path`` or ``memory://``."""
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        from .redis_store import RedisSessionStore

        return RedisSessionStore.from_url(uri)
    if uri.startswith("sqlite:"):
        from .sqlite import SqliteSessionStore, path_of

        return SqliteSessionStore(path_of(uri))
    if uri == MEMORY_URI:
        return MemorySessionStore()
    raise ValueError("SESSION_STORE_URI must be redis://..., sqlite:///path or memory://")
