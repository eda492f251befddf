"""What one process minted for devices while the session store did not answer.

Availability first: a login goes on without the store. But a device that logs in again during
the outage must not get yet another token (a blip would otherwise leave one untracked token per
login): the process reuses the token it minted for that device, kept here sealed with a key of
this process only. The cache is bounded (least recently handed out dropped first, logged and
counted); what it holds is settled against the store once the store answers again (the
service's settler, and at the latest the device's next login).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .crypto import TokenCipher

# Devices one process remembers through an outage: a token each, a few hundred bytes each.
OUTAGE_CACHE_SIZE = 10_000
# Locks that serialize one device's outage logins in a process (striped: bounded memory).
STRIPES = 64


@dataclass
class OutageEntry:
    """The token this process handed a device during an outage (sealed), and when it last did."""

    sealed: str
    created_at: int
    handed_at: int
    client: Any  # the CometChat client that minted it, to revoke it with when it loses the device

    def __repr__(self) -> str:
        return f"OutageEntry(created_at={self.created_at}, handed_at={self.handed_at})"


class OutageCache:
    def __init__(self, size: int = OUTAGE_CACHE_SIZE) -> None:
        self.size = size
        self.cipher = TokenCipher.ephemeral()
        self._entries: OrderedDict[tuple[str, str], OutageEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(STRIPES)]

    def device_lock(self, uid: str, device_id: str) -> threading.Lock:
        return self._stripes[hash((uid, device_id)) % STRIPES]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, uid: str, device_id: str) -> OutageEntry | None:
        with self._lock:
            return self._entries.get((uid, device_id))

    def token_of(self, entry: OutageEntry) -> str:
        token = self.cipher.open(entry.sealed)
        if token is None:  # sealed by this very cache's key: cannot happen
            raise RuntimeError("an outage token did not open with its own process's key")
        return token

    def put(
        self, uid: str, device_id: str, token: str, created_at: int, handed_at: int, client: Any
    ) -> list[tuple[str, str, OutageEntry]]:
        """Remember the device's token; answer the entries pushed out (the device's previous one
        first when it had one, then any dropped for room)."""
        entry = OutageEntry(self.cipher.seal(token), created_at, handed_at, client)
        out: list[tuple[str, str, OutageEntry]] = []
        with self._lock:
            previous = self._entries.pop((uid, device_id), None)
            if previous is not None:
                out.append((uid, device_id, previous))
            self._entries[(uid, device_id)] = entry
            while len(self._entries) > self.size:
                (old_uid, old_device), old = self._entries.popitem(last=False)
                out.append((old_uid, old_device, old))
        return out

    def handed(self, uid: str, device_id: str, entry: OutageEntry, at: int) -> None:
        with self._lock:
            entry.handed_at = max(entry.handed_at, at)
            if (uid, device_id) in self._entries:
                self._entries.move_to_end((uid, device_id))

    def drop(self, uid: str, device_id: str, entry: OutageEntry) -> bool:
        """Forget the entry if it is still the device's; True when it was."""
        with self._lock:
            if self._entries.get((uid, device_id)) is entry:
                del self._entries[(uid, device_id)]
                return True
            return False

    def drop_user(self, uid: str) -> list[tuple[str, OutageEntry]]:
        with self._lock:
            found = [(device, entry) for (owner, device), entry in self._entries.items() if owner == uid]
            for device, _ in found:
                del self._entries[(uid, device)]
            return found

    def snapshot(self) -> list[tuple[str, str, OutageEntry]]:
        with self._lock:
            return [(uid, device, entry) for (uid, device), entry in self._entries.items()]
