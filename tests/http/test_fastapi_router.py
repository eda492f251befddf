"""The FastAPI router's own parts, in process (the contract over real HTTP, against the other
hosts too, is tests/test_hosts_contract.py): the host's identify in each form it takes, its
refusals in the contract's terms, the failed-authentication limit and its twin, the in-process
emulator for the async client, and that nothing blocking runs on the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, HTTPException, Request

from token_server.auth import Caller
from token_server.config import LimitSettings, Settings
from token_server.core.errors import ApiError
from token_server.deprovisioned import Deprovisioned, MemoryTombstones
from token_server.devices import DeviceTokens, TokenCipher
from token_server.devices.memory import MemorySessionStore
from token_server.fastapi import build_async_client, cometchat_router, install_error_answers
from token_server.limits import RateLimits
from token_server.stores.breaker import StoreGates
from token_server.wiring import build_rate_limits

API = "/api/cometchat"


def tombstones() -> Deprovisioned:
    return Deprovisioned(MemoryTombstones())


def device_tokens() -> DeviceTokens:
    return DeviceTokens(MemorySessionStore(), TokenCipher.ephemeral(), max_age=3600)


def make_app(identify: Any, **options: Any) -> FastAPI:
    client, _ = build_async_client(Settings(emulator=True), gates=StoreGates())
    app = FastAPI()
    router = cometchat_router(client, identify, device_tokens=device_tokens(), deprovisioned=tombstones(), **options)
    app.include_router(router, prefix=API)
    install_error_answers(app)
    return app


def call(app: FastAPI, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as http:
            return [await http.request(method, API + path, **kwargs) for method, path, kwargs in requests]

    return asyncio.run(run())


def post(path: str, **kwargs: Any) -> tuple[str, str, dict[str, Any]]:
    return ("POST", path, kwargs)


# ---- identify, in each form ---------------------------------------------------------------------


def header_user(x_user: str | None = Header(default=None)) -> Caller:
    if not x_user:
        raise HTTPException(401, "Sign in to the host first.")
    return Caller.user(x_user)


async def async_header_user(x_user: str | None = Header(default=None)) -> Caller:
    return header_user(x_user)


@pytest.mark.parametrize("dependency", [header_user, async_header_user], ids=["sync", "async"])
def test_a_fastapi_dependency_identifies_callers_and_its_refusal_is_the_contracts(dependency) -> None:
    app = make_app(Depends(dependency))
    own, other, anonymous = call(
        app,
        post("/token/alice", headers={"X-User": "alice"}),
        post("/token/bob", headers={"X-User": "alice"}),
        post("/token/alice"),
    )
    assert own.status_code == 200 and own.json()["uid"] == "alice"
    assert other.status_code == 403 and other.json()["error"]["code"] == "ERR_FORBIDDEN"
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": {"code": "ERR_UNAUTHORIZED", "message": "Sign in to the host first."}}
    assert anonymous.headers["Cache-Control"] == "no-store"


def test_a_sync_callable_runs_off_the_event_loop_and_an_async_one_on_it() -> None:
    seen: dict[str, bool] = {}

    def blocking(request: Request) -> Caller:
        try:
            asyncio.get_running_loop()
            seen["blocking on loop"] = True
        except RuntimeError:
            seen["blocking on loop"] = False
        return Caller.service()

    async def awaited(request: Request) -> Caller:
        seen["async on loop"] = asyncio.get_running_loop() is not None
        return Caller.user(request.headers["x-user"])

    assert call(make_app(blocking), post("/token/cometchat-uid-1"))[0].status_code == 200
    assert call(make_app(awaited), post("/token/carol", headers={"X-User": "carol"}))[0].status_code == 200
    assert seen == {"blocking on loop": False, "async on loop": True}


def test_an_api_error_from_identify_is_answered_as_it_is() -> None:
    def refuse(request: Request) -> Caller:
        raise ApiError(401, "ERR_INVALID_CREDENTIALS", "No such session.")

    answer = call(make_app(refuse), post("/token/cometchat-uid-1"))[0]
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "ERR_INVALID_CREDENTIALS"


def uid_not_caller(x_user: str | None = Header(default=None)) -> str:
    return "cometchat-uid-1"


@pytest.mark.parametrize("identify", [lambda request: "cometchat-uid-1", Depends(uid_not_caller)], ids=["callable", "dependency"])
def test_identify_returning_something_else_is_a_500_naming_the_mistake(identify, caplog) -> None:
    answer = call(make_app(identify), post("/token/cometchat-uid-1"))[0]
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "ERR_INTERNAL"
    assert any("unhandled error: TypeError" in record.getMessage() for record in caplog.records)


def test_identify_runs_after_the_cross_site_rule() -> None:
    called = threading.Event()

    def identify(request: Request) -> Caller:
        called.set()
        return Caller.service()

    answer = call(make_app(identify), post("/token/cometchat-uid-1", headers={"Origin": "https://evil.example"}))[0]
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "ERR_CROSS_SITE"
    assert not called.is_set()


# ---- limits --------------------------------------------------------------------------------------


def test_refused_credentials_are_limited_and_a_valid_caller_still_served() -> None:
    limits = build_rate_limits(LimitSettings(rate_limit_auth_failures="2 per minute"))
    app = make_app(Depends(header_user), limits=limits)
    answers = call(app, *[post("/token/alice")] * 3, post("/token/alice", headers={"X-User": "alice"}))
    assert [a.status_code for a in answers] == [401, 401, 429, 200]
    assert int(answers[2].headers["Retry-After"]) >= 1


def test_a_user_past_its_limit_gets_429_and_another_user_is_served() -> None:
    limits = build_rate_limits(LimitSettings(rate_limit_per_user="2 per minute"))
    app = make_app(Depends(header_user), limits=limits)
    alice = {"headers": {"X-User": "alice"}}
    answers = call(app, *[post("/token/alice", **alice)] * 3, post("/token/bob", headers={"X-User": "bob"}))
    assert [a.status_code for a in answers] == [200, 200, 429, 200]
    assert answers[2].json()["error"]["code"] == "ERR_TOO_MANY_REQUESTS"


def test_a_service_caller_costs_the_limits_no_thread_and_a_user_is_still_counted(monkeypatch) -> None:
    limits = build_rate_limits(LimitSettings(rate_limit_per_user="1 per minute"))
    checked_in: list[str] = []
    check = RateLimits.check

    def recording_check(self: RateLimits, who: Any, address: Any) -> None:
        checked_in.append(threading.current_thread().name)
        check(self, who, address)

    monkeypatch.setattr(RateLimits, "check", recording_check)
    service = make_app(lambda request: Caller.service(), limits=limits)
    assert [a.status_code for a in call(service, *[post("/token/alice")] * 3)] == [200, 200, 200]
    assert checked_in == []
    users = make_app(Depends(header_user), limits=limits)
    alice = {"headers": {"X-User": "alice"}}
    assert [a.status_code for a in call(users, *[post("/token/alice", **alice)] * 2)] == [200, 429]
    assert len(checked_in) == 2 and all(name.startswith("cometchat-router") for name in checked_in)


# ---- devices, errors, request ids -------------------------------------------------------------


def test_device_reuse_and_request_ids_on_the_async_path() -> None:
    app = make_app(lambda request: Caller.service())
    body = {"json": {"deviceId": "phone"}, "headers": {"X-Request-ID": "router-test-1"}}
    first, again, sessions = call(
        app, post("/token/cometchat-uid-1", **body), post("/token/cometchat-uid-1", **body),
        ("GET", "/users/cometchat-uid-1/sessions", {}),
    )
    assert first.json()["reused"] is False and again.json()["reused"] is True
    assert again.json()["authToken"] == first.json()["authToken"]
    assert first.headers["X-Request-ID"] == "router-test-1"
    assert [s["deviceId"] for s in sessions.json()["sessions"]] == ["phone"]


def test_the_hosts_own_404_and_405_answer_in_the_contracts_shape() -> None:
    app = make_app(lambda request: Caller.service())
    missing, wrong = call(app, ("GET", "/nothing-here", {}), ("GET", "/token", {}))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ERR_NOT_FOUND"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "ERR_METHOD_NOT_ALLOWED"
    assert "POST" in wrong.headers["Allow"]


def test_a_caller_leaving_mid_body_is_a_400_not_an_unhandled_500(caplog) -> None:
    """Starlette raises ClientDisconnect from the body stream; nobody hears the answer, but the
    log and the metrics must not call it a 500 with a traceback (seen: one per aborted upload)."""
    app = make_app(lambda request: Caller.service())
    sent: list[dict[str, Any]] = []
    arrivals = [
        {"type": "http.request", "body": b'{"name": "Al', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return arrivals.pop(0) if arrivals else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": API + "/token/alice", "raw_path": (API + "/token/alice").encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("host.test", 80),
        "headers": [(b"host", b"host.test"), (b"content-type", b"application/json"), (b"content-length", b"100")],
    }
    with caplog.at_level("INFO"):
        asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 400 and b"ERR_BAD_REQUEST" in body
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
