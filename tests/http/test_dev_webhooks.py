"""The embedded default hears its own emulator (docs/demo.md, docs/webhooks.md), at the app:
the emulator's connection webhooks reach the app's own receiver in-process (its real path:
Basic Auth, the store before the 200, the worker, presence), the dev-only trace tells the demo
page what arrived, and production never turns any of it on. Every wait is bounded; none is timed."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask

from cometchat.emulator import EmulatorState, WebhookConfig, WebhookFault, WebhookSender
from cometchat.inprocess import WSGIAdapter
from tests.helpers import SERVICE_KEY
from token_server import EMULATOR, create_app
from token_server.config import load_settings
from token_server.config.webhooks import GENERATED_USER
from token_server.dev import selfwebhooks, webhooktrace
from token_server.webhooks.flask_route import service_of

WAIT = 30.0  # only a hang reaches it
PORTS = range(29000, 29999)  # this suite's loopback ports
UID = "cometchat-uid-1"


def embedded(env: dict[str, str] | None = None):
    return load_settings(env or {}, mode="embedded")


def emulator_of(app: Flask) -> EmulatorState:
    state = app.extensions[EMULATOR]
    assert state is not None
    return state


def presence(client, uid: str, status: str | None = None):
    """The presence route's answer, once it says ``status`` (the worker runs off the request)."""
    deadline = time.monotonic() + WAIT
    while True:
        answer = client.get(f"/api/cometchat/users/{uid}/presence")
        done = answer.status_code == 200 and (status is None or answer.get_json()["status"] == status)
        if done or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def connect(client, uid: str = UID) -> str:
    token = client.post(f"/api/cometchat/token/{uid}", json={}).get_json()["authToken"]
    assert client.put("/emulator/v3.0/me/connection", headers={"authToken": token}).status_code == 200
    return token


@pytest.fixture
def app():
    return create_app(embedded(), announce=False)


def test_the_operator_s_pair_wins_and_the_emulator_delivers_with_it() -> None:
    pair = "ops:" + "k" * 20
    settings = embedded({"WEBHOOK_CREDENTIALS": pair})
    assert not settings.webhook_dev_credentials
    assert settings.with_dev_credentials().webhook_credentials == (("ops", "k" * 20),)
    app = create_app(settings, announce=False)
    sender = emulator_of(app).webhooks
    assert sender is not None and (sender.config.username, sender.config.password) == ("ops", "k" * 20)


@pytest.mark.parametrize(
    "env",
    [
        {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"},
        {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_API_KEYS": SERVICE_KEY},
    ],
    ids=["production-dev", "production"],
)
def test_production_never_generates_a_pair(env) -> None:
    settings = load_settings(env)  # production, as gunicorn reads it
    assert not settings.webhook_dev_credentials
    assert settings.with_dev_credentials().webhook_credentials is None
    app = create_app(settings, announce=False)
    client = app.test_client()
    assert service_of(app) is None and emulator_of(app).webhooks is None
    assert client.post("/api/cometchat/webhooks", json={"trigger": "x"}).status_code == 404
    assert client.get("/api/dev/webhooks").status_code == 404


# ---- the emulator's webhooks reach this app's receiver ---------------------------------------


def test_a_connection_and_its_end_reach_the_receiver_and_presence_follows(app) -> None:
    client = app.test_client()
    assert client.get(f"/api/cometchat/users/{UID}/presence").status_code == 404  # nothing heard yet
    token = connect(client)
    sender = emulator_of(app).webhooks
    assert sender is not None and sender.wait_idle(WAIT)
    assert sender.stats.delivered == 1 and sender.stats.failed_attempts == 0  # the receiver said 200
    online = presence(client, UID, "online")
    assert online.status_code == 200
    assert online.get_json()["uid"] == UID and online.get_json()["platform"] == "javascript"
    assert client.delete("/emulator/v3.0/me/connection", headers={"authToken": token}).status_code == 200
    assert sender.wait_idle(WAIT)
    assert presence(client, UID, "offline").get_json()["status"] == "offline"


def test_the_deliveries_meet_the_receiver_s_basic_auth(app) -> None:
    # The same wiring with a wrong password: every attempt is refused, nothing is heard.
    state = emulator_of(app)
    config = WebhookConfig(selfwebhooks.SELF_URL, username=GENERATED_USER, password="wrong" * 4)
    state.set_webhooks(WebhookSender(config, transport=WSGIAdapter(app)))
    client = app.test_client()
    connect(client)
    assert state.webhooks is not None and state.webhooks.wait_idle(WAIT)
    assert state.webhooks.stats.delivered == 0 and state.webhooks.stats.given_up == 1
    assert client.get(f"/api/cometchat/users/{UID}/presence").status_code == 404
    assert client.get("/api/dev/webhooks").get_json()["events"] == []  # a 401 is not a delivery


def test_a_delivery_sent_twice_is_kept_once_and_the_trace_says_so(app) -> None:
    client = app.test_client()
    state = emulator_of(app)
    state.webhooks.add_faults([WebhookFault("duplicate")])
    connect(client)
    assert state.webhooks.wait_idle(WAIT) and state.webhooks.stats.delivered == 2
    events = client.get("/api/dev/webhooks?after=0").get_json()["events"]
    assert [(e["answer"], e["duplicate"]) for e in events] == [(200, False), (200, True)]
    assert {(e["uid"], e["status"], e["action"]) for e in events} == {(UID, "online", "connected")}


# ---- the dev trace --------------------------------------------------------------------------


def test_the_trace_answers_what_arrived_after_a_mark(app) -> None:
    client = app.test_client()
    assert client.get("/api/dev/webhooks").get_json() == {"events": [], "last": 0}
    token = connect(client)
    emulator_of(app).webhooks.wait_idle(WAIT)
    first = client.get("/api/dev/webhooks?after=0").get_json()
    assert first["last"] == 1 and first["events"][0]["status"] == "online"
    client.delete("/emulator/v3.0/me/connection", headers={"authToken": token})
    emulator_of(app).webhooks.wait_idle(WAIT)
    later = client.get("/api/dev/webhooks?after=1").get_json()
    assert [e["seq"] for e in later["events"]] == [2] and later["events"][0]["status"] == "offline"
    answer = client.get("/api/dev/webhooks")
    assert answer.headers["Cache-Control"].startswith("no-store")


def test_a_waiting_reader_gets_the_event_that_arrives(app) -> None:
    client = app.test_client()
    got: list[dict] = []
    reader = threading.Thread(
        target=lambda: got.append(app.test_client().get("/api/dev/webhooks?after=0&wait=10").get_json())
    )
    reader.start()
    connect(client)
    reader.join(WAIT)
    assert not reader.is_alive()
    events = got[0]["events"]
    assert events and events[0]["uid"] == UID  # a reader with no event would have none


@pytest.mark.parametrize(
    "query", ["wait=abc", "wait=11", "wait=-1", "wait=nan", "after=-1", "after=1.5", "after=x", "wait=inf"]
)
def test_bad_trace_queries_are_clear_400s_and_a_good_one_is_still_answered(app, query) -> None:
    client = app.test_client()
    before = emulator_of(app).requests
    answer = client.get("/api/dev/webhooks?" + query)
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "ERR_BAD_REQUEST"
    assert emulator_of(app).requests == before  # no upstream call
    assert client.get("/api/dev/webhooks?after=0&wait=0").status_code == 200


def test_the_trace_answers_this_machine_only(app) -> None:
    answer = app.test_client().get("/api/dev/webhooks", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert answer.status_code == 403


def test_a_failing_observer_changes_nothing_cometchat_is_told(app) -> None:
    service = service_of(app)
    assert service is not None

    def broken(event, answer) -> None:
        raise RuntimeError("observer bug")

    service.receiver.observers.insert(0, broken)
    client = app.test_client()
    connect(client)
    sender = emulator_of(app).webhooks
    assert sender.wait_idle(WAIT) and sender.stats.delivered == 1
    assert presence(client, UID, "online").status_code == 200
    assert client.get("/api/dev/webhooks").get_json()["last"] == 1  # the next observer still ran


def test_the_page_is_told_where_the_trace_is_only_when_there_is_one(app) -> None:
    assert '"webhookTrace": "/api/dev/webhooks"' in app.test_client().get("/").get_data(as_text=True)
    bare = create_app({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}, announce=False)
    assert '"webhookTrace": null' in bare.test_client().get("/").get_data(as_text=True)


def test_production_with_the_operator_s_pair_has_the_receiver_but_no_dev_trace() -> None:
    env = {
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "WEBHOOK_CREDENTIALS": "ops:" + "k" * 20,
    }
    app = create_app(load_settings(env), announce=False)
    assert service_of(app) is not None
    assert app.test_client().get("/api/dev/webhooks").status_code == 404
    assert emulator_of(app).webhooks is None  # production mounts no SDK routes: no events to send
    # Each dev tool refuses by itself outside dev mode, whoever calls it.
    settings = load_settings(env)
    assert webhooktrace.init_app(app, settings) is None
    assert selfwebhooks.init_app(app, settings, emulator_of(app)) is False
    assert emulator_of(app).webhooks is None
