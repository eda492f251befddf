"""The emulator delivers webhooks (cometchat.emulator.webhooks) to a real local HTTP receiver:
the connection events of the stand-in's socket, Basic Auth, CometChat's retry schedule (with
short delays), the per-attempt timeout, the bounded queue, and faults that drop, delay or
duplicate a delivery. Every wait is bounded; no assertion depends on the machine's speed
(the only time checks are lower bounds the code itself guarantees)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cometchat.emulator import EmulatorState, WebhookConfig, WebhookFault, WebhookSender, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from cometchat.webhooks import ConnectionStatusChanged, parse_event
from tests.procs import EMULATOR_KEY

PORTS = range(24100, 24999)  # this suite's own loopback ports
WAIT = 15.0  # generous: only a hang reaches it
USER, PASSWORD = "cometchat", "s3cretPassw0rd"


def bind_in_range(server_factory):
    for port in PORTS:
        try:
            return server_factory(port)
        except OSError:
            continue
    raise RuntimeError("no free port in this suite's range")


class Receiver:
    """A tiny HTTP receiver: records each POST (arrival time, headers, JSON body) and answers
    the scripted statuses in turn (200 once the script runs out); ``hold`` blocks answers."""

    def __init__(self) -> None:
        self.hits: list[dict] = []
        self.statuses: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Event()
        self.answered = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.hits.append(
                        {"at": time.monotonic(), "headers": dict(self.headers), "json": json.loads(body)}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.arrived.set()
                receiver.hold.wait(WAIT)
                receiver.answered.set()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args) -> None:
                pass

        self.server = bind_in_range(lambda port: ThreadingHTTPServer(("127.0.0.1", port), Handler))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/cometchat/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def emulator_with(config: WebhookConfig):
    state = EmulatorState(api_keys=[EMULATOR_KEY], webhooks=config)
    return state, create_emulator_app(state).test_client()


@pytest.fixture
def make(receiver):
    made: list[EmulatorState] = []

    def build(**overrides):
        settings = {"username": USER, "password": PASSWORD, "retry_delays": (0.05, 0.1), "timeout": 2.0}
        settings.update(overrides)
        state, client = emulator_with(WebhookConfig(receiver.url, **settings))
        made.append(state)
        return state, client

    yield build
    for state in made:
        assert state.webhooks is not None
        state.webhooks.close()


def token_for(client, uid: str = "cometchat-uid-1") -> str:
    answer = client.post(f"/v3/users/{uid}/auth_tokens", json={"force": True}, headers={"apikey": EMULATOR_KEY})
    return answer.get_json()["data"]["authToken"]


def connect(client, token: str, platform: str | None = None):
    body = {"platform": platform} if platform else None
    return client.put("/v3.0/me/connection", headers={"authToken": token}, json=body)


def disconnect(client, token: str):
    return client.delete("/v3.0/me/connection", headers={"authToken": token})


def idle(state: EmulatorState) -> None:
    assert state.webhooks is not None and state.webhooks.wait_idle(WAIT)


# ---- the events and their shape ------------------------------------------------------------


def test_a_connection_and_its_end_arrive_with_basic_auth_in_cometchat_s_shape(make, receiver) -> None:
    state, client = make()
    token = token_for(client)
    before = int(time.time() * 1000)
    assert connect(client, token).status_code == 200
    assert disconnect(client, token).get_json()["data"]["disconnected"] is True
    idle(state)
    assert len(receiver.hits) == 2
    online, offline = (hit["json"] for hit in receiver.hits)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert all(hit["headers"]["Authorization"] == expected for hit in receiver.hits)
    assert online["trigger"] == "user_connection_status_changed" and set(online) == {
        "trigger",
        "data",
        "appId",
        "region",
        "webhook",
    }
    assert online["data"]["timestamp"] >= before  # milliseconds, as CometChat counts presence
    assert online["data"]["currentConnection"] == {
        "action": "connected",
        "platform": "javascript",
        "connectedAt": online["data"]["timestamp"],
    }
    assert (online["data"]["status"], online["data"]["user"]["uid"]) == ("online", "cometchat-uid-1")
    assert offline["data"]["currentConnection"]["action"] == "disconnected"
    assert offline["data"]["currentConnection"]["connectedAt"] == online["data"]["timestamp"]
    events = [parse_event(hit["json"]) for hit in receiver.hits]
    assert all(isinstance(e, ConnectionStatusChanged) for e in events)
    assert [(e.uid, e.status, e.presence_changed) for e in events] == [  # type: ignore[attr-defined]
        ("cometchat-uid-1", "online", True),
        ("cometchat-uid-1", "offline", True),
    ]
    assert events[0].natural_key() != events[1].natural_key()


def test_a_user_with_another_connection_open_stays_online(make, receiver) -> None:
    state, client = make()
    phone, laptop = token_for(client), token_for(client)
    connect(client, phone, "android")
    connect(client, laptop)
    disconnect(client, phone)
    idle(state)
    seen = [(h["json"]["data"]["status"], h["json"]["data"]["userPresenceChanged"]) for h in receiver.hits]
    assert seen == [("online", True), ("online", False), ("online", False)]
    assert receiver.hits[0]["json"]["data"]["currentConnection"]["platform"] == "android"


def test_a_bad_token_connects_nothing_and_an_unknown_session_closes_quietly(make, receiver) -> None:
    state, client = make()
    refused = connect(client, "nobody_0000000000x")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "AUTH_ERR_AUTH_TOKEN_NOT_FOUND"
    assert disconnect(client, token_for(client)).get_json()["data"]["disconnected"] is False
    idle(state)
    assert receiver.hits == []


def test_a_revoked_token_s_open_connection_still_closes(make, receiver) -> None:
    state, client = make()
    token = token_for(client)
    connect(client, token)
    client.delete(f"/v3/users/cometchat-uid-1/auth_tokens/{token}", headers={"apikey": EMULATOR_KEY})
    assert disconnect(client, token).get_json()["data"]["disconnected"] is True
    idle(state)
    assert [h["json"]["data"]["currentConnection"]["action"] for h in receiver.hits] == ["connected", "disconnected"]


def test_only_the_configured_triggers_are_sent(make, receiver) -> None:
    state, client = make(triggers=frozenset({"message_sent"}))
    connect(client, token_for(client))
    idle(state)
    assert receiver.hits == [] and state.webhooks is not None and state.webhooks.stats.queued == 0


# ---- off the request, bounded ------------------------------------------------------------------


def test_the_request_never_waits_for_the_delivery(make, receiver) -> None:
    state, client = make(timeout=WAIT + 5)  # a delivery made on the request would wait it out
    receiver.hold.clear()  # the receiver takes the POST and does not answer
    assert connect(client, token_for(client)).status_code == 200
    assert not receiver.answered.is_set()  # the caller was answered before the receiver answered
    assert receiver.arrived.wait(WAIT)
    receiver.hold.set()
    idle(state)
    assert state.webhooks is not None and state.webhooks.stats.delivered == 1


def test_an_attempt_that_outlives_its_timeout_fails(make, receiver) -> None:
    state, client = make(timeout=0.2)
    receiver.hold.clear()
    connect(client, token_for(client))
    idle(state)  # returns while the receiver still holds its answer: the attempt was cut
    assert not receiver.hold.is_set()
    stats = state.webhooks.stats if state.webhooks else None
    assert stats is not None and (stats.delivered, stats.failed_attempts, stats.given_up) == (0, 1, 1)


def test_the_queue_is_bounded_and_a_caller_is_still_answered(make, receiver) -> None:
    state, client = make(queue_size=1)
    receiver.hold.clear()
    token = token_for(client)
    connect(client, token)
    assert receiver.arrived.wait(WAIT)  # the first is in flight and fills the queue
    for _ in range(3):
        assert connect(client, token).status_code == 200
    assert state.webhooks is not None and state.webhooks.stats.overflowed == 3
    receiver.hold.set()
    idle(state)
    assert len(receiver.hits) == 1


def test_an_unreachable_receiver_does_not_fail_the_connection(receiver) -> None:
    dead = bind_in_range(lambda port: _bound(port))
    url = f"http://127.0.0.1:{dead.getsockname()[1]}/hooks"
    dead.close()  # nothing listens there now
    state, client = emulator_with(WebhookConfig(url, timeout=0.5))
    try:
        assert connect(client, token_for(client)).status_code == 200
        idle(state)
        assert state.webhooks is not None and state.webhooks.stats.given_up == 1
    finally:
        assert state.webhooks is not None
        state.webhooks.close()


def _bound(port: int) -> socket.socket:
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


# ---- retries -------------------------------------------------------------------------------


def test_without_retry_on_failure_a_failed_delivery_is_not_retried(make, receiver) -> None:
    state, client = make(retry_on_failure=False)
    receiver.statuses = [500]
    connect(client, token_for(client))
    idle(state)
    assert len(receiver.hits) == 1 and state.webhooks is not None and state.webhooks.stats.given_up == 1


def test_with_retry_on_failure_two_retries_follow_the_schedule(make, receiver) -> None:
    state, client = make(retry_on_failure=True, retry_delays=(0.2, 0.4))
    receiver.statuses = [500, 503]
    connect(client, token_for(client))
    idle(state)
    assert len(receiver.hits) == 3  # failed, failed, delivered
    first, second, third = (hit["at"] for hit in receiver.hits)
    assert second - first >= 0.2 and third - second >= 0.4  # never sooner than the schedule
    assert receiver.hits[0]["json"] == receiver.hits[2]["json"]  # the same event, resent
    assert state.webhooks is not None and state.webhooks.stats.delivered == 1


def test_retries_end_after_the_schedule(make, receiver) -> None:
    state, client = make(retry_on_failure=True)
    receiver.statuses = [500, 500, 500, 500]
    connect(client, token_for(client))
    idle(state)
    assert len(receiver.hits) == 3
    stats = state.webhooks.stats if state.webhooks else None
    assert stats is not None and (stats.failed_attempts, stats.given_up, stats.delivered) == (3, 1, 0)


def test_a_wrong_password_is_a_failed_delivery(receiver) -> None:
    state, client = emulator_with(WebhookConfig(receiver.url, username=USER, password="wrong", retry_delays=()))
    receiver.statuses = [401]
    try:
        connect(client, token_for(client))
        idle(state)
        sent = receiver.hits[0]["headers"]["Authorization"]
        assert base64.b64decode(sent.split()[1]).decode() == f"{USER}:wrong"
        assert state.webhooks is not None and state.webhooks.stats.given_up == 1
    finally:
        assert state.webhooks is not None
        state.webhooks.close()


# ---- faults ------------------------------------------------------------------------------


def webhook_faults(client, *queue: dict):
    return client.post("/_emulator/faults", json={"webhook_queue": list(queue)})


def test_a_dropped_delivery_never_arrives_and_the_next_one_does(make, receiver) -> None:
    state, client = make()
    assert webhook_faults(client, {"kind": "drop"}).status_code == 200
    token = token_for(client)
    connect(client, token)
    disconnect(client, token)
    idle(state)
    assert [h["json"]["data"]["currentConnection"]["action"] for h in receiver.hits] == ["disconnected"]
    stats = client.get("/_emulator/stats").get_json()["webhooks"]
    assert (stats["dropped"], stats["delivered"]) == (1, 1)


def test_a_duplicated_delivery_arrives_as_many_times_as_asked(make, receiver) -> None:
    state, client = make()
    webhook_faults(client, {"kind": "duplicate", "copies": 3})
    connect(client, token_for(client))
    idle(state)
    assert len(receiver.hits) == 3 and len({json.dumps(h["json"]) for h in receiver.hits}) == 1
    keys = {parse_event(h["json"]).natural_key() for h in receiver.hits}
    assert len(keys) == 1 and None not in keys  # what a receiver dedupes on


def test_a_delayed_delivery_arrives_late(make, receiver) -> None:
    state, client = make()
    webhook_faults(client, {"kind": "delay", "seconds": 0.3})
    sent = time.monotonic()
    connect(client, token_for(client))
    idle(state)
    assert len(receiver.hits) == 1 and receiver.hits[0]["at"] - sent >= 0.3


@pytest.mark.parametrize(
    "fault", [{"kind": "explode"}, {"kind": "delay", "seconds": -1}, {"kind": "duplicate", "copies": 1}]
)
def test_bad_webhook_faults_are_refused(make, fault) -> None:
    _, client = make()
    assert webhook_faults(client, fault).status_code == 400


def test_webhook_faults_need_a_webhook() -> None:
    client = create_emulator_app(EmulatorState()).test_client()
    assert webhook_faults(client, {"kind": "drop"}).status_code == 400
    assert client.get("/_emulator/stats").get_json()["webhooks"] is None


# ---- configuration ---------------------------------------------------------------------------


def test_the_environment_configures_the_standalone_emulator() -> None:
    config = WebhookConfig.from_env(
        {
            "COMETCHAT_EMULATOR_WEBHOOK_URL": "http://hook:p%40ss@127.0.0.1:24999/api/cometchat/webhooks",
            "COMETCHAT_EMULATOR_WEBHOOK_RETRY": "true",
            "COMETCHAT_EMULATOR_WEBHOOK_TRIGGERS": "user_connection_status_changed, message_sent",
        }
    )
    assert config is not None and config.url == "http://127.0.0.1:24999/api/cometchat/webhooks"
    assert (config.username, config.password, config.retry_on_failure) == ("hook", "p@ss", True)
    assert config.triggers == {"user_connection_status_changed", "message_sent"}
    assert config.retry_delays == (10.0, 30.0) and "p@ss" not in repr(config)
    assert WebhookConfig.from_env({}) is None
    with pytest.raises(ValueError):
        WebhookConfig.from_env({"COMETCHAT_EMULATOR_WEBHOOK_URL": "ftp://x/y"})
    with pytest.raises(ValueError):
        WebhookConfig("http://x/y", username="only")
    assert WebhookFault.from_json({"kind": "duplicate"}).copies == 2


# ---- a transport instead of the network ----------------------------------------------------


def test_a_transport_carries_every_attempt_and_nothing_reaches_the_network() -> None:
    # An in-process receiver (a WSGI app) behind a URL no network could reach: it gets each
    # delivery, Basic Auth included, and its 503 then 200 are the attempt's outcome (retried).
    seen: list[tuple[str, str, dict]] = []
    statuses = ["503 Service Unavailable", "200 OK"]

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        seen.append((environ["HTTP_HOST"], environ.get("HTTP_AUTHORIZATION", ""), json.loads(body)))
        start_response(statuses.pop(0) if statuses else "200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    config = WebhookConfig(
        "https://receiver.invalid/hooks", USER, PASSWORD, retry_on_failure=True, retry_delays=(0.0, 0.0)
    )
    state = EmulatorState(api_keys=[EMULATOR_KEY])
    state.set_webhooks(WebhookSender(config, transport=WSGIAdapter(app)))
    client = create_emulator_app(state).test_client()
    assert connect(client, token_for(client)).status_code == 200
    idle(state)
    assert state.webhooks is not None
    assert (state.webhooks.stats.failed_attempts, state.webhooks.stats.delivered) == (1, 1)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert [(host, auth) for host, auth, _ in seen] == [("receiver.invalid", expected)] * 2
    assert seen[0][2]["trigger"] == "user_connection_status_changed"
    state.webhooks.close()


def test_set_webhooks_swaps_the_sender_and_closes_the_old_one(receiver) -> None:
    state = EmulatorState(api_keys=[EMULATOR_KEY])
    first = WebhookSender(WebhookConfig(receiver.url))
    state.set_webhooks(first)
    state.set_webhooks(None)
    assert state.webhooks is None
    assert first.send("user_connection_status_changed", {}) is False  # closed: takes nothing
