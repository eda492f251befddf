"""The FastAPI door of the webhook receiver (token_server/webhooks/fastapi_route.py, mounted by
cometchat_router(webhooks=...)) and the presence route on the router, in process over ASGI:
each status and header the Flask door answers (tests/http/test_webhooks.py), none of the
callers' steps, the failed-credential limit and its twin, the receiver and the presence read
off the event loop, the worker started and stopped with the app."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from tests.webhook_support import (
    NEXT_PASSWORD,
    NEXT_USER,
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    basic,
    body,
    connection,
    message_sent,
)
from token_server.auth import Caller
from token_server.config import LimitSettings, Settings
from token_server.core.errors import ApiError
from token_server.deprovisioned import Deprovisioned, MemoryTombstones
from token_server.devices import DeviceTokens, TokenCipher
from token_server.devices.memory import MemorySessionStore
from token_server.fastapi import build_async_client, cometchat_router, install_error_answers
from token_server.limits import RateLimits
from token_server.stores.breaker import StoreGates
from token_server.webhooks import MAX_BODY, WebhookService, build
from token_server.webhooks.fastapi_route import mount_webhooks
from token_server.webhooks.store import EventStore, MemoryEventStore, Presence, QueuedEvent, StoreError
from token_server.wiring import build_rate_limits

API = "/api/cometchat"
PATH = API + "/webhooks"
UID = "cometchat-uid-1"


class DownStore(MemoryEventStore):
    """An event store that does not answer."""

    def enqueue(self, dedupe_key: str, event: QueuedEvent, *, remember: float = 600) -> bool:
        raise StoreError("down")

    def get_presence(self, uid: str) -> Presence | None:
        raise StoreError("down")


class ThreadNoting(MemoryEventStore):
    """Notes the thread each write and read runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def enqueue(self, dedupe_key: str, event: QueuedEvent, *, remember: float = 600) -> bool:
        self.threads.append(threading.get_ident())
        return super().enqueue(dedupe_key, event, remember=remember)

    def get_presence(self, uid: str) -> Presence | None:
        self.threads.append(threading.get_ident())
        return super().get_presence(uid)


def service_with(store: EventStore | None = None, pairs: Any = ((WEBHOOK_USER, WEBHOOK_PASSWORD),)) -> WebhookService:
    built = build(Settings(webhook_credentials=pairs), "memory://", store=store or MemoryEventStore())
    assert built is not None
    return built


async def identify(request: Request) -> Caller:
    """``Bearer service`` or ``Bearer user:<uid>``; anything else is refused."""
    value = request.headers.get("authorization", "")
    if value == "Bearer service":
        return Caller.service()
    if value.startswith("Bearer user:"):
        return Caller.user(value.removeprefix("Bearer user:"))
    raise ApiError(401, "ERR_UNAUTHORIZED", "Who are you?")


def make_app(webhooks: WebhookService | None, limits: RateLimits | None = None) -> FastAPI:
    client, _ = build_async_client(Settings(emulator=True), with_budget=False, gates=StoreGates())
    devices = DeviceTokens(MemorySessionStore(), TokenCipher.ephemeral(), max_age=3600)
    router = cometchat_router(
        client, identify, device_tokens=devices, deprovisioned=Deprovisioned(MemoryTombstones()),
        limits=limits, webhooks=webhooks,
    )
    app = FastAPI()
    app.include_router(router, prefix=API)
    install_error_answers(app)
    return app


Req = tuple[str, str, dict[str, Any]]


def call(app: FastAPI, *requests: Req) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as http:
            return [await http.request(method, path, **kwargs) for method, path, kwargs in requests]

    return asyncio.run(run())


def deliver(raw: bytes, headers: dict[str, str] | None = None) -> Req:
    return ("POST", PATH, {"content": raw, "headers": basic() if headers is None else headers})


def presence(uid: str, who: str) -> Req:
    return ("GET", f"{API}/users/{uid}/presence", {"headers": {"Authorization": f"Bearer {who}"}})


WRONG = basic(password="wrong-password-0123456789")


def test_a_delivery_is_stored_before_the_200_and_never_cached() -> None:
    service = service_with()
    answer = call(make_app(service), deliver(body(message_sent("m1"))))[0]
    assert answer.status_code == 200 and answer.json() == {"received": True, "duplicate": False}
    assert answer.headers["Cache-Control"] == "no-store" and service.store.depth() == 1


def test_the_same_delivery_three_times_is_queued_once() -> None:
    service = service_with()
    answers = call(make_app(service), *[deliver(body(message_sent("m1")))] * 3)
    assert [a.json()["duplicate"] for a in answers] == [False, True, True] and service.store.depth() == 1


@pytest.mark.parametrize("headers", [{}, WRONG, {"Authorization": "Bearer service"}], ids=["none", "wrong", "bearer"])
def test_missing_or_wrong_credentials_are_401_with_a_challenge_and_nothing_stored(headers: dict[str, str]) -> None:
    service = service_with()
    answer = call(make_app(service), deliver(body(message_sent("m1")), headers))[0]
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert answer.json()["error"]["code"] == "ERR_UNAUTHORIZED" and service.store.depth() == 0


def test_either_pair_opens_it_during_a_rotation() -> None:
    service = service_with(pairs=((WEBHOOK_USER, WEBHOOK_PASSWORD), (NEXT_USER, NEXT_PASSWORD)))
    answers = call(
        make_app(service),
        deliver(body(message_sent("m1"))),
        deliver(body(message_sent("m2")), basic(NEXT_USER, NEXT_PASSWORD)),
    )
    assert [a.status_code for a in answers] == [200, 200]


def test_404_while_webhook_credentials_are_unset() -> None:
    assert build(Settings(), "memory://") is None  # WEBHOOK_CREDENTIALS unset: no service
    answer = call(make_app(None), deliver(body(message_sent("m1"))))[0]
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "ERR_NOT_FOUND"


def padded(size: int) -> bytes:
    head = b'{"trigger": "hologram_sent", "pad": "'
    return head + b"a" * (size - len(head) - 2) + b'"}'


def test_a_body_over_one_mebibyte_is_413_and_one_of_a_mebibyte_is_taken() -> None:
    service = service_with()
    exact, over = padded(MAX_BODY), padded(MAX_BODY + 1)
    assert len(exact) == MAX_BODY
    answers = call(make_app(service), deliver(exact), deliver(over))
    assert [a.status_code for a in answers] == [200, 413]
    assert answers[1].json()["error"]["code"] == "ERR_BODY_TOO_LARGE" and service.store.depth() == 1


def test_a_streamed_body_over_the_cap_is_413_and_read_no_further() -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"trigger": "hologram_sent", "pad": "'
        for _ in range(64):  # 4 MiB offered, no Content-Length
            sent.append(1)
            yield b"a" * 65536

    service = service_with()
    answer = call(make_app(service), ("POST", PATH, {"content": chunks(), "headers": basic()}))[0]
    assert answer.status_code == 413 and service.store.depth() == 0
    assert len(sent) < 64  # the door stopped reading at the cap


def test_the_credentials_are_checked_before_the_size() -> None:
    answer = call(make_app(service_with()), deliver(padded(MAX_BODY + 10), WRONG))[0]
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"data": {}}',
        b'{"trigger": "x", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"trigger": "x", "n": NaN}',
    ],
    ids=["text", "array", "no-trigger", "nested-5000", "nan"],
)
def test_not_json_or_no_trigger_is_400(raw: bytes) -> None:
    service = service_with()
    answer = call(make_app(service), deliver(raw))[0]
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "ERR_BAD_REQUEST"
    assert service.store.depth() == 0


def test_the_store_down_is_a_503_with_retry_after_and_logins_go_on() -> None:
    app = make_app(service_with(DownStore()))
    answer, login = call(
        app,
        deliver(body(message_sent("m1"))),
        ("POST", f"{API}/token/{UID}", {"headers": {"Authorization": "Bearer service"}}),
    )
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert answer.json()["error"]["code"] == "ERR_STORE_UNAVAILABLE"
    assert login.status_code == 200  # the twin: a caller's login does not need the event store


def test_none_of_the_callers_steps_apply() -> None:
    # No caller credential, another site's Origin, a browser's cross-site fetch: still received.
    headers = {**basic(), "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    answer = call(make_app(service_with()), deliver(body(message_sent("m1")), headers))[0]
    assert answer.status_code == 200


def test_per_address_limits_for_callers_do_not_apply_to_deliveries() -> None:
    limits = build_rate_limits(LimitSettings(rate_limit_per_user="2 per minute", rate_limit_per_address="2 per minute"))
    app = make_app(service_with(), limits)
    answers = call(app, *[deliver(body(message_sent(str(n)))) for n in range(5)])
    assert [a.status_code for a in answers] == [200] * 5
    # The callers' limit still holds for callers.
    mints = call(app, *[("POST", f"{API}/token", {"headers": {"Authorization": f"Bearer user:{UID}"}})] * 3)
    assert mints[-1].status_code == 429


def test_failed_credentials_are_limited_per_address_and_the_right_ones_still_get_in() -> None:
    limits = build_rate_limits(LimitSettings(rate_limit_auth_failures="3 per minute"))
    app = make_app(service_with(), limits)
    answers = call(app, *[deliver(b"{}", WRONG)] * 5, deliver(body(message_sent("m1"))))
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429, 200]
    assert int(answers[3].headers["Retry-After"]) >= 1


def test_a_refused_delivery_counts_for_the_callers_limit_too() -> None:
    """One budget of failures per address: webhook passwords and caller credentials add up."""
    limits = build_rate_limits(LimitSettings(rate_limit_auth_failures="2 per minute"))
    app = make_app(service_with(), limits)
    answers = call(
        app,
        deliver(b"{}", WRONG),
        ("POST", f"{API}/token/x", {"headers": {"Authorization": "Bearer nobody"}}),
        deliver(b"{}", WRONG),
    )
    assert [a.status_code for a in answers] == [401, 401, 429]


def test_only_post() -> None:
    answer = call(make_app(service_with()), ("GET", PATH, {"headers": basic()}))[0]
    assert answer.status_code == 405


def test_the_store_write_and_the_presence_read_run_off_the_event_loop() -> None:
    store = ThreadNoting()
    service = service_with(store)
    app = make_app(service)
    loop_threads: list[int] = []

    @app.middleware("http")
    async def note_loop(request: Request, call_next: Any) -> Any:
        loop_threads.append(threading.get_ident())
        return await call_next(request)

    answers = call(app, deliver(body(connection(UID, "online", 1_700_000_000_000))), presence(UID, "service"))
    assert [a.status_code for a in answers] == [200, 404]  # nothing handled yet: the worker is not running
    assert len(store.threads) == 2 and not set(store.threads) & set(loop_threads)


def test_presence_answers_what_the_worker_kept_to_whoever_may_read_the_user() -> None:
    service = service_with()
    app = make_app(service)
    call(app, deliver(body(connection(UID, "online", 1_700_000_000_123, platform="android"))))
    assert service.worker.drain() == 1
    mine, service_read, other, unknown = call(
        app,
        presence(UID, f"user:{UID}"),
        presence(UID, "service"),
        presence(UID, "user:someone-else"),
        presence("nobody-heard", "service"),
    )
    assert mine.status_code == 200 and mine.headers["Cache-Control"] == "no-store"
    assert mine.json() == {"uid": UID, "status": "online", "at": "2023-11-14T22:13:20.123Z", "platform": "android"}
    assert service_read.json() == mine.json()
    assert other.status_code == 403
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ERR_PRESENCE_UNKNOWN"


def test_presence_without_a_receiver_is_404_and_a_store_down_503() -> None:
    (none,) = call(make_app(None), presence(UID, "service"))
    (down,) = call(make_app(service_with(DownStore())), presence(UID, "service"))
    assert none.status_code == 404 and none.json()["error"]["code"] == "ERR_PRESENCE_UNKNOWN"
    assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0


def workers_alive() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "webhook-worker" and thread.is_alive())


def test_the_apps_startup_starts_the_worker_and_its_shutdown_stops_it() -> None:
    service = service_with()
    app = make_app(service)
    before = workers_alive()

    async def run() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            during = workers_alive()
            handled = threading.Event()
            service.handlers.add("message_sent", lambda event: handled.set())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as http:
                assert (await http.post(PATH, content=body(message_sent("m1")), headers=basic())).status_code == 200
            assert await asyncio.to_thread(handled.wait, 30)  # handled by the started worker, not by us
        return during, workers_alive()

    during, after = asyncio.run(run())
    assert during == before + 1 and after == before


def test_mounted_on_an_app_itself_it_answers_and_starts_its_worker() -> None:
    service = service_with()
    app = FastAPI()
    mount_webhooks(app, service, path=PATH)
    before = workers_alive()

    async def run() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as http:
                answer = await http.post(PATH, content=body(message_sent("m1")), headers=basic())
            return workers_alive(), answer.status_code

    during, status = asyncio.run(run())
    assert status == 200 and during == before + 1 and workers_alive() == before
