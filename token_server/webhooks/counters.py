"""The webhook receiver's Prometheus series, on the app's registry (served at ``/metrics``).

A trigger becomes a label only when it is one CometChat documents: the trigger is request
data, and a sender inventing triggers must not create series. Any other is ``unknown``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from ..ops.metrics import REGISTRY

# CometChat's documented triggers (current and legacy envelopes), as received.
KNOWN_TRIGGERS = frozenset(
    {
        "message_sent", "message_edited", "message_deleted", "message_reaction_added",
        "message_reaction_removed", "message_delivery_receipt", "message_read_receipt", "user_mentioned",
        "user_blocked", "user_unblocked", "user_connection_status_changed",
        "group_created", "group_updated", "group_deleted", "group_member_joined", "group_member_left",
        "group_member_added", "group_member_kicked", "group_member_banned", "group_member_unbanned",
        "group_member_scope_changed", "group_owner_transferred",
        "call_initiated", "call_started", "call_participant_joined", "call_participant_left", "call_ended",
        "meeting_started", "meeting_participant_joined", "meeting_participant_left", "meeting_ended",
        "recording_generated", "transcription_generated",
        "before_message", "after_message", "user_connection_status_change", "after_connection_status_changed",
    }
)  # fmt: skip
UNKNOWN = "unknown"

RECEIVED = Counter(
    "token_server_webhooks_received",
    "Webhook events accepted (stored, or recognised as a duplicate), by trigger ('unknown': not documented).",
    ["trigger"],
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "token_server_webhook_duplicates",
    "Deliveries answered 200 without queueing: the same event was received already.",
    registry=REGISTRY,
)
REFUSED = Counter(
    "token_server_webhook_refusals",
    "Webhook deliveries refused, by HTTP status (401 credentials, 400 body, 413 size, 503 store).",
    ["status"],
    registry=REGISTRY,
)
HANDLER_FAILURES = Counter(
    "token_server_webhook_handler_failures",
    "Handler runs that raised (each is retried, or buried as a dead letter), by trigger.",
    ["trigger"],
    registry=REGISTRY,
)
HANDLED = Counter(
    "token_server_webhook_events_handled", "Events every handler finished, by trigger.", ["trigger"], registry=REGISTRY
)
DEAD_LETTERED = Counter(
    "token_server_webhook_dead_letters",
    "Events moved to the dead letters after their last failed attempt.",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "token_server_webhook_queue_depth",
    "Events waiting for (or being handled by) a handler, as a worker last saw the store.",
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
DEAD_LETTERS_WAITING = Gauge(
    "token_server_webhook_dead_letters_waiting",
    "Dead letters kept in the store, waiting for `cometchat-token-server webhooks replay`.",
    registry=REGISTRY,
    multiprocess_mode="livemax",
)


def trigger_label(trigger: str) -> str:
    return trigger if trigger in KNOWN_TRIGGERS else UNKNOWN
