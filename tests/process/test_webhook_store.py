"""The event store, the same behaviour in each backend (memory, a SQLite file, a real Redis):
deduplication, claims with leases, retries, dead letters and replays, presence ordering."""

from __future__ import annotations

import time

import pytest

from tests.stores import closed_port_url, running_redis
from tests.webhook_support import redis_port
from token_server.webhooks.store import MemoryEventStore, Presence, QueuedEvent, StoreError, event_store_for
from token_server.webhooks.store_sqlite import SqliteEventStore


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with running_redis(tmp_path_factory.mktemp("redis"), redis_port()) as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "memory":
        return MemoryEventStore()
    if request.param == "sqlite":
        return SqliteEventStore(tmp_path / "events.sqlite3")
    import redis

    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushall()
    return event_store_for(url)


def event(n: int, trigger: str = "message_sent") -> QueuedEvent:
    return QueuedEvent(f"id-{n}", trigger, f'{{"trigger": "{trigger}", "n": {n}}}'.encode(), 1700000000.0 + n)


def wait_for_claim(store, lease: float = 60.0, bound: float = 20.0):
    """Poll (bounded) for a visible event: a lease that ran out makes one visible again."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        claim = store.claim(lease)
        if claim is not None:
            return claim
        time.sleep(0.05)
    return None


def test_a_key_seen_once_is_not_queued_again(store) -> None:
    assert store.enqueue("k1", event(1)) is True
    assert store.enqueue("k1", event(2)) is False
    assert store.enqueue("k2", event(3)) is True
    assert store.depth() == 2


def test_a_seen_key_is_forgotten_after_its_time(store) -> None:
    assert store.enqueue("k1", event(1), remember=0.2)
    deadline = time.monotonic() + 20
    while not store.enqueue("k1", event(2), remember=0.2):
        assert time.monotonic() < deadline, "the key was never forgotten"
        time.sleep(0.05)
    assert store.depth() == 2


def test_a_claim_hands_the_event_to_one_worker_at_a_time(store) -> None:
    store.enqueue("k1", event(1))
    first = store.claim()
    assert first is not None and first.event.id == "id-1" and first.event.body == event(1).body
    assert first.event.attempts == 1 and first.event.trigger == "message_sent"
    assert store.claim() is None  # hidden while its lease lasts
    assert store.complete(first) is True
    assert store.depth() == 0 and store.claim() is None


def test_events_are_claimed_oldest_first(store) -> None:
    for n in range(3):
        store.enqueue(f"k{n}", event(n))
        time.sleep(0.002)  # distinct arrival times, even at millisecond resolution
    assert [store.claim().event.id for _ in range(3)] == ["id-0", "id-1", "id-2"]


def test_an_event_whose_worker_died_is_claimed_again_when_its_lease_ends(store) -> None:
    store.enqueue("k1", event(1))
    lost = store.claim(lease=0.3)  # the worker holding it is killed: it never settles
    again = wait_for_claim(store)
    assert again is not None and again.event.id == lost.event.id and again.event.attempts == 2
    # The dead worker's claim no longer settles anything.
    assert store.complete(lost) is False and store.depth() == 1
    assert store.complete(again) is True and store.depth() == 0


def test_a_retry_shows_the_event_again_after_its_delay_with_the_error(store) -> None:
    store.enqueue("k1", event(1))
    claim = store.claim()
    assert store.retry(claim, 0.2, "ValueError: boom") is True
    again = wait_for_claim(store)
    assert again.event.id == "id-1" and again.event.attempts == 2 and again.event.error == "ValueError: boom"


def test_a_buried_event_is_kept_as_a_dead_letter_until_replayed(store) -> None:
    store.enqueue("k1", event(1))
    store.enqueue("k2", event(2))
    claim = store.claim()
    assert store.bury(claim, "RuntimeError: no") is True
    assert store.depth() == 1 and store.dead_count() == 1
    [dead] = store.dead_letters()
    assert dead.id == "id-1" and dead.error == "RuntimeError: no" and dead.attempts == 1 and dead.dead_at
    assert dead.body == event(1).body
    other = store.claim()
    assert other.event.id == "id-2"  # the dead letter is not handed out
    store.complete(other)
    assert store.replay("id-1") is True and store.replay("id-1") is False and store.replay("nope") is False
    back = store.claim()
    assert back.event.id == "id-1" and back.event.attempts == 1  # attempts start over
    assert store.dead_count() == 0


def test_settling_with_a_stale_claim_changes_nothing(store) -> None:
    store.enqueue("k1", event(1))
    claim = store.claim(lease=0.2)
    current = wait_for_claim(store)
    assert store.retry(claim, 0, "late") is False and store.bury(claim, "late") is False
    assert store.dead_count() == 0 and store.complete(current) is True


def test_presence_keeps_the_newest_whatever_the_order(store) -> None:
    assert store.get_presence("u1") is None
    assert store.put_presence(Presence("u1", "online", 2000, "android")) is True
    assert store.put_presence(Presence("u1", "offline", 1000, "ios")) is False  # older: ignored
    assert store.put_presence(Presence("u1", "offline", 2000, "ios")) is False  # same time: the first stays
    assert store.get_presence("u1") == Presence("u1", "online", 2000, "android")
    assert store.put_presence(Presence("u1", "offline", 3000, None)) is True
    assert store.get_presence("u1") == Presence("u1", "offline", 3000, None)
    assert store.get_presence("u2") is None


def test_a_store_out_of_reach_raises_store_error_within_its_timeout(tmp_path) -> None:
    down = event_store_for(closed_port_url(), timeout=0.25)
    with pytest.raises(StoreError):
        down.enqueue("k", event(1))
    with pytest.raises(StoreError):
        down.claim()
    unwritable = SqliteEventStore(tmp_path / "file-not-dir" / "x.sqlite3")
    (tmp_path / "file-not-dir").write_text("a file where a folder should be")
    with pytest.raises(StoreError):
        unwritable.enqueue("k", event(1))


def test_a_queued_id_without_its_event_is_dropped_not_looped_on(redis_url) -> None:
    """A Redis that lost an event's hash (evicted, flushed by hand) must not stall the queue."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    store = event_store_for(redis_url)
    store.enqueue("k1", event(1))
    store.enqueue("k2", event(2))
    client.delete("cometchat:{cometchat-webhooks}:event:id-1")
    assert store.claim().event.id == "id-2" and store.depth() == 1
