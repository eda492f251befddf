"""Dev mode on the embedded emulator: the emulator's webhooks go to this server's own receiver.

The emulator's sender posts each event, with the receiver's Basic Auth pair, through
:class:`cometchat.inprocess.WSGIAdapter` around this very app: no socket and no port to know,
yet the delivery takes the receiver's whole real path (the app's request steps, Basic Auth,
the store before the 200, deduplication, the worker and its handlers, presence included).
CometChat's ``retryOnFailure`` is on, so a 503 (the store down) is delivered again.
"""

from __future__ import annotations

from flask import Flask

from cometchat.emulator import EmulatorState, WebhookConfig, WebhookSender
from cometchat.inprocess import WSGIAdapter

from ..config import Settings
from ..webhooks.flask_route import WEBHOOK_PATH, service_of

# "localhost": the dev-mode guard takes only loopback names. The adapter carries every URL,
# so this one never reaches the network.
SELF_URL = "http://localhost" + WEBHOOK_PATH


def init_app(app: Flask, settings: Settings, state: EmulatorState) -> bool:
    """Point ``state``'s webhooks at ``app``'s receiver (dev mode, receiver on); True if done."""
    if not settings.dev or service_of(app) is None or not settings.webhook_credentials:
        return False
    user, password = settings.webhook_credentials[0]  # the current pair (the first, while rotating)
    config = WebhookConfig(
        SELF_URL,
        username=user,
        password=password,
        retry_on_failure=True,
        app_id=settings.app_id or "emulator",
        region=settings.region or "us",
    )
    state.set_webhooks(WebhookSender(config, transport=WSGIAdapter(app)))
    return True
