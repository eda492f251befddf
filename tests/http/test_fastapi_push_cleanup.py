"""Through the FastAPI router (the async driver, the device store's thread calling the loop's
client): every revoke deletes the token's push registrations first, at the in-process emulator,
as the Flask routes do (tests/process/test_push_cleanup.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from token_server.auth import Caller
from token_server.config import Settings
from token_server.deprovisioned import Deprovisioned, MemoryTombstones
from token_server.devices import DeviceTokens, TokenCipher
from token_server.devices.memory import MemorySessionStore
from token_server.fastapi import build_async_client, cometchat_router
from token_server.stores.breaker import StoreGates

API = "/api/cometchat"
UID = "cometchat-uid-1"


def as_service(request: Request) -> Caller:
    return Caller.service()


@pytest.mark.parametrize(
    "revoke",
    [
        ("DELETE", f"{API}/users/{UID}/sessions/phone", {}),
        ("POST", f"{API}/token/{UID}/revoke", {"json": {"all": True}}),
        ("DELETE", f"{API}/users/{UID}", {}),
    ],
    ids=["device", "all", "delete-user"],
)
def test_a_revoke_through_the_router_takes_the_push_tokens(revoke: tuple[str, str, dict[str, Any]]) -> None:
    client, emulator = build_async_client(Settings(emulator=True), with_budget=False, gates=StoreGates())
    assert emulator is not None
    devices = DeviceTokens(MemorySessionStore(), TokenCipher.ephemeral(), max_age=3600)
    app = FastAPI()
    router = cometchat_router(client, as_service, device_tokens=devices, deprovisioned=Deprovisioned(MemoryTombstones()))
    app.include_router(router, prefix=API)

    async def run() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as http:
            login = await http.post(f"{API}/token/{UID}", json={"deviceId": "phone"})
            assert login.status_code == 200, login.text
            await client.register_push_token(login.json()["authToken"], "fcm-phone", "fcm")
            assert emulator.push.count(UID) == 1
            method, path, kwargs = revoke
            answer = await http.request(method, path, **kwargs)
            assert answer.status_code == 200, answer.text
        return emulator.push.count(UID)

    assert asyncio.run(run()) == 0
