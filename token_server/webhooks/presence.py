"""Presence from the connection events: the built-in handler that keeps each user's last
reported status, and what ``GET /api/cometchat/users/<uid>/presence`` answers.

CometChat does not promise order, and retries come 10 s and 30 s late: a status is kept only
when its ``data.timestamp`` is newer than the one kept (the store compares and sets in one
step), so an older event never overwrites a newer one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from cometchat.webhooks import ConnectionStatusChanged

from .. import codes
from ..core.errors import ApiError
from .handlers import Handlers
from .store import EventStore, Presence, StoreError

log = logging.getLogger("token_server.webhooks")

CONNECTION_TRIGGER = "user_connection_status_changed"


def presence_of(event: ConnectionStatusChanged) -> Presence | None:
    """What to keep from one event; None when it lacks a uid, a status or a time to order it by."""
    at = event.at
    if not event.uid or not event.status or at is None:
        return None
    return Presence(event.uid.lower(), str(event.status), int(at.timestamp() * 1000), event.platform)


class PresenceKeeper:
    """The handler: registered by the server on the connection trigger."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def __call__(self, event: Any) -> None:
        if not isinstance(event, ConnectionStatusChanged):
            return
        presence = presence_of(event)
        if presence is None:
            log.warning("connection event without a uid, status or timestamp: presence not kept")
            return
        self.store.put_presence(presence)

    def register(self, handlers: Handlers) -> None:
        handlers.add(CONNECTION_TRIGGER, self)


def to_answer(presence: Presence) -> dict[str, Any]:
    """The route's body: ``at`` as ISO-8601 UTC with milliseconds (CometChat counts them here)."""
    at = datetime.fromtimestamp(presence.at_ms / 1000, UTC)
    return {
        "uid": presence.uid,
        "status": presence.status,
        "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "platform": presence.platform,
    }


def presence_body(store: EventStore | None, uid: str) -> dict[str, Any]:
    """What the presence route answers for ``uid`` (the caller authorised already), from the
    event store (None: no receiver configured, nothing heard); 404 when nothing was heard, 503
    when the store does not answer. A blocking store call: every door runs it off its loop."""
    try:
        presence = store.get_presence(uid) if store is not None else None
    except StoreError:
        raise ApiError(
            503,
            codes.ERR_STORE_UNAVAILABLE,
            "The event store is not answering; try again shortly.",
            headers={"Retry-After": "5"},
        ) from None
    if presence is None:
        raise ApiError(404, codes.ERR_PRESENCE_UNKNOWN, "No connection status was heard for this user.")
    return to_answer(presence)
