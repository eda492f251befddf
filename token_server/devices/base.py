"""What a session store keeps, and the calls every store answers.

A store never sees a usable token: the service seals it first (:mod:`.crypto`), so a store
holds ``sealed`` text only. Every call may raise (the store is down, locked or slow); the
service wraps each in a :class:`token_server.stores.breaker.StoreBreaker` and never lets one fail a login.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

# How long a device's mint lock lives when its holder dies mid-mint (seconds): longer than
# one login's upstream deadline, so a slow mint keeps it.
LOCK_TTL = 30.0


@dataclass(frozen=True)
class StoredSession:
    """One device's current token, sealed, with CometChat's createdAt and our last use (epoch s)."""

    device_id: str
    sealed: str
    created_at: int
    last_used_at: int
    # The user's mint count (every token the server minted for the user) when this one was
    # minted: CometChat keeps a user's newest 100, so a token 100 mints old is archived.
    seq: int = 0

    def __repr__(self) -> str:  # sealed text is still a credential's envelope: keep it out of logs
        return (
            f"StoredSession(device_id={self.device_id!r}, created_at={self.created_at}, "
            f"last_used_at={self.last_used_at}, seq={self.seq})"
        )

    def to_json(self) -> str:
        record = {"t": self.sealed, "c": self.created_at, "u": self.last_used_at, "n": self.seq}
        return json.dumps(record, separators=(",", ":"))

    @classmethod
    def from_json(cls, device_id: str, raw: str | bytes) -> StoredSession:
        data = json.loads(raw)
        return cls(device_id, str(data["t"]), int(data["c"]), int(data["u"]), int(data.get("n", 0)))


class StoreContention(Exception):
    """A local store's lock was busy past its timeout: contention on this host, not an outage
    (the service takes its fallback for this call and never opens the breaker for it)."""


class SessionStore(Protocol):
    """Device id -> sealed token, per uid; shared by every worker that points at it."""

    def get(self, uid: str, device_id: str) -> StoredSession | None: ...

    def swap(self, uid: str, session: StoredSession) -> StoredSession | None:
        """Store ``session`` and return the one it replaced, in one atomic step."""
        ...

    def replace_if(self, uid: str, session: StoredSession, expected: str | None) -> tuple[bool, StoredSession | None]:
        """Compare-and-set: store ``session`` only if the device's current sealed token is
        ``expected`` (None: the device has no record). Returns whether it was stored, and the
        record that was there (replaced when stored; the one that won when not), in one step."""
        ...

    def lookup(self, uid: str, device_id: str) -> tuple[StoredSession | None, int]:
        """The device's record and the user's mint count (see :meth:`count_mints`), in one step."""
        ...

    def count_mints(self, uid: str, n: int = 1) -> int:
        """Add ``n`` tokens minted for the user (any device or none); the new count."""
        ...

    def touch(self, uid: str, device_id: str, last_used_at: int) -> None: ...

    def delete(self, uid: str, device_id: str) -> StoredSession | None:
        """Forget one device; return what was stored (None: nothing was)."""
        ...

    def delete_if(self, uid: str, device_id: str, expected: str) -> bool:
        """Compare-and-set delete: forget the device only if its sealed token is still ``expected``."""
        ...

    def ensure_key(self, candidate: str) -> str:
        """The sealing key kept in the store: ``candidate`` is written only if none is (set-if-absent)."""
        ...

    def devices(self, uid: str) -> list[StoredSession]: ...

    def delete_all(self, uid: str) -> list[StoredSession]: ...

    def acquire(self, uid: str, device_id: str, owner: str, ttl: float = LOCK_TTL) -> bool:
        """Take the device's mint lock (compare-and-set); False while another owner holds it."""
        ...

    def release(self, uid: str, device_id: str, owner: str) -> None: ...

    def ping(self) -> None:
        """Raise when the store does not answer (for readiness checks)."""
        ...

    def close(self) -> None: ...
