"""The async twin of :class:`~token_server.pushtokens.PushTokenCleanup`: a FastAPI host's
client deletes a token's push registrations before it revokes the token, with the same steps
(:mod:`token_server.pushtokens`), awaited. Needs httpx (the ``[async]`` or ``[fastapi]`` extra)."""

from __future__ import annotations

from typing import Any

from cometchat.async_client import AsyncCometChatClient

from .core.drive import drive_async
from .pushtokens import TOKENS_OF, Ask, Cleanup, drop_steps, flush_steps


async def run_cleanup_async(client: AsyncCometChatClient, steps: Cleanup) -> int:
    """Drive the cleanup with awaited calls of ``client``."""

    async def perform(ask: Ask) -> Any:
        if ask.method == TOKENS_OF:
            return [token.auth_token async for token in client.iter_auth_tokens(*ask.args)]
        return await getattr(client, ask.method)(*ask.args)

    return await drive_async(steps, perform)


class AsyncPushTokenCleanup(AsyncCometChatClient):
    """A host's async client: a revoke deletes the token's push registrations first; a failure
    there is logged and counted (``token_server_push_token_cleanups``), never blocks the revoke."""

    async def delete_auth_token(self, uid: str, auth_token: str) -> None:
        await run_cleanup_async(self, drop_steps(uid, auth_token))
        await super().delete_auth_token(uid, auth_token)

    async def flush_auth_tokens(self, uid: str) -> None:
        await run_cleanup_async(self, flush_steps(uid))
        await super().flush_auth_tokens(uid)
