"""CometChat's webhooks, received: stored before the 200, deduplicated, handled off the request
by a worker thread, at least once (docs/webhooks.md).

Framework-free parts, each a module of its own: :mod:`.receiver` (headers and body in, an
answer out), :mod:`.store` (the queue in the device store's backend), :mod:`.handlers` (the
registry), :mod:`.worker` (the runner), :mod:`.presence` (the built-in presence keeper),
:mod:`.service` (all of them from the settings). The Flask door is :mod:`.flask_route`.
"""

from __future__ import annotations

from .handlers import ANY, Handlers
from .receiver import MAX_BODY, Answer, Receiver
from .service import WebhookService, build
from .store import EventStore, Presence, QueuedEvent, StoreError, event_store_for
from .worker import WebhookWorker

__all__ = [
    "ANY",
    "MAX_BODY",
    "Answer",
    "EventStore",
    "Handlers",
    "Presence",
    "QueuedEvent",
    "Receiver",
    "StoreError",
    "WebhookService",
    "WebhookWorker",
    "build",
    "event_store_for",
]
