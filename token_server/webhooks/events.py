"""The one place the receiver meets the typed events of :mod:`cometchat.webhooks`: a raw body
read as JSON and parsed, and the key that tells deliveries apart."""

from __future__ import annotations

import hashlib
from typing import Any

from cometchat.webhooks import InvalidWebhook, WebhookEvent, parse_event

from ..core.inputs import parse_json

__all__ = ["MAX_DEPTH", "InvalidWebhook", "NotJson", "TooDeep", "WebhookEvent", "dedupe_key", "parse"]


class NotJson(ValueError):
    """The body is not a JSON object."""


class TooDeep(NotJson):
    """The body nests objects and arrays past ``MAX_DEPTH``."""


# CometChat's payloads nest a handful of levels (data.message.data.metadata...); a user's
# metadata adds a few more. Far deeper is no delivery of theirs, and Python's parser would
# recurse until it fails.
MAX_DEPTH = 64


def _too_deep(value: Any, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


def load(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, parsed as strictly as the token routes' bodies (no NaN, no
    Infinity, no number that overflows a float) and at most ``MAX_DEPTH`` levels deep."""
    try:
        payload = parse_json(body)
    except RecursionError:
        raise TooDeep(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError):
        raise NotJson("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise NotJson("the body is not a JSON object")
    if _too_deep(payload, MAX_DEPTH):
        raise TooDeep(f"the body is nested more than {MAX_DEPTH} levels deep")
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
