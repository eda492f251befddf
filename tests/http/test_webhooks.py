"""POST /api/cometchat/webhooks in the app: Basic Auth (401, both pairs, the per-address limit),
the size (413 past 1 MiB, not the callers' 64 KB), the body (400), 404 while unset, unknown
triggers, duplicates, the store down (503), and none of the callers' steps in the way."""

from __future__ import annotations

import io
import json
import threading

import pytest

from tests.helpers import as_user, service
from tests.stores import closed_port_url
from tests.webhook_support import (
    CREDENTIALS,
    NEXT_PASSWORD,
    NEXT_USER,
    PATH,
    basic,
    body,
    connection,
    message_sent,
    webhook_env,
)
from token_server import create_app
from token_server.ops.metrics import REGISTRY
from token_server.webhooks import MAX_BODY, flask_route
from token_server.webhooks.receiver import credentials_match


def make_app(**env: str | None):
    app = create_app(webhook_env(**env), announce=False)
    service_ = flask_route.service_of(app)
    if service_ is not None:
        service_.worker.stop()  # these tests look at the queue itself: no handler takes from it
    return app


@pytest.fixture
def app():
    return make_app()


@pytest.fixture
def http(app):
    return app.test_client()


def store_of(app):
    return flask_route.service_of(app).store


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_delivery_with_the_credentials_is_stored_before_the_200(app, http) -> None:
    answer = http.post(PATH, data=body(message_sent("101")), headers=basic())
    assert answer.status_code == 200 and answer.json == {"received": True, "duplicate": False}
    assert store_of(app).depth() == 1  # stored, waiting for a handler


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(password="wrong-password-0123456789"),
        basic(user="someone"),
        {"Authorization": "Bearer " + CREDENTIALS},
        {"Authorization": "Basic !!!not-base64"},
    ],
    ids=["missing", "wrong-password", "wrong-user", "not-basic", "bad-encoding"],
)
def test_missing_or_wrong_credentials_are_401_with_a_challenge_and_nothing_stored(app, http, headers) -> None:
    answer = http.post(PATH, data=body(message_sent("1")), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert answer.json["error"]["code"] == "ERR_UNAUTHORIZED"
    assert store_of(app).depth() == 0


def test_two_pairs_both_open_it_during_a_rotation() -> None:
    http = make_app(WEBHOOK_CREDENTIALS=f"{CREDENTIALS},{NEXT_USER}:{NEXT_PASSWORD}").test_client()
    assert http.post(PATH, data=body(message_sent("1")), headers=basic()).status_code == 200
    assert http.post(PATH, data=body(message_sent("2")), headers=basic(NEXT_USER, NEXT_PASSWORD)).status_code == 200
    # Pairs do not mix: one pair's user with the other's password is refused.
    assert http.post(PATH, data=body(message_sent("3")), headers=basic(NEXT_USER)).status_code == 401


def test_every_pair_is_compared_even_after_a_match(monkeypatch) -> None:
    compared = []
    import hmac

    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(b) or real(a, b))
    pairs = [("a", "p" * 16), ("b", "q" * 16)]
    assert credentials_match(basic("a", "p" * 16)["Authorization"], pairs)
    assert len(compared) == 2  # no early exit: the time does not tell which pair matched


def test_404_while_webhook_credentials_are_unset() -> None:
    http = make_app(WEBHOOK_CREDENTIALS=None).test_client()
    answer = http.post(PATH, data=body(message_sent("1")), headers=basic())
    assert answer.status_code == 404 and answer.is_json


def test_a_body_over_one_mebibyte_is_413_and_one_of_a_mebibyte_is_taken(app, http) -> None:
    payload = message_sent("big")
    filler = MAX_BODY - len(body(payload)) - len(', "pad": ""')
    payload["pad"] = "x" * filler
    exact = body(payload)
    assert len(exact) == MAX_BODY  # far past the callers' 64 KB cap
    assert http.post(PATH, data=exact, headers=basic()).status_code == 200
    payload["pad"] += "y"
    answer = http.post(PATH, data=body(payload), headers=basic())
    assert answer.status_code == 413 and answer.json["error"]["code"] == "ERR_BODY_TOO_LARGE"
    assert store_of(app).depth() == 1


def test_a_chunked_body_over_the_cap_is_413(app, http) -> None:
    big = body({"trigger": "message_sent", "pad": "x" * MAX_BODY})
    # No Content-Length: the length is known only by reading (a server decoding chunks says so
    # with wsgi.input_terminated).
    answer = http.post(
        PATH,
        input_stream=io.BytesIO(big),
        headers={**basic(), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert answer.status_code == 413
    assert store_of(app).depth() == 0


def test_the_credentials_are_checked_before_the_size(http) -> None:
    answer = http.post(PATH, data=b"x" * (MAX_BODY + 10), headers={"Content-Type": "application/json"})
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b'"text"', b"{}", b'{"trigger": ""}', b'{"trigger": 5}', b"\xff\xfe"]
)
def test_not_json_or_no_trigger_is_400(app, http, raw) -> None:
    answer = http.post(PATH, data=raw, headers=basic())
    assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert store_of(app).depth() == 0


def test_an_unknown_trigger_is_accepted_stored_and_counted(app, http) -> None:
    before = sample("token_server_webhooks_received_total", trigger="unknown")
    answer = http.post(PATH, data=b'{"trigger": "hologram_sent", "data": {}}', headers=basic())
    assert answer.status_code == 200
    assert store_of(app).depth() == 1
    assert sample("token_server_webhooks_received_total", trigger="unknown") == before + 1


def test_the_same_delivery_three_times_is_queued_once(app, http) -> None:
    before = sample("token_server_webhook_duplicates_total")
    answers = [http.post(PATH, data=body(message_sent("7")), headers=basic()) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json["duplicate"] for a in answers] == [False, True, True]
    assert store_of(app).depth() == 1
    assert sample("token_server_webhook_duplicates_total") == before + 2


def test_the_natural_key_makes_a_resent_event_a_duplicate_even_with_other_bytes(app, http) -> None:
    first = http.post(PATH, data=body(message_sent("8")), headers=basic())
    # The same message id and trigger, reformatted: CometChat's retry of that event.
    again = http.post(PATH, data=body(message_sent("8")).replace(b", ", b","), headers=basic())
    assert first.json["duplicate"] is False and again.json["duplicate"] is True
    other = http.post(PATH, data=body(message_sent("9")), headers=basic())
    assert other.json["duplicate"] is False and store_of(app).depth() == 2


def test_without_a_natural_key_the_body_hash_tells_deliveries_apart(app, http) -> None:
    one = b'{"trigger": "hologram_sent", "data": {"n": 1}}'
    two = b'{"trigger": "hologram_sent", "data": {"n": 2}}'
    results = [http.post(PATH, data=raw, headers=basic()).json["duplicate"] for raw in (one, two, one)]
    assert results == [False, False, True] and store_of(app).depth() == 2


def test_the_store_down_is_a_503_with_retry_after_and_logins_go_on() -> None:
    app = make_app(SESSION_STORE_URI=closed_port_url())
    http = app.test_client()
    answer = http.post(PATH, data=body(message_sent("1")), headers=basic())
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert answer.json["error"]["code"] == "ERR_STORE_UNAVAILABLE"
    # The twin: a caller's login does not need the event store.
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200


def test_none_of_the_callers_steps_apply(http) -> None:
    # No Bearer credential, another site's Origin, a browser's cross-site fetch: still received.
    headers = {**basic(), "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert http.post(PATH, data=body(message_sent("1")), headers=headers).status_code == 200


def test_per_user_limits_do_not_apply_to_deliveries() -> None:
    http = make_app(RATE_LIMIT_PER_USER="2 per minute", RATE_LIMIT_PER_ADDRESS="2 per minute").test_client()
    codes = [http.post(PATH, data=body(message_sent(str(n))), headers=basic()).status_code for n in range(5)]
    assert codes == [200] * 5
    # The callers' limit still holds for callers.
    mints = [http.post("/api/cometchat/token", headers=as_user("cometchat-uid-1")).status_code for _ in range(3)]
    assert mints[-1] == 429


def test_failed_credentials_are_limited_per_address_and_the_right_ones_still_get_in() -> None:
    http = make_app(RATE_LIMIT_AUTH_FAILURES="3 per minute").test_client()
    wrong = basic(password="wrong-password-0123456789")
    codes = [http.post(PATH, data=b"{}", headers=wrong).status_code for _ in range(5)]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]
    # The twin: the configured credentials from that same address are answered.
    assert http.post(PATH, data=body(message_sent("1")), headers=basic()).status_code == 200


def test_a_refused_delivery_counts_for_the_callers_limit_too() -> None:
    """One budget of failures per address: guessing webhook passwords and service keys adds up."""
    http = make_app(RATE_LIMIT_AUTH_FAILURES="2 per minute").test_client()
    http.post(PATH, data=b"{}", headers=basic(password="wrong-password-0123456789"))
    http.post("/api/cometchat/token/x", headers={"Authorization": "Bearer wrong-key-0123456789"})
    answer = http.post(PATH, data=b"{}", headers=basic(password="wrong-password-0123456789"))
    assert answer.status_code == 429 and "Retry-After" in answer.headers


def test_only_post() -> None:
    http = make_app().test_client()
    assert http.get(PATH, headers=basic()).status_code == 405


def test_concurrent_deliveries_of_one_event_queue_it_once(tmp_path) -> None:
    app = make_app(SESSION_STORE_URI=f"sqlite:///{tmp_path}/store.sqlite3")
    results: list[bool] = []

    def deliver() -> None:
        answer = app.test_client().post(PATH, data=body(message_sent("race")), headers=basic())
        results.append(answer.json["duplicate"])

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] + [True] * 7
    assert store_of(app).depth() == 1


def test_connection_events_are_taken_in_both_legacy_names(app, http) -> None:
    for name in ("user_connection_status_change", "after_connection_status_changed"):
        payload = connection("u1", "online", 1700000000000 + len(name))
        payload["trigger"] = name
        assert http.post(PATH, data=body(payload), headers=basic()).status_code == 200
    assert store_of(app).depth() == 2


# ---- the framework-free core, as any door (Flask, FastAPI) calls it ------------------------


def core():
    from token_server.webhooks import Receiver
    from token_server.webhooks.store import MemoryEventStore

    stored: list[int] = []
    store = MemoryEventStore()
    receiver = Receiver([("cometchat", "abcdefghijklmnop1234")], store, on_stored=lambda: stored.append(1))
    return receiver, store, stored


def test_the_core_refuses_without_credentials_whatever_the_door() -> None:
    receiver, store, stored = core()
    for headers in ({}, {"authorization": "Basic " + "x"}, {"Authorization": basic(password="w" * 20)["Authorization"]}):
        answer = receiver.receive(headers, body(message_sent("1")), "203.0.113.9")
        assert answer.status == 401 and answer.headers["WWW-Authenticate"].startswith("Basic")
    assert store.depth() == 0 and stored == []
    lower = {"authorization": basic()["Authorization"]}  # header names in any case
    assert receiver.receive(lower, body(message_sent("1")), None).status == 200 and stored == [1]


def test_the_core_refuses_a_body_past_the_cap_whatever_the_door_read() -> None:
    receiver, store, _ = core()
    answer = receiver.receive(basic(), b"{" + b" " * MAX_BODY + b"}", None)
    assert answer.status == 413 and store.depth() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"trigger": "x", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # past Python's own recursion limit
        b'{"trigger": "x", "data": ' + b"[" * 70 + b"]" * 70 + b"}",  # past MAX_DEPTH, within Python's
    ],
)
def test_a_body_nested_past_the_limit_is_400_not_500(app, http, raw) -> None:
    # An outside attacker with valid credentials got a 500 and a RecursionError traceback.
    answer = http.post(PATH, data=raw, headers=basic())
    assert answer.status_code == 400 and "nested" in answer.json["error"]["message"]
    assert store_of(app).depth() == 0


@pytest.mark.parametrize("raw", [b'{"trigger": "x", "n": NaN}', b'{"trigger": "x", "n": 1e999}'])
def test_numbers_json_cannot_carry_are_400(app, http, raw) -> None:
    assert http.post(PATH, data=raw, headers=basic()).status_code == 400


def test_a_realistic_nesting_is_accepted(app, http) -> None:
    # The twin: a delivery nested as CometChat's are, with a user's metadata, is stored.
    nested: dict = {"leaf": 1}
    for _ in range(20):
        nested = {"k": nested}
    raw = json.dumps({"trigger": "message_sent", "data": {"message": {"id": "9", "metadata": nested}}}).encode()
    assert http.post(PATH, data=raw, headers=basic()).status_code == 200
