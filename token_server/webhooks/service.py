"""The receiver's parts wired together from the settings, for any door (the Flask route here,
a FastAPI router): the store, the handlers (presence built in, ``WEBHOOK_HANDLER`` for the
standalone server, a host app's own registry), the receiver and the worker."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import WebhookSettings
from ..config.webhooks import import_handler
from .handlers import Handlers
from .presence import PresenceKeeper
from .receiver import Receiver
from .store import EventStore, event_store_for
from .worker import WebhookWorker


@dataclass(frozen=True)
class WebhookService:
    receiver: Receiver
    store: EventStore
    handlers: Handlers
    worker: WebhookWorker


def build(
    settings: WebhookSettings,
    session_store_uri: str,
    handlers: Handlers | None = None,
    *,
    store: EventStore | None = None,
) -> WebhookService | None:
    """None while ``WEBHOOK_CREDENTIALS`` is unset (the route then answers 404). The events go
    to the store ``session_store_uri`` names (the device store's, resolved by the configuration).
    ``handlers``: a host app's registry; the presence keeper and ``WEBHOOK_HANDLER`` join it."""
    if not settings.webhook_credentials:
        return None
    store = store or event_store_for(session_store_uri)
    handlers = handlers if handlers is not None else Handlers()
    PresenceKeeper(store).register(handlers)
    if settings.webhook_handler:
        handlers.on_any(import_handler(settings.webhook_handler))
    worker = WebhookWorker(store, handlers)
    receiver = Receiver(settings.webhook_credentials, store, on_stored=worker.wake)
    return WebhookService(receiver, store, handlers, worker)
