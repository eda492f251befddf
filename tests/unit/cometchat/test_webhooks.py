"""Typed webhook events (cometchat.webhooks): the payload fixtures in tests/data/webhooks are
written from CometChat's documented shapes (current and legacy envelopes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cometchat.webhooks import (
    BlockEvent,
    CallEvent,
    ConnectionStatusChanged,
    GroupMemberEvent,
    InvalidWebhook,
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    MessageSent,
    WebhookEvent,
    boolean,
    parse_event,
    utc,
)

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "webhooks"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_a_connection_event_counts_milliseconds_and_keeps_the_raw_payload() -> None:
    payload = load("connection_current")
    event = parse_event(payload)
    assert isinstance(event, ConnectionStatusChanged)
    assert (event.trigger, event.uid, event.status, event.action, event.platform) == (
        "user_connection_status_changed",
        "cometchat-uid-1",
        "offline",
        "disconnected",
        "javascript",
    )
    assert event.at == datetime(2023, 10, 10, 10, 51, 43, 114000, tzinfo=UTC)
    assert event.connected_at == datetime(2023, 10, 10, 10, 40, 40, 982000, tzinfo=UTC)
    assert event.presence_changed is True and event.app_id == "app123" and event.region == "eu"
    assert event.raw is payload and event.legacy is False


def test_both_legacy_names_of_the_connection_event_become_the_current_trigger() -> None:
    for name in ("after_connection_status_changed", "user_connection_status_change"):
        payload = {**load("connection_legacy"), "trigger": name}
        event = parse_event(payload)
        assert isinstance(event, ConnectionStatusChanged) and event.trigger == "user_connection_status_changed"
        assert (event.uid, event.action, event.status, event.platform) == (
            "cometchat-uid-2",
            "connected",
            "online",
            "android",
        )
        assert event.legacy is True and event.raw["trigger"] == name
        # The legacy unit is not documented: this one is seconds, told by its size.
        assert event.at == datetime(2023, 10, 10, 10, 51, 43, tzinfo=UTC)
        assert event.natural_key() is not None and "1696935103" in (event.natural_key() or "")


def test_the_connection_key_is_uid_timestamp_and_action() -> None:
    online = load("connection_current")
    key = parse_event(online).natural_key()
    assert key is not None and "cometchat-uid-1" in key and "1696935103114" in key and "disconnected" in key
    assert parse_event(json.loads(json.dumps(online))).natural_key() == key  # a retry: the same key
    later = json.loads(json.dumps(online))
    later["data"]["timestamp"] += 1
    assert parse_event(later).natural_key() != key
    other = json.loads(json.dumps(online))
    other["data"]["currentConnection"]["action"] = "connected"
    other["data"]["status"] = "online"
    assert parse_event(other).natural_key() != key


def test_a_message_event_counts_seconds_and_is_keyed_by_its_id() -> None:
    event = parse_event(load("message_sent"))
    assert isinstance(event, MessageSent)
    assert (event.message_id, event.sender, event.receiver, event.text) == (
        "1",
        "cometchat-uid-1",
        "cometchat-uid-2",
        "hi",
    )
    assert event.at == datetime(2023, 10, 10, 10, 48, 32, tzinfo=UTC) == event.sent_at
    key = event.natural_key()
    assert key is not None and key.startswith("message_sent:messages:") and key.endswith(":1")


def test_the_legacy_after_message_is_a_message_sent_with_the_message_in_data() -> None:
    event = parse_event(load("after_message_legacy"))
    assert isinstance(event, MessageSent) and event.trigger == "message_sent" and event.legacy
    assert (event.message_id, event.sender, event.text) == ("1", "cometchat-uid-5", "Hi Webhook Test")
    assert event.at == datetime(2020, 4, 9, 12, 38, 45, tzinfo=UTC)


def test_before_message_keeps_its_name_and_has_no_natural_key() -> None:
    payload = load("after_message_legacy")
    payload["trigger"] = "before_message"
    del payload["data"]["id"]
    event = parse_event(payload)
    assert type(event) is MessageEvent and event.trigger == "before_message"
    assert event.message_id is None and event.natural_key() is None


def test_each_edit_of_a_message_is_its_own_event_and_a_delete_is_typed() -> None:
    first = load("message_sent")
    first["trigger"] = "message_edited"
    first["data"]["message"]["editedAt"] = 1696935000
    second = json.loads(json.dumps(first))
    second["data"]["message"]["editedAt"] = 1696935060
    one, two = parse_event(first), parse_event(second)
    assert isinstance(one, MessageEdited) and one.edited_at == datetime(2023, 10, 10, 10, 50, tzinfo=UTC)
    assert one.at == one.edited_at and one.natural_key() != two.natural_key()
    gone = load("message_sent")
    gone["trigger"] = "message_deleted"
    gone["data"]["message"]["deletedAt"] = 1696935120
    deleted = parse_event(gone)
    assert isinstance(deleted, MessageDeleted) and deleted.deleted_at == datetime(2023, 10, 10, 10, 52, tzinfo=UTC)


def test_call_occupants_keep_their_names_and_string_booleans_become_booleans() -> None:
    event = parse_event(load("call_ended"))
    assert isinstance(event, CallEvent) and event.kind == "call" and event.session_id == "v1.us.abc"
    assert [o.name for o in event.occupants] == ["George Alan", "Andrew Joseph"]
    assert all(o.audio_call is True and o.uid is None for o in event.occupants)
    assert event.occupants[0].left_at == datetime(2023, 10, 10, 10, 42, 33, tzinfo=UTC)
    assert event.ended_at == event.at == datetime(2023, 10, 10, 10, 42, 33, tzinfo=UTC)
    assert event.natural_key() is not None and "v1.us.abc" in (event.natural_key() or "")


def test_a_meeting_participant_is_keyed_by_session_name_and_time() -> None:
    payload = load("meeting_participant_joined")
    event = parse_event(payload)
    assert isinstance(event, CallEvent) and event.kind == "meet" and event.occupant is not None
    assert (event.occupant.name, event.occupant.audio_call) == ("Andrew Joseph", False)
    assert event.at == datetime(2023, 10, 10, 10, 44, 52, tzinfo=UTC)
    other = json.loads(json.dumps(payload))
    other["data"]["occupant"]["name"] = "George Alan"  # joined in the same second
    assert parse_event(other).natural_key() != event.natural_key()


def test_group_member_events_list_members_and_who_acted() -> None:
    event = parse_event(load("group_member_kicked"))
    assert isinstance(event, GroupMemberEvent) and event.guid == "cometchat-guid-1"
    assert [m.uid for m in event.members] == ["cometchat-uid-2"] and event.by_uid == "cometchat-uid-1"
    assert event.natural_key() is not None
    for trigger in ("group_member_joined", "group_member_left", "group_member_banned", "group_member_added"):
        assert isinstance(parse_event({**load("group_member_kicked"), "trigger": trigger}), GroupMemberEvent)


def test_a_group_event_without_its_update_time_leaves_dedupe_to_the_body() -> None:
    payload = load("group_member_kicked")
    del payload["data"]["group"]["updatedAt"]
    assert parse_event(payload).natural_key() is None


def test_block_events_name_both_sides_and_have_no_natural_key() -> None:
    for trigger in ("user_blocked", "user_unblocked"):
        event = parse_event({**load("user_blocked"), "trigger": trigger})
        assert (
            isinstance(event, BlockEvent) and event.by_uid == "cometchat-uid-1" and event.uids == ("cometchat-uid-2",)
        )
        assert event.natural_key() is None


def test_an_unknown_trigger_parses_to_the_base_class() -> None:
    payload = {"trigger": "ai_assistant_replied", "data": {"x": 1}, "appId": "app123"}
    event = parse_event(payload)
    assert type(event) is WebhookEvent and event.trigger == "ai_assistant_replied"
    assert event.app_id == "app123" and event.at is None and event.natural_key() is None and event.raw is payload


def test_a_known_trigger_with_a_broken_body_still_parses() -> None:
    event = parse_event({"trigger": "user_connection_status_changed", "data": "nonsense"})
    assert isinstance(event, ConnectionStatusChanged) and event.uid is None and event.natural_key() is None


@pytest.mark.parametrize("payload", [{}, {"trigger": ""}, {"trigger": 7}, {"data": {}}, ["trigger"], "x"])
def test_a_body_without_a_trigger_is_refused_as_a_value_error(payload) -> None:
    with pytest.raises(InvalidWebhook):
        parse_event(payload)
    assert issubclass(InvalidWebhook, ValueError)


def test_times_are_utc_whatever_the_unit_and_nonsense_is_none() -> None:
    assert utc(1696935103114) == utc(1696935103).replace(microsecond=114000)  # ms told by size
    assert utc("1696937627") == datetime(2023, 10, 10, 11, 33, 47, tzinfo=UTC)  # digits in a string
    assert utc(1696935103114, ms=True) == utc(1696935103.114, ms=False)
    for bad in (None, True, "soon", -1, float("nan"), 10**30, {}):
        assert utc(bad) is None


def test_string_booleans() -> None:
    assert (boolean("true"), boolean("False"), boolean(True), boolean("yes"), boolean(1)) == (
        True,
        False,
        True,
        None,
        None,
    )
