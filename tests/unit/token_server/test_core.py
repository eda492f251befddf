"""The framework-free core (token_server.core): every route's rule gives the same answers
driven by the blocking client (run_sync) and by the async one (run_async), on the in-process
emulator; the one error mapping; the async driver keeps store calls off the event loop."""

from __future__ import annotations

import ast
import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from werkzeug.test import Client

from cometchat import (
    AsyncCometChatClient,
    CometChatClient,
    RateLimitedError,
    UidNotFoundError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from token_server import codes
from token_server.auth import Caller
from token_server.core import devices, tokens, users
from token_server.core.answers import Answer
from token_server.core.drive import Rule, run_async, run_sync
from token_server.core.errors import ApiError, answer_for, http_error
from token_server.core.inputs import Body, Request
from token_server.deprovisioned import Deprovisioned, MemoryTombstones
from token_server.devices import DeviceBusy, DeviceTokens, MemorySessionStore, StoreUnavailable, TokenCipher

BASE = "http://emulator.invalid/v3"
KEY = "emulator-key-for-the-core-tests"
CORE = Path(__file__).resolve().parents[3] / "token_server" / "core"

Run = Callable[[Rule[Answer]], Answer]


def service(body: Any = None, **query: str) -> Request:
    raw = b"" if body is None else json.dumps(body).encode()
    return Request(Caller.service(), Body.of(raw), query)


def answered(run: Run, rule: Callable[[], Rule[Answer]]) -> Answer:
    """The rule's answer, or the answer to its failure (what every host does)."""
    try:
        return run(rule())
    except Exception as exc:  # the rule refused, or the upstream failed: the one mapping answers
        return answer_for(exc)


def scenario(run: Run) -> list[tuple[int, Any, dict[str, str]]]:
    """Every route once, errors included; tokens replaced by their order of appearance."""
    steps: list[Callable[[], Rule[Answer]]] = [
        lambda: tokens.mint_for_uid(service({"name": "Ann"}), "ann"),
        lambda: tokens.mint_for_uid(service({"deviceId": "phone"}), "ann"),
        lambda: tokens.mint_for_uid(service({"deviceId": "phone"}), "ann"),  # reused
        lambda: tokens.mint_for_uid(service({"deviceId": "phone", "fresh": True}), "ann"),
        lambda: devices.list_sessions(service(), "ann"),
        lambda: devices.delete_session(service(), "ann", "phone"),
        lambda: devices.list_sessions(service(), "ann"),
        lambda: tokens.mint_for_uid(Request(Caller.user("bob"), Body.of(b"")), "ann"),  # 403
        lambda: tokens.mint_for_caller(Request(Caller.user("bob"), Body.of(b"{}"))),
        lambda: tokens.mint_for_caller(service()),  # 401: a service has no uid of its own
        lambda: users.create_user(service({"uid": "cat", "name": "Cat"})),
        lambda: users.create_user(service({"uid": "cat", "name": "Cat"})),  # 409
        lambda: users.get_user(service(), "cat"),
        lambda: users.get_user(service(), "nobody"),  # 404
        lambda: users.update_user(service({"name": "Kat", "avatar": None}), "cat"),
        lambda: users.update_user(service({}), "cat"),  # 400
        lambda: tokens.revoke(service({"all": True}), "cat"),
        lambda: tokens.revoke(service({"authToken": "x" * 20}), "ann"),  # 404 upstream
        lambda: users.delete_user(service(permanent="true"), "cat"),
        lambda: users.delete_user(service(permanent="maybe"), "cat"),  # 400
        lambda: users.delete_user(service(), "nobody"),  # gone already: the same success
        lambda: tokens.mint_for_uid(service(), "cat"),  # deleted is final: 404, no upstream call
        lambda: tokens.mint_for_uid(service({"deviceId": "phone"}), "cat"),  # 404
        lambda: users.create_user(Request(Caller.user("cat"), Body.of(b'{"uid": "cat", "name": "Cat"}'))),  # 403
        lambda: users.create_user(service({"uid": "cat", "name": "Cat"})),  # a service creates it again
        lambda: tokens.mint_for_uid(service(), "cat"),
        lambda: tokens.mint_for_uid(Request(Caller.service(), Body.of(b'{"name": NaN}')), "ann"),  # 400
        lambda: tokens.mint_for_uid(Request(Caller.service(), Body.of(b"{}", "text/plain")), "ann"),  # 415
        lambda: tokens.mint_for_uid(Request(Caller.service(), Body.of(b" " * 70_000)), "ann"),  # 413
    ]
    seen: dict[str, str] = {}
    transcript = []
    for step in steps:
        answer = answered(run, step)
        text = json.dumps(answer.body)
        for token in sorted(_tokens(answer.body)):
            seen.setdefault(token, f"<token {len(seen)}>")
            text = text.replace(token, seen[token])
        body = _without_clock(json.loads(text))
        transcript.append((answer.status, body, dict(answer.headers)))
    return transcript


CLOCK_FIELDS = ("createdAt", "lastUsedAt")


def _without_clock(body: Any) -> Any:
    """Seconds of the wall clock, wherever they are, as a marker: the two runs may straddle a
    second (seen in CI: a device listed with createdAt ...525 by one driver and ...526 by the other)."""
    if isinstance(body, dict):
        return {k: "<seconds>" if k in CLOCK_FIELDS and isinstance(v, int) else _without_clock(v) for k, v in body.items()}
    if isinstance(body, list):
        return [_without_clock(item) for item in body]
    return body


def _tokens(body: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "authToken" and isinstance(value, str):
                found.add(value)
            else:
                found |= _tokens(value)
    return found


def device_tokens() -> DeviceTokens:
    return DeviceTokens(MemorySessionStore(), TokenCipher.ephemeral())


def sync_run() -> Run:
    emulator = create_emulator_app(EmulatorState(api_keys=[KEY]))
    client = CometChatClient(api_key=KEY, base_url=BASE, adapter_factory=lambda: WSGIAdapter(emulator))
    store, tombstones = device_tokens(), Deprovisioned(MemoryTombstones())
    return lambda rule: run_sync(rule, client, store, deprovisioned=tombstones)


def async_transport(app: Any) -> httpx.MockTransport:
    """httpx into the emulator's WSGI app, in this process."""
    wsgi = Client(app)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = wsgi.open(str(request.url), method=request.method, headers=dict(request.headers), data=request.content)
        return httpx.Response(answer.status_code, headers=dict(answer.headers), content=answer.get_data())

    return httpx.MockTransport(handle)


def async_run(loop: asyncio.AbstractEventLoop) -> Run:
    emulator = create_emulator_app(EmulatorState(api_keys=[KEY]))
    client = AsyncCometChatClient(api_key=KEY, base_url=BASE, transport=async_transport(emulator))
    store, tombstones = device_tokens(), Deprovisioned(MemoryTombstones())
    return lambda rule: loop.run_until_complete(run_async(rule, client, store, deprovisioned=tombstones))


def test_every_rule_answers_the_same_through_both_drivers() -> None:
    loop = asyncio.new_event_loop()
    try:
        through_sync = scenario(sync_run())
        through_async = scenario(async_run(loop))
    finally:
        loop.close()
    assert through_sync == through_async
    # the device's second login reused its token; the fresh one replaced it
    assert through_sync[2][1]["authToken"] == through_sync[1][1]["authToken"]
    assert through_sync[2][1]["reused"] is True
    assert through_sync[3][1]["authToken"] != through_sync[1][1]["authToken"]
    assert [s["deviceId"] for s in through_sync[4][1]["sessions"]] == ["phone"]
    assert through_sync[6][1]["sessions"] == []
    assert all(headers["Cache-Control"] == "no-store" for _, _, headers in through_sync)


def test_statuses_of_the_scenario_in_order() -> None:
    statuses = [status for status, _, _ in scenario(sync_run())]
    assert statuses == [
        200, 200, 200, 200, 200, 200, 200, 403, 200, 401, 201, 409, 200, 404,
        200, 400, 200, 404, 200, 400, 200, 404, 404, 403, 201, 200, 400, 415, 413,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("failure", "status", "code", "retry_after"),
    [
        (UpstreamTimeoutError("slow"), 504, codes.ERR_UPSTREAM_TIMEOUT, None),
        (UidNotFoundError("gone", status=404), 404, codes.ERR_UID_NOT_FOUND, None),
        (UpstreamUnavailableError("down", status=503, retry_after=2.2), 503, codes.ERR_UPSTREAM_UNAVAILABLE, "3"),
        (RateLimitedError("busy", status=429), 503, codes.ERR_UPSTREAM_RATE_LIMITED, "5"),
        (UpstreamAuthError("key", status=401), 502, codes.ERR_UPSTREAM_MISCONFIGURED, None),
        (ApiError(418, "ERR_X", "tea", headers={"Retry-After": "7"}), 418, "ERR_X", "7"),
        (KeyError("a bug"), 500, codes.ERR_INTERNAL, None),
    ],
)
def test_the_one_mapping(failure: Exception, status: int, code: str, retry_after: str | None) -> None:
    answer = answer_for(failure)
    assert answer.status == status
    assert answer.body == {"error": {"code": code, "message": answer.body["error"]["message"]}}  # type: ignore[index]
    assert answer.headers.get("Retry-After") == retry_after
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_framework_405_keeps_its_allow_header() -> None:
    answer = http_error(405, "Method Not Allowed", allow="GET, POST")
    assert (answer.status, answer.headers["Allow"]) == (405, "GET, POST")
    assert answer.body == {
        "error": {"code": codes.ERR_METHOD_NOT_ALLOWED, "message": "This route does not accept that method."}
    }


class _Raising(DeviceTokens):
    def __init__(self, error: Exception) -> None:
        super().__init__(MemorySessionStore(), TokenCipher.ephemeral())
        self.error = error

    def login(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    def sessions(self, uid: str) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code", "retry_after"),
    [(DeviceBusy("busy"), codes.ERR_DEVICE_BUSY, "1"), (StoreUnavailable("down"), codes.ERR_STORE_UNAVAILABLE, "5")],
)
def test_device_failures_are_retryable_503s(error: Exception, code: str, retry_after: str) -> None:
    client = CometChatClient(api_key=KEY, base_url=BASE)  # never called
    rule = (
        tokens.mint_for_uid(service({"deviceId": "d"}), "ann")
        if isinstance(error, DeviceBusy)
        else (devices.list_sessions(service(), "ann"))
    )
    tombstones = Deprovisioned(MemoryTombstones())
    answer = answered(lambda r: run_sync(r, client, _Raising(error), deprovisioned=tombstones), lambda: rule)
    assert (answer.status, answer.body["error"]["code"], answer.headers["Retry-After"]) == (  # type: ignore[index]
        503,
        code,
        retry_after,
    )


class _GatedStore(MemorySessionStore):
    """A store whose mint lock waits until the test's event loop opens the gate: a call run ON
    the loop could never see it opened (the loop would be stuck in it), and the wait runs out."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate
        self.read_threads: set[int] = set()

    def acquire(self, *args: Any, **kwargs: Any) -> bool:  # every first login of a device takes it
        self.read_threads.add(threading.get_ident())
        assert self.gate.wait(30), "the store's call blocked the event loop"
        return super().acquire(*args, **kwargs)


def test_the_async_driver_keeps_store_calls_off_the_event_loop() -> None:
    gate = threading.Event()
    store = _GatedStore(gate)
    emulator = create_emulator_app(EmulatorState(api_keys=[KEY]))
    sent_from: set[int] = set()
    transport = async_transport(emulator)

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent_from.add(threading.get_ident())
            return await transport.handle_async_request(request)

    async def main() -> tuple[Answer, int]:
        client = AsyncCometChatClient(api_key=KEY, base_url=BASE, transport=Recording())
        tokens_ = DeviceTokens(store, TokenCipher.ephemeral())
        rule = tokens.mint_for_uid(service({"deviceId": "d"}), "ann")
        tombstones = Deprovisioned(MemoryTombstones())
        login = asyncio.ensure_future(run_async(rule, client, tokens_, deprovisioned=tombstones))
        await asyncio.sleep(0)  # the login is now waiting in the store, in another thread
        while not store.read_threads:
            await asyncio.sleep(0.01)
        gate.set()  # only a free loop gets here
        return await login, threading.get_ident()

    loop = asyncio.new_event_loop()
    try:
        answer, loop_thread = loop.run_until_complete(asyncio.wait_for(main(), 60))
    finally:
        loop.close()
    assert answer.status == 200 and answer.body["reused"] is False  # type: ignore[index]
    assert loop_thread not in store.read_threads  # the store ran in the executor
    assert sent_from == {loop_thread}  # the login's mint went through the async client, on the loop


def test_the_core_imports_no_web_framework() -> None:
    """Neither Flask nor werkzeug, nor the Flask side of the server (its request-bound modules)."""
    flask_side = {"flask", "werkzeug", "flask_cors", "starlette", "fastapi"}
    adapters = {"routes", "body", "errors", "nocache", "caller", "pipeline", "sameorigin", "limits", "requestid"}
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.ImportFrom) and node.level == 2:  # from the token_server package
                names = [node.module] if node.module else [alias.name for alias in node.names]
                assert not {name.split(".")[0] for name in names} & adapters, (path.name, names)
                continue
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in flask_side, (path.name, name)


ROOT = CORE.parent.parent


def code_blocks(markdown: str, after: str) -> list[str]:
    """The python blocks of the section that starts at heading ``after``."""
    section = markdown.split(after, 1)[1].split("\n#", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


def test_the_client_docs_fastapi_example_answers_with_the_one_mapping() -> None:
    (block,) = code_blocks((ROOT / "docs" / "client.md").read_text(), "### FastAPI")
    tree = ast.parse(block)
    imported = {
        (node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert ("token_server.core.errors", "answer_for") in imported
    assert "HTTPException" not in block  # no status of its own: the server's, through answer_for


def test_the_rules_embedding_md_lists_exist() -> None:
    text = (ROOT / "docs" / "embedding.md").read_text()
    (block,) = code_blocks(text, "## Any other framework: the core")
    ast.parse(block)
    listed = text.split("The rules:", 1)[1].split("Identifying the caller", 1)[0]
    modules = {"tokens": tokens, "users": users, "devices": devices}
    current = None
    names = [name for name in listed.split("`")[1::2] if name != "Request.query"]
    assert len(names) == 9
    for name in names:
        module, _, function = name.rpartition(".")
        current = modules.get(module, current)
        assert callable(getattr(current, function)), name


def test_the_readme_map_names_paths_that_exist() -> None:
    text = (ROOT / "README.md").read_text().split("## Where things are", 1)[1].split("```")[1]
    for line in text.strip().splitlines():
        path = line.split()[0]
        assert (ROOT / path).exists(), path


def test_concurrent_device_logins_are_not_queued_behind_a_few_threads() -> None:
    """Each device login holds a thread while its mint is upstream; 40 at once (more than the
    loop's default executor ever has: min(32, CPUs + 4)) must all reach the upstream together."""
    logins = 40
    emulator = create_emulator_app(EmulatorState(api_keys=[KEY]))
    forward = async_transport(emulator)
    state = {"mints": 0}

    async def main() -> list[Answer]:
        all_in = asyncio.Event()

        async def handle(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/auth_tokens") or request.url.path.endswith("/users"):
                state["mints"] += 1
                if state["mints"] == logins:
                    all_in.set()
                await asyncio.wait_for(all_in.wait(), 30)  # fails the logins when they were queued
            return await forward.handle_async_request(request)

        client = AsyncCometChatClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(handle))
        store = device_tokens()
        rules = [tokens.mint_for_uid(service({"deviceId": f"d{n}"}), "ann") for n in range(logins)]
        tombstones = Deprovisioned(MemoryTombstones())
        return await asyncio.gather(*(run_async(rule, client, store, deprovisioned=tombstones) for rule in rules))

    loop = asyncio.new_event_loop()
    try:
        answers = loop.run_until_complete(main())
    finally:
        loop.close()
    assert [a.status for a in answers] == [200] * logins
    assert len({a.body["authToken"] for a in answers}) == logins  # type: ignore[index]
