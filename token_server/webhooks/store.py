"""Where received webhook events wait for their handlers: a queue with leases, the deliveries
already seen, the dead letters, and the last presence per user, in the device store's backend
(``SESSION_STORE_URI``: Redis, the SQLite file, or memory with the emulator).

The queue is a visibility-timeout queue: an event is visible from ``visible_at`` (epoch
seconds); a worker claims the oldest visible one, which hides it for a lease; finishing deletes
it (only by the claim that holds it), failing shows it again at its retry time or moves it to
the dead letters. A worker that dies mid-handler leaves its claim to expire: the event shows
again when the lease ends, and another worker (or the same one after a restart) takes it.

Every backend answers each call atomically across the processes sharing it, so two workers
never hold one event at once.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Protocol

# How long a delivery is remembered as seen. CometChat retries after 10 s and 30 s; the issue
# asks for at least 10 minutes; an hour also covers a replay of its logs by hand.
DEDUPE_SECONDS = 3600.0
# Seconds a claimed event stays hidden: a handler that has not finished by then is presumed dead.
LEASE_SECONDS = 60.0
# Every round trip of the receiver to the store: bounded well under CometChat's 2 s answer limit.
STORE_TIMEOUT = 1.0


class StoreError(Exception):
    """The event store did not answer (down, locked, slow): the receiver answers 503."""


@dataclass(frozen=True)
class QueuedEvent:
    """One received event as the store keeps it: the raw body, never parsed again until handled."""

    id: str
    trigger: str
    body: bytes
    received_at: float
    attempts: int = 0  # claims so far (a claim whose worker died counts too)
    error: str | None = None
    dead_at: float | None = None


@dataclass(frozen=True)
class Claim:
    event: QueuedEvent
    token: str


@dataclass(frozen=True)
class Presence:
    """A user's last connection status as CometChat reported it; ``at_ms`` orders them."""

    uid: str
    status: str
    at_ms: int
    platform: str | None

    def to_json(self) -> str:
        return json.dumps({"s": self.status, "a": self.at_ms, "p": self.platform}, separators=(",", ":"))

    @classmethod
    def from_json(cls, uid: str, raw: str | bytes) -> Presence:
        data = json.loads(raw)
        return cls(uid, str(data["s"]), int(data["a"]), data.get("p"))


def new_event_id() -> str:
    return uuid.uuid4().hex


class EventStore(Protocol):
    def enqueue(self, dedupe_key: str, event: QueuedEvent, *, remember: float = DEDUPE_SECONDS) -> bool:
        """Queue ``event`` unless ``dedupe_key`` was seen within ``remember`` seconds, in one
        atomic step; False for a duplicate (nothing queued)."""
        ...

    def claim(self, lease: float = LEASE_SECONDS) -> Claim | None:
        """The oldest visible event, hidden for ``lease`` seconds and counted as one attempt."""
        ...

    def complete(self, claim: Claim) -> bool:
        """Forget a handled event; False when the claim was lost (its lease ran out)."""
        ...

    def retry(self, claim: Claim, delay: float, error: str) -> bool:
        """Show the event again in ``delay`` seconds (by the store's clock), noting the error."""
        ...

    def bury(self, claim: Claim, error: str) -> bool:
        """Move the event to the dead letters: kept, never handled again until replayed."""
        ...

    def dead_letters(self) -> list[QueuedEvent]: ...

    def replay(self, event_id: str) -> bool:
        """A dead letter back in the queue, visible now, its attempts reset; False if unknown."""
        ...

    def depth(self) -> int:
        """Events waiting or being handled (not the dead letters)."""
        ...

    def dead_count(self) -> int: ...

    def put_presence(self, presence: Presence) -> bool:
        """Keep ``presence`` unless one at least as recent is kept already; whether it was kept."""
        ...

    def get_presence(self, uid: str) -> Presence | None: ...

    def ping(self) -> None: ...


class MemoryEventStore:
    """One process only: ``python server.py`` on the emulator (the events die with the process)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._events: dict[str, QueuedEvent] = {}
        self._visible: dict[str, float] = {}
        self._claims: dict[str, str] = {}
        self._dead: dict[str, QueuedEvent] = {}
        self._presence: dict[str, Presence] = {}

    def enqueue(self, dedupe_key: str, event: QueuedEvent, *, remember: float = DEDUPE_SECONDS) -> bool:
        now = self._clock()
        with self._lock:
            self._seen = {key: until for key, until in self._seen.items() if until > now}
            if dedupe_key in self._seen:
                return False
            self._seen[dedupe_key] = now + remember
            self._events[event.id] = event
            self._visible[event.id] = now
            return True

    def claim(self, lease: float = LEASE_SECONDS) -> Claim | None:
        now = self._clock()
        with self._lock:
            ready = [(at, event_id) for event_id, at in self._visible.items() if at <= now]
            if not ready:
                return None
            _, event_id = min(ready)
            event = self._events[event_id]
            event = QueuedEvent(event.id, event.trigger, event.body, event.received_at, event.attempts + 1, event.error)
            self._events[event_id] = event
            self._visible[event_id] = now + lease
            token = uuid.uuid4().hex
            self._claims[event_id] = token
            return Claim(event, token)

    def _holds(self, claim: Claim) -> bool:
        return self._claims.get(claim.event.id) == claim.token

    def complete(self, claim: Claim) -> bool:
        with self._lock:
            if not self._holds(claim):
                return False
            for table in (self._events, self._visible, self._claims):
                table.pop(claim.event.id, None)
            return True

    def retry(self, claim: Claim, delay: float, error: str) -> bool:
        at = self._clock() + delay
        with self._lock:
            if not self._holds(claim):
                return False
            event = self._events[claim.event.id]
            self._events[event.id] = QueuedEvent(
                event.id, event.trigger, event.body, event.received_at, event.attempts, error
            )
            self._visible[event.id] = at
            del self._claims[event.id]
            return True

    def bury(self, claim: Claim, error: str) -> bool:
        with self._lock:
            if not self._holds(claim):
                return False
            event = self._events.pop(claim.event.id)
            self._visible.pop(event.id, None)
            del self._claims[event.id]
            self._dead[event.id] = QueuedEvent(
                event.id, event.trigger, event.body, event.received_at, event.attempts, error, self._clock()
            )
            return True

    def dead_letters(self) -> list[QueuedEvent]:
        with self._lock:
            return sorted(self._dead.values(), key=lambda e: e.dead_at or 0.0)

    def replay(self, event_id: str) -> bool:
        with self._lock:
            event = self._dead.pop(event_id, None)
            if event is None:
                return False
            self._events[event_id] = QueuedEvent(event.id, event.trigger, event.body, event.received_at, 0, event.error)
            self._visible[event_id] = self._clock()
            return True

    def depth(self) -> int:
        with self._lock:
            return len(self._events)

    def dead_count(self) -> int:
        with self._lock:
            return len(self._dead)

    def put_presence(self, presence: Presence) -> bool:
        with self._lock:
            kept = self._presence.get(presence.uid)
            if kept is not None and kept.at_ms >= presence.at_ms:
                return False
            self._presence[presence.uid] = presence
            return True

    def get_presence(self, uid: str) -> Presence | None:
        with self._lock:
            return self._presence.get(uid)

    def ping(self) -> None:
        return None


MEMORY_URI = "memory://"


def event_store_for(uri: str, *, timeout: float = STORE_TIMEOUT) -> EventStore:
    """The event store in the backend a ``SESSION_STORE_URI`` names (resolved by the sessions
    section of the configuration, default included)."""
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        from .store_redis import RedisEventStore

        return RedisEventStore.from_url(uri, timeout=timeout)
    if uri.startswith("sqlite:"):
        from ..devices.sqlite import path_of
        from .store_sqlite import SqliteEventStore

        return SqliteEventStore(path_of(uri), timeout=timeout)
    if uri == MEMORY_URI:
        return MemoryEventStore()
    raise ValueError("SESSION_STORE_URI must be redis://..., sqlite:///path or memory://")
