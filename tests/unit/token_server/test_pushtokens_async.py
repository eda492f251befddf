"""The async client a host builds (token_server.wiring.build_async_client) deletes a token's push
registrations before revoking it, at the in-process emulator (which keeps them on a revoke, as
CometChat may); a failing push list is counted and never blocks the revoke. The steps are
token_server/pushtokens.py's, shared with the blocking client (tests/process/test_push_cleanup.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cometchat import UpstreamUnavailableError
from cometchat.async_client import AsyncCometChatClient
from cometchat.emulator import EmulatorState
from token_server.config import Settings
from token_server.ops.metrics import REGISTRY
from token_server.pushtokens_async import AsyncPushTokenCleanup
from token_server.stores.breaker import StoreGates
from token_server.wiring import build_async_client

UID = "push-async-1"
FAILED = ("token_server_push_token_cleanups_total", {"outcome": "failed"})


def failed() -> float:
    return REGISTRY.get_sample_value(*FAILED) or 0


def built() -> tuple[AsyncCometChatClient, EmulatorState]:
    client, state = build_async_client(Settings(emulator=True), with_budget=False, gates=StoreGates())
    assert state is not None
    return client, state


async def tokens_of(client: AsyncCometChatClient, uid: str) -> set[str]:
    return {token.auth_token async for token in client.iter_auth_tokens(uid)}


def test_the_built_client_is_the_cleanup() -> None:
    client, _ = built()
    assert isinstance(client, AsyncPushTokenCleanup)


def test_revoking_a_token_deletes_its_push_token_first() -> None:
    client, state = built()

    async def run() -> None:
        await client.create_user(UID, "Push")
        phone = (await client.create_auth_token(UID)).auth_token
        laptop = (await client.create_auth_token(UID)).auth_token
        await client.register_push_token(phone, "fcm-phone", "fcm")
        await client.register_push_token(laptop, "fcm-laptop", "fcm")
        assert state.push.count(UID) == 2
        await client.delete_auth_token(UID, phone)
        assert [item["pushToken"] for item in state.push.listed(None)] == ["fcm-laptop"]
        assert await tokens_of(client, UID) == {laptop}

    asyncio.run(run())


def test_signing_out_everywhere_deletes_every_push_token() -> None:
    client, state = built()

    async def run() -> None:
        await client.create_user(UID, "Push")
        for n in range(3):
            token = (await client.create_auth_token(UID)).auth_token
            await client.register_push_token(token, f"fcm-{n}", "fcm")
        await client.create_auth_token(UID)  # a token without a push registration
        await client.flush_auth_tokens(UID)
        assert state.push.count(UID) == 0 and await tokens_of(client, UID) == set()

    asyncio.run(run())


def test_the_push_token_goes_before_the_auth_token(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = built()
    calls: list[str] = []
    for name in ("delete_push_token", "delete_auth_token"):
        real = getattr(AsyncCometChatClient, name)

        async def recorded(self: Any, *args: Any, _real: Any = real, _name: str = name) -> None:
            calls.append(_name)
            await _real(self, *args)

        monkeypatch.setattr(AsyncCometChatClient, name, recorded)

    async def run() -> None:
        await client.create_user(UID, "Push")
        token = (await client.create_auth_token(UID)).auth_token
        await client.register_push_token(token, "apns-1", "apns")
        await client.delete_auth_token(UID, token)

    asyncio.run(run())
    assert calls == ["delete_push_token", "delete_auth_token"]


@pytest.mark.parametrize("how", ["one", "all"])
def test_a_failing_push_list_is_counted_and_never_blocks_the_revoke(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    client, _ = built()

    async def down(self: Any, auth_token: str) -> list[Any]:
        raise UpstreamUnavailableError("push service down")

    async def run() -> None:
        await client.create_user(UID, "Push")
        token = (await client.create_auth_token(UID)).auth_token
        await client.register_push_token(token, "fcm-1", "fcm")
        monkeypatch.setattr(AsyncCometChatClient, "list_push_tokens", down)
        before = failed()
        if how == "one":
            await client.delete_auth_token(UID, token)
        else:
            await client.flush_auth_tokens(UID)
        assert await tokens_of(client, UID) == set()  # revoked all the same
        assert failed() == before + 1

    asyncio.run(run())


def test_a_failing_token_list_still_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = built()

    async def run() -> None:
        await client.create_user(UID, "Push")
        await client.create_auth_token(UID)

        async def down(self: Any, uid: str, *, per_page: int = 100) -> Any:
            raise UpstreamUnavailableError("listing down")
            yield  # noqa: B901 - an async generator, as the real one

        with monkeypatch.context() as patched:
            patched.setattr(AsyncCometChatClient, "iter_auth_tokens", down)
            before = failed()
            await client.flush_auth_tokens(UID)
            assert failed() == before + 1
        assert await tokens_of(client, UID) == set()

    asyncio.run(run())
