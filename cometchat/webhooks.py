"""Typed webhook events: what CometChat POSTs back, parsed without any web framework.

``parse_event(payload)`` turns one decoded delivery into a frozen ``WebhookEvent`` (or the
subclass of its trigger), with CometChat's quirks normalised (``docs/cometchat-api.md``,
"Webhooks"): both envelopes (current and legacy), both names of the legacy connection event,
times as UTC datetimes whatever their unit, the string booleans of call events as booleans.
The payload as received stays on ``event.raw``. An unknown trigger parses to the base class
(CometChat adds triggers); only a payload without a ``trigger`` is refused (``InvalidWebhook``).
A malformed field of a known trigger becomes ``None``: parsing never fails on content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable, Mapping

CONNECTION_STATUS_CHANGED = "user_connection_status_changed"
MESSAGE_SENT = "message_sent"
MESSAGE_EDITED = "message_edited"
MESSAGE_DELETED = "message_deleted"
# The legacy webhooks' names for current triggers. ``before_message`` has no current twin
# (it fires before CometChat stores the message, so it carries no id): it keeps its name and
# is typed as a message event.
TRIGGER_ALIASES: Mapping[str, str] = {
    "user_connection_status_change": CONNECTION_STATUS_CHANGED,  # the legacy docs' table
    "after_connection_status_changed": CONNECTION_STATUS_CHANGED,  # the legacy docs' example
    "after_message": MESSAGE_SENT,
}
LEGACY_TRIGGERS = frozenset({*TRIGGER_ALIASES, "before_message"})
GROUP_MEMBER_TRIGGERS = frozenset(
    {
        "group_member_joined",
        "group_member_left",
        "group_member_added",
        "group_member_kicked",
        "group_member_banned",
        "group_member_unbanned",
        "group_member_scope_changed",
    }
)
GROUP_TRIGGERS = frozenset({"group_created", "group_updated", "group_deleted", "group_owner_transferred"})
BLOCK_TRIGGERS = frozenset({"user_blocked", "user_unblocked"})
# A number this large is milliseconds: as seconds it would be past the year 5000.
_MS_THRESHOLD = 100_000_000_000


class InvalidWebhook(ValueError):
    """The body is not a webhook at all: not a JSON object, or no ``trigger``."""


def normalise_trigger(name: str) -> str:
    """The current name of a trigger (a legacy alias becomes its current trigger)."""
    return TRIGGER_ALIASES.get(name, name)


def utc(value: Any, *, ms: bool | None = None) -> datetime | None:
    """A CometChat timestamp (a number, or digits in a string) as an aware UTC datetime.

    ``ms`` True or False fixes the unit; None tells it by size (presence counts
    milliseconds, the other events seconds). Anything else, or out of range: None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    millis = ms if ms is not None else value >= _MS_THRESHOLD
    try:
        return datetime.fromtimestamp(value / 1000.0 if millis else float(value), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def boolean(value: Any) -> bool | None:
    """``True``/``False`` or CometChat's ``"true"``/``"false"`` strings; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        text = str(value)
        return text or None
    return None


def _key(*parts: Any) -> str | None:
    """A dedupe key from its parts, or None when a part that identifies the event is missing."""
    if any(part is None or part == "" for part in parts):
        return None
    return ":".join(str(part) for part in parts)


@dataclass(frozen=True)
class WebhookEvent:
    """One delivery. ``trigger`` is the current name (a legacy alias normalised); the name as
    sent is ``raw["trigger"]``. ``at`` is when the event happened, as the payload says, in UTC."""

    trigger: str
    raw: Mapping[str, Any] = field(repr=False, hash=False)
    app_id: str | None = None
    at: datetime | None = None
    region: str | None = None
    webhook: str | None = None

    @property
    def data(self) -> Mapping[str, Any]:
        return _obj(self.raw.get("data"))

    @property
    def legacy(self) -> bool:
        """Sent by a legacy webhook (its own envelope and trigger names)."""
        return self.raw.get("trigger") in LEGACY_TRIGGERS

    def natural_key(self) -> str | None:
        """What identifies this event across retries (CometChat sends no event id), or None
        when the payload has nothing natural: then hash the raw body instead."""
        return None

    def _scoped(self, *parts: Any) -> str | None:
        # CometChat's own idempotency keys start with the webhook's id: two webhooks that
        # point at one URL deliver two events.
        return _key(self.trigger, self.webhook or "-", *parts)


@dataclass(frozen=True)
class ConnectionStatusChanged(WebhookEvent):
    """A user's connection went up or down (``user_connection_status_changed``).

    ``status`` is what CometChat reports (``online``, ``offline``, ...); ``action`` is
    ``connected`` or ``disconnected``; ``at`` is ``data.timestamp`` (milliseconds)."""

    uid: str | None = None
    status: str | None = None
    action: str | None = None
    platform: str | None = None
    connected_at: datetime | None = None
    presence_changed: bool | None = None

    def natural_key(self) -> str | None:
        stamp = _str(self.data.get("timestamp")) or _str(_obj(self.data.get("event")).get("timestamp"))  # legacy
        return self._scoped(self.uid, stamp, self.action or self.status, self.status or "-")


@dataclass(frozen=True)
class MessageEvent(WebhookEvent):
    """A message trigger: ``data.message`` in current webhooks, ``data`` itself in legacy ones."""

    message_id: str | None = None
    sender: str | None = None
    receiver: str | None = None
    receiver_type: str | None = None
    category: str | None = None
    type: str | None = None
    text: str | None = None
    sent_at: datetime | None = None
    message: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)

    def natural_key(self) -> str | None:
        return self._scoped(self.message_id)


@dataclass(frozen=True)
class MessageSent(MessageEvent):
    pass


@dataclass(frozen=True)
class MessageEdited(MessageEvent):
    edited_at: datetime | None = None

    def natural_key(self) -> str | None:
        # One message may be edited many times: each edit is its own event.
        return self._scoped(self.message_id, _str(self.message.get("editedAt") or self.message.get("updatedAt")))


@dataclass(frozen=True)
class MessageDeleted(MessageEvent):
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class Occupant:
    """A call participant: CometChat gives a display name, no uid (``uid`` is set only when a
    payload carries one)."""

    name: str | None
    joined_at: datetime | None = None
    left_at: datetime | None = None
    audio_call: bool | None = None
    uid: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Occupant:
        return cls(
            name=_str(data.get("name")),
            joined_at=utc(data.get("joined_at"), ms=False),
            left_at=utc(data.get("left_at"), ms=False),
            audio_call=boolean(data.get("audio_call")),
            uid=_str(data.get("uid")),
        )


@dataclass(frozen=True)
class CallEvent(WebhookEvent):
    """``call_*`` and ``meeting_*``: ``kind`` is the envelope's ``type`` (``call`` or ``meet``)."""

    kind: str | None = None
    session_id: str | None = None
    occupant: Occupant | None = None
    occupants: tuple[Occupant, ...] = ()
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def natural_key(self) -> str | None:
        call_id = _str(_obj(self.data.get("call")).get("id"))
        if call_id is not None:  # call_initiated and its kin carry the call message
            return self._scoped(call_id)
        occupant = _obj(self.data.get("occupant"))
        if occupant:
            joined, left = _str(occupant.get("joined_at")), _str(occupant.get("left_at")) or "-"
            return self._scoped(self.session_id, occupant.get("name"), joined, left)
        stamp = _str(self.data.get("destroyed_at")) or _str(self.data.get("created_at"))
        return self._scoped(self.session_id, stamp)


@dataclass(frozen=True)
class GroupMember:
    uid: str
    name: str | None = None
    scope: str | None = None
    old_scope: str | None = None


@dataclass(frozen=True)
class GroupEvent(WebhookEvent):
    """``group_*``: the group (``guid``) and who acted (``by_uid``, when sent)."""

    guid: str | None = None
    group: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)
    by_uid: str | None = None

    def natural_key(self) -> str | None:
        # Without the group's updatedAt, a second identical change could not be told from a
        # retry: leave those to the body's hash.
        return self._scoped(self.guid, _str(self.group.get("updatedAt")))


@dataclass(frozen=True)
class GroupMemberEvent(GroupEvent):
    """Members joined, left, were added, kicked, banned, unbanned or had their scope changed."""

    members: tuple[GroupMember, ...] = ()

    def natural_key(self) -> str | None:
        uids = ",".join(sorted(member.uid for member in self.members)) or None
        return self._scoped(self.guid, uids, _str(self.group.get("updatedAt")))


@dataclass(frozen=True)
class BlockEvent(WebhookEvent):
    """``user_blocked`` / ``user_unblocked``: ``by_uid`` blocked (or unblocked) ``uids``.

    No natural key: a block, an unblock and a block again look alike but for the body."""

    by_uid: str | None = None
    uids: tuple[str, ...] = ()


# ---- parsing -------------------------------------------------------------------------------


def _members(value: Any) -> tuple[GroupMember, ...]:
    """CometChat sends members as an object keyed by uid (a list is accepted too)."""
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
    members = []
    for item in items:
        item = _obj(item)
        uid = _str(item.get("uid"))
        if uid is not None:
            members.append(
                GroupMember(uid, _str(item.get("name")), _str(item.get("scope")), _str(item.get("oldScope")))
            )
    return tuple(members)


def _connection(base: dict[str, Any], data: Mapping[str, Any]) -> WebhookEvent:
    user = _obj(data.get("user"))
    current = _obj(data.get("currentConnection")) or _obj(data.get("event"))  # legacy: data.event
    action = _str(current.get("action")) or _str(current.get("type"))
    status = _str(data.get("status"))
    if status is None and action in ("connected", "disconnected"):
        status = "online" if action == "connected" else "offline"
    stamp = data.get("timestamp", current.get("timestamp"))
    # Presence counts milliseconds in current webhooks; the legacy unit is not documented.
    base["at"] = utc(stamp, ms=None if base["raw"].get("trigger") != CONNECTION_STATUS_CHANGED else True)
    return ConnectionStatusChanged(
        **base,
        uid=_str(user.get("uid")) or _str(data.get("uid")),
        status=status,
        action=action,
        platform=_str(current.get("platform")),
        connected_at=utc(current.get("connectedAt")),
        presence_changed=boolean(data.get("userPresenceChanged")),
    )


def _message(base: dict[str, Any], data: Mapping[str, Any]) -> WebhookEvent:
    message = _obj(data.get("message")) if "message" in data else data  # legacy: data is the message
    inner = _obj(message.get("data"))
    trigger = base["trigger"]
    fields: dict[str, Any] = dict(
        message_id=_str(message.get("id")),
        sender=_str(message.get("sender")),
        receiver=_str(message.get("receiver")),
        receiver_type=_str(message.get("receiverType")),
        category=_str(message.get("category")),
        type=_str(message.get("type")),
        text=_str(inner.get("text")),
        sent_at=utc(message.get("sentAt"), ms=False),
        message=message,
    )
    base["at"] = fields["sent_at"]
    if trigger == MESSAGE_EDITED:
        edited = utc(message.get("editedAt") or message.get("updatedAt"), ms=False)
        base["at"] = edited or base["at"]
        return MessageEdited(**base, **fields, edited_at=edited)
    if trigger == MESSAGE_DELETED:
        deleted = utc(message.get("deletedAt") or message.get("updatedAt"), ms=False)
        base["at"] = deleted or base["at"]
        return MessageDeleted(**base, **fields, deleted_at=deleted)
    if trigger == MESSAGE_SENT:
        return MessageSent(**base, **fields)
    return MessageEvent(**base, **fields)


def _call(base: dict[str, Any], data: Mapping[str, Any]) -> WebhookEvent:
    call = _obj(data.get("call"))
    on = _obj(_obj(_obj(_obj(call.get("data")).get("entities")).get("on")).get("entity"))
    session = _str(data.get("sessionId")) or _str(on.get("sessionid")) or _str(on.get("sessionId"))
    occupant = Occupant.from_api(_obj(data.get("occupant"))) if isinstance(data.get("occupant"), Mapping) else None
    everyone = data.get("all_occupants")
    occupants = tuple(Occupant.from_api(_obj(o)) for o in everyone) if isinstance(everyone, list) else ()
    started = utc(data.get("created_at"), ms=False)
    ended = utc(data.get("destroyed_at"), ms=False)
    moment = occupant.left_at or occupant.joined_at if occupant else None
    base["at"] = ended or moment or started or utc(call.get("sentAt"), ms=False)
    return CallEvent(
        **base,
        kind=_str(base["raw"].get("type")),
        session_id=session,
        occupant=occupant,
        occupants=occupants,
        started_at=started,
        ended_at=ended,
    )


def _group(base: dict[str, Any], data: Mapping[str, Any]) -> WebhookEvent:
    group = _obj(data.get("group"))
    base["at"] = utc(group.get("updatedAt"), ms=False)
    by = _str(_obj(data.get("by")).get("uid"))
    fields: dict[str, Any] = dict(guid=_str(group.get("guid")), group=group, by_uid=by)
    if base["trigger"] in GROUP_MEMBER_TRIGGERS:
        return GroupMemberEvent(**base, **fields, members=_members(data.get("members")))
    return GroupEvent(**base, **fields)


def _block(base: dict[str, Any], data: Mapping[str, Any]) -> WebhookEvent:
    by = _obj(data.get("by"))
    return BlockEvent(**base, by_uid=_str(by.get("uid")), uids=tuple(m.uid for m in _members(data.get("users"))))


_Parser = Callable[[dict[str, Any], Mapping[str, Any]], WebhookEvent]


def _parser_for(trigger: str) -> _Parser | None:
    if trigger == CONNECTION_STATUS_CHANGED:
        return _connection
    if trigger.startswith("message_") or trigger == "before_message":
        return _message
    if trigger.startswith(("call_", "meeting_")):
        return _call
    if trigger in GROUP_MEMBER_TRIGGERS or trigger in GROUP_TRIGGERS:
        return _group
    if trigger in BLOCK_TRIGGERS:
        return _block
    return None


def parse_event(payload: Mapping[str, Any]) -> WebhookEvent:
    """One decoded webhook body as its typed event. Raises ``InvalidWebhook`` only when the
    body is not an object or has no non-empty string ``trigger``."""
    if not isinstance(payload, Mapping):
        raise InvalidWebhook("a webhook body is a JSON object")
    sent = payload.get("trigger")
    if not isinstance(sent, str) or not sent.strip():
        raise InvalidWebhook("a webhook body names its trigger")
    trigger = normalise_trigger(sent.strip())
    base: dict[str, Any] = dict(
        trigger=trigger,
        raw=payload,
        app_id=_str(payload.get("appId")),
        at=None,
        region=_str(payload.get("region")),
        webhook=_str(payload.get("webhook")),
    )
    data = _obj(payload.get("data"))
    parser = _parser_for(trigger)
    if parser is None:
        return WebhookEvent(**base)
    message_receipt = (
        trigger.startswith("message_")
        and "message" not in data
        and trigger
        not in (
            MESSAGE_SENT,
            MESSAGE_EDITED,
            MESSAGE_DELETED,
        )
    )
    if message_receipt:  # receipts and the like: no message object, nothing typed to add
        return WebhookEvent(**base)
    return parser(base, data)


__all__ = [
    "BLOCK_TRIGGERS",
    "CONNECTION_STATUS_CHANGED",
    "GROUP_MEMBER_TRIGGERS",
    "GROUP_TRIGGERS",
    "LEGACY_TRIGGERS",
    "MESSAGE_DELETED",
    "MESSAGE_EDITED",
    "MESSAGE_SENT",
    "TRIGGER_ALIASES",
    "BlockEvent",
    "CallEvent",
    "ConnectionStatusChanged",
    "GroupEvent",
    "GroupMember",
    "GroupMemberEvent",
    "InvalidWebhook",
    "MessageDeleted",
    "MessageEdited",
    "MessageEvent",
    "MessageSent",
    "Occupant",
    "WebhookEvent",
    "boolean",
    "normalise_trigger",
    "parse_event",
    "utc",
]
