"""``POST /api/cometchat/webhooks``, framework-free: headers and raw body in, an :class:`Answer` out.

In this order: Basic Auth against ``WEBHOOK_CREDENTIALS`` (401 with ``WWW-Authenticate``; a
door wraps it in its failed-authentication limit), the size (413 over ``MAX_BODY``), JSON with a
``trigger`` (400), then the store: the event is written (or recognised as a delivery already
seen) BEFORE the 200, so an acknowledged event is never lost; a store that does not answer is a
503 with ``Retry-After``, so CometChat retries (with ``retryOnFailure`` on). No handler runs
here: the answer waits only on one bounded store write.

A door (the Flask route, a FastAPI router) reads the body itself, at most ``MAX_BODY + 1``
bytes, and passes the announced ``Content-Length`` so a body announced too large is refused
before it is read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .. import codes
from . import counters
from .events import MAX_DEPTH, InvalidWebhook, NotJson, TooDeep, WebhookEvent, dedupe_key, parse
from .store import EventStore, QueuedEvent, StoreError, new_event_id

log = logging.getLogger("token_server.webhooks")

MAX_BODY = 1024 * 1024  # CometChat's payloads are a few KB; a message with its metadata stays far below
RETRY_AFTER = "10"  # CometChat's first retry comes after 10 s whatever we say; say the same
REALM = 'Basic realm="cometchat-webhooks", charset="UTF-8"'
# Told each delivery that got as far as the store, with its answer (200 new, 200 duplicate, 503).
Observer = Callable[[WebhookEvent, "Answer"], None]


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Answer:
    counters.REFUSED.labels(str(status)).inc()
    return Answer(status, {"error": {"code": code, "message": message}}, dict(headers or {}))


def unauthorized() -> Answer:
    return _error(
        401,
        codes.ERR_UNAUTHORIZED,
        "Send the Basic Auth credentials configured for this webhook.",
        {"WWW-Authenticate": REALM},
    )


def too_large() -> Answer:
    return _error(413, codes.ERR_BODY_TOO_LARGE, f"A webhook body is at most {MAX_BODY} bytes.")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def credentials_match(authorization: str | None, pairs: Sequence[tuple[str, str]]) -> bool:
    """Basic Auth against every configured pair, each compared in constant time (no early exit
    across pairs either, so the time says nothing about which pair came close)."""
    if not authorization:
        return False
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    matched = False
    for user, password in pairs:
        expected = f"{user}:{password}".encode()
        matched |= hmac.compare_digest(decoded, expected)
    return matched


class Receiver:
    def __init__(
        self,
        credentials: Sequence[tuple[str, str]],
        store: EventStore,
        *,
        on_stored: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not credentials:
            raise ValueError("the receiver needs at least one user:password pair")
        self.credentials = tuple(credentials)
        self.store = store
        self._on_stored = on_stored
        self._clock = clock
        # Watchers of the deliveries (the dev-mode demo page's trace); never part of the answer.
        self.observers: list[Observer] = []

    def authorized(self, headers: Mapping[str, str]) -> bool:
        return credentials_match(_header(headers, "Authorization"), self.credentials)

    def receive(self, headers: Mapping[str, str], raw_body: bytes, client_address: str | None = None) -> Answer:
        """One delivery. ``raw_body`` may be cut at ``MAX_BODY + 1`` bytes by the door: one byte
        over is enough to refuse it."""
        if not self.authorized(headers):
            return unauthorized()
        if len(raw_body) > MAX_BODY:
            return too_large()
        try:
            event = parse(raw_body)
        except TooDeep:
            return _error(400, codes.ERR_BAD_REQUEST, f"A webhook body is nested at most {MAX_DEPTH} levels deep.")
        except NotJson:
            return _error(400, codes.ERR_BAD_REQUEST, "A webhook body is a JSON object.")
        except InvalidWebhook:
            return _error(400, codes.ERR_BAD_REQUEST, "A webhook body carries a trigger.")
        counters.RECEIVED.labels(counters.trigger_label(event.trigger)).inc()
        answer = self._keep(event, raw_body, client_address)
        self._tell(event, answer)
        return answer

    def _keep(self, event: WebhookEvent, raw_body: bytes, client_address: str | None) -> Answer:
        queued = QueuedEvent(new_event_id(), event.trigger, raw_body, self._clock())
        try:
            stored = self.store.enqueue(dedupe_key(event, raw_body), queued)
        except StoreError as exc:
            log.error("webhook %s from %s: the event store did not answer (%s)", event.trigger, client_address, exc)
            return _error(
                503,
                codes.ERR_STORE_UNAVAILABLE,
                "The event store is not answering; deliver again later.",
                {"Retry-After": RETRY_AFTER},
            )
        if not stored:
            counters.DUPLICATES.inc()
            return Answer(200, {"received": True, "duplicate": True})
        self._on_stored()
        return Answer(200, {"received": True, "duplicate": False})

    def _tell(self, event: WebhookEvent, answer: Answer) -> None:
        for observe in self.observers:
            try:
                observe(event, answer)
            except Exception:  # a watcher's bug never changes what CometChat is told
                log.exception("a webhook observer failed")
