"""The one place the receiver meets the typed events of :mod:`cometchat.webhooks`: a raw body
read as JSON and parsed, and the key that tells deliveries apart."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cometchat.webhooks import InvalidWebhook, WebhookEvent, parse_event

__all__ = ["InvalidWebhook", "NotJson", "WebhookEvent", "dedupe_key", "parse"]


class NotJson(ValueError):
    """The body is not a JSON object."""


def load(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise NotJson("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise NotJson("the body is not a JSON object")
    return payload


def parse(body: bytes) -> WebhookEvent:
    """The typed event of a raw body; :class:`NotJson` or :class:`InvalidWebhook` (no trigger)."""
    return parse_event(load(body))


def dedupe_key(event: WebhookEvent, body: bytes) -> str:
    """The delivery's identity: its natural key when the trigger has one (CometChat sends no
    event id), else a hash of the raw body (a retry resends the same bytes). Hashed either way,
    so a store key never carries request text."""
    natural = event.natural_key()
    basis = ("k:" + natural).encode() if natural else b"b:" + body
    return hashlib.sha256(basis).hexdigest()
