"""Handlers run off the request, at least once: the registry, the worker thread, retries with
backoff, dead letters and their replay, presence from connection events, /readyz."""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers import as_user, service
from tests.webhook_support import PATH, basic, body, connection, message_sent, webhook_env
from token_server import create_app
from token_server.webhooks import Handlers, WebhookWorker, flask_route
from token_server.webhooks.store import MemoryEventStore, QueuedEvent
from token_server.webhooks.worker import backoff

BOUND = 30.0  # seconds: only a bound on what must not hang, never a speed claim


def wait_until(predicate, bound: float = BOUND) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, "not within the bound"
        time.sleep(0.02)


def app_with(handlers: Handlers | None = None, **env: str | None):
    """The app, with a host's own registry joined to the server's (presence, WEBHOOK_HANDLER)."""
    app = create_app(webhook_env(**env), announce=False)
    service_ = flask_route.service_of(app)
    if handlers is not None:
        for trigger, registered in handlers._by_trigger.items():
            for handler in registered:
                service_.handlers.add(trigger, handler)
    return app, service_


def queued(n: int, trigger: str = "message_sent", payload: bytes | None = None) -> QueuedEvent:
    raw = payload or body(message_sent(str(n)))
    return QueuedEvent(f"id-{n}", trigger, raw, time.time())


# ---- the registry ---------------------------------------------------------------------------


def test_an_event_goes_to_its_triggers_handlers_then_the_catch_alls_in_order() -> None:
    hooks = Handlers()
    calls: list[str] = []
    hooks.on_any(lambda e: calls.append("any"))
    hooks.on("message_sent")(lambda e: calls.append("sent-1"))
    hooks.on("*")(lambda e: calls.append("star"))
    hooks.on("message_sent")(lambda e: calls.append("sent-2"))
    hooks.on("message_edited")(lambda e: calls.append("edited"))
    for handler in hooks.for_trigger("message_sent"):
        handler(None)
    assert calls == ["sent-1", "sent-2", "any", "star"]
    assert len(hooks.for_trigger("group_created")) == 2 and len(hooks) == 5
    with pytest.raises(ValueError):
        hooks.on("")


def test_the_legacy_connection_names_reach_the_current_triggers_handlers() -> None:
    store, hooks = MemoryEventStore(), Handlers()
    seen = []
    hooks.on("user_connection_status_changed")(lambda e: seen.append((e.trigger, e.raw["trigger"])))
    payload = connection("u1", "online", 1700000000000)
    payload["trigger"] = "after_connection_status_changed"
    store.enqueue("k", queued(1, "user_connection_status_changed", body(payload)))
    WebhookWorker(store, hooks).drain()
    assert seen == [("user_connection_status_changed", "after_connection_status_changed")]


# ---- at least once, never twice for one delivery -------------------------------------------


def test_the_same_delivery_three_times_is_handled_once() -> None:
    hooks = Handlers()
    handled: list[str] = []
    hooks.on("message_sent")(lambda e: handled.append(e.message_id))
    app, service_ = app_with(hooks)
    http = app.test_client()
    try:
        for _ in range(3):
            assert http.post(PATH, data=body(message_sent("42")), headers=basic()).status_code == 200
        http.post(PATH, data=body(message_sent("43")), headers=basic())
        wait_until(lambda: len(handled) >= 2 and service_.store.depth() == 0)
    finally:
        service_.worker.stop()
    assert sorted(handled) == ["42", "43"]


def test_a_slow_handler_does_not_delay_the_answer() -> None:
    """The handler sleeps up to 10 s; both answers come while it is still sleeping."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    hooks = Handlers()

    @hooks.on("message_sent")
    def slow(event) -> None:
        started.set()
        release.wait(10)
        finished.set()

    app, service_ = app_with(hooks)
    http = app.test_client()
    try:
        first = http.post(PATH, data=body(message_sent("1")), headers=basic())
        assert first.status_code == 200
        assert started.wait(BOUND)  # the worker took it...
        second = http.post(PATH, data=body(message_sent("2")), headers=basic())
        assert second.status_code == 200 and second.json["duplicate"] is False
        assert not finished.is_set()  # ...and both answers came before it finished
    finally:
        release.set()
        service_.worker.stop()
    assert finished.is_set()


def test_a_failing_handler_is_retried_with_backoff_then_kept_as_a_dead_letter() -> None:
    store, hooks = MemoryEventStore(), Handlers()
    attempts: list[int] = []
    delays: list[int] = []

    @hooks.on("message_sent")
    def broken(event) -> None:
        attempts.append(1)
        raise RuntimeError("the archive is down")

    def no_wait(attempt: int) -> float:
        delays.append(attempt)
        return 0.0

    worker = WebhookWorker(store, hooks, max_attempts=4, backoff=no_wait)
    store.enqueue("k", queued(1))
    assert worker.drain() == 4
    assert len(attempts) == 4 and delays == [1, 2, 3]  # retried after attempts 1-3, buried after the 4th
    [dead] = store.dead_letters()
    assert dead.id == "id-1" and dead.attempts == 4 and "RuntimeError: the archive is down" in (dead.error or "")
    assert store.depth() == 0  # out of the queue, but kept


def test_a_replayed_dead_letter_is_handled_again() -> None:
    store, hooks = MemoryEventStore(), Handlers()
    fixed = threading.Event()
    handled: list[str] = []

    @hooks.on("message_sent")
    def sometimes(event) -> None:
        if not fixed.is_set():
            raise RuntimeError("not yet")
        handled.append(event.message_id)

    worker = WebhookWorker(store, hooks, max_attempts=1)
    store.enqueue("k", queued(5))
    worker.drain()
    assert store.dead_count() == 1 and handled == []
    fixed.set()
    assert store.replay("id-5")
    worker.drain()
    assert handled == ["5"] and store.dead_count() == 0 and store.depth() == 0


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]
    assert backoff(30) == 600.0


def test_a_handler_failure_waits_its_backoff_before_the_next_attempt() -> None:
    store, hooks = MemoryEventStore(), Handlers()
    hooks.on_any(lambda e: 1 / 0)
    worker = WebhookWorker(store, hooks, backoff=lambda n: 3600.0)
    store.enqueue("k", queued(1))
    assert worker.drain() == 1  # one attempt, then nothing visible for an hour
    assert store.depth() == 1 and store.dead_count() == 0


def test_the_worker_thread_goes_on_after_a_store_failure() -> None:
    store, hooks = MemoryEventStore(), Handlers()
    handled = []
    hooks.on_any(lambda e: handled.append(e.trigger))
    real_claim = store.claim
    failures = iter([True, True])

    def flaky_claim(lease: float = 60.0):
        from token_server.webhooks.store import StoreError

        if next(failures, False):
            raise StoreError("down for a moment")
        return real_claim(lease)

    store.claim = flaky_claim  # type: ignore[method-assign]
    worker = WebhookWorker(store, hooks, poll=0.01)
    store.enqueue("k", queued(1))
    worker.start()
    try:
        wait_until(lambda: handled == ["message_sent"])
    finally:
        worker.stop()


# ---- the standalone server's handler and presence --------------------------------------------


def test_webhook_handler_receives_every_event(tmp_path, monkeypatch) -> None:
    log = tmp_path / "handled.log"
    monkeypatch.setenv("WEBHOOK_TEST_LOG", str(log))
    app, service_ = app_with(WEBHOOK_HANDLER="tests.webhook_handlers:record")
    http = app.test_client()
    try:
        http.post(PATH, data=body(message_sent("1")), headers=basic())
        http.post(PATH, data=b'{"trigger": "hologram_sent"}', headers=basic())
        wait_until(lambda: log.exists() and len(log.read_text().splitlines()) == 2)
    finally:
        service_.worker.stop()
    triggers = sorted(line.split()[0] for line in log.read_text().splitlines())
    assert triggers == ["hologram_sent", "message_sent"]


def presence_app():
    app, service_ = app_with()
    service_.worker.stop()
    return app, service_


def deliver_and_handle(http, service_, *payloads) -> None:
    for payload in payloads:
        assert http.post(PATH, data=body(payload), headers=basic()).status_code == 200
    service_.worker.drain()


def test_presence_answers_the_last_status_heard() -> None:
    app, service_ = presence_app()
    http = app.test_client()
    route = "/api/cometchat/users/cometchat-uid-1/presence"
    missing = http.get(route, headers=service())
    assert missing.status_code == 404 and missing.json["error"]["code"] == "ERR_PRESENCE_UNKNOWN"
    deliver_and_handle(http, service_, connection("cometchat-uid-1", "online", 1700000000123, "android"))
    answer = http.get(route, headers=service())
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json == {
        "uid": "cometchat-uid-1",
        "status": "online",
        "at": "2023-11-14T22:13:20.123Z",
        "platform": "android",
    }


def test_an_older_event_never_overwrites_a_newer_one() -> None:
    app, service_ = presence_app()
    http = app.test_client()
    newer = connection("cometchat-uid-2", "offline", 1700000005000, "ios")
    older = connection("cometchat-uid-2", "online", 1700000001000, "web")  # delivered late (a retry)
    deliver_and_handle(http, service_, newer, older)
    answer = http.get("/api/cometchat/users/cometchat-uid-2/presence", headers=service()).json
    assert answer["status"] == "offline" and answer["at"] == "2023-11-14T22:13:25.000Z"
    latest = connection("cometchat-uid-2", "online", 1700000009000, "web")
    deliver_and_handle(http, service_, latest)
    assert http.get("/api/cometchat/users/cometchat-uid-2/presence", headers=service()).json["status"] == "online"


def test_presence_is_for_whoever_may_read_the_user() -> None:
    app, service_ = presence_app()
    http = app.test_client()
    deliver_and_handle(http, service_, connection("cometchat-uid-3", "online", 1700000000000))
    route = "/api/cometchat/users/cometchat-uid-3/presence"
    assert http.get(route).status_code == 401
    assert http.get(route, headers=basic()).status_code == 401  # the webhook's credentials open nothing else
    assert http.get(route, headers=as_user("cometchat-uid-4")).status_code == 403
    assert http.get(route, headers=as_user("cometchat-uid-3")).status_code == 200
    assert http.get("/api/cometchat/users/COMETCHAT-UID-3/presence", headers=service()).status_code == 200


def test_presence_without_the_receiver_is_404() -> None:
    http = create_app(webhook_env(WEBHOOK_CREDENTIALS=None), announce=False).test_client()
    answer = http.get("/api/cometchat/users/cometchat-uid-1/presence", headers=service())
    assert answer.status_code == 404 and answer.json["error"]["code"] == "ERR_PRESENCE_UNKNOWN"


# ---- /readyz ---------------------------------------------------------------------------------


def test_readyz_reports_dead_letters_as_degraded_never_503() -> None:
    app, service_ = app_with(WEBHOOK_HANDLER="tests.webhook_handlers:explode")
    service_.worker.stop()
    service_.worker.max_attempts = 1
    http = app.test_client()
    http.post(PATH, data=body(message_sent("1")), headers=basic())
    service_.worker.drain()
    assert service_.store.dead_count() == 1
    service_.worker.look_at_queue(now=True)
    answer = http.get("/readyz")
    assert answer.status_code == 200 and answer.json["status"] == "ready"
    assert answer.json["degraded"] == ["webhook_queue"]
    assert "1 webhook events are dead letters" in answer.json["checks"]["webhook_queue"]


def test_readyz_says_ok_for_a_quiet_queue() -> None:
    app, service_ = app_with()
    try:
        wait_until(lambda: service_.worker.note is not None)
        answer = app.test_client().get("/readyz")
    finally:
        service_.worker.stop()
    assert answer.json["checks"]["webhook_queue"] == "ok" and "degraded" not in answer.json
