"""The async client a host builds from the server's settings, as :func:`token_server.wiring.build_client`
builds the blocking one: the same options (timeouts, deadline, proxy, CA bundle), the same
upstream budget (``RATELIMIT_STORAGE_URI``, shared with every other host on that store) and the
metrics observers; with the emulator configured, an emulator in this process, reached with no
socket (:mod:`cometchat.inprocess_async`)."""

from __future__ import annotations

import logging
import secrets
from typing import Any, Sequence

from cometchat.async_client import AsyncCometChatClient
from cometchat.budget import UpstreamBudget
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.policy import UpstreamObserver

from ..config import Settings
from ..stores.breaker import StoreGates
from ..stores.budget_redis import budget_store_for
from ..wiring import client_options, upstream_base_url


def build_async_client(
    settings: Settings,
    observers: Sequence[UpstreamObserver] = (),
    *,
    with_budget: bool = True,
    gates: StoreGates | None = None,
) -> tuple[AsyncCometChatClient, EmulatorState | None]:
    """The async client and, on the emulator, the emulator's state (else None)."""
    # httpx logs every request at INFO (its URL names the uid): the server's access line says enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    base_url = upstream_base_url(settings)
    budget = None
    if with_budget:
        uri = settings.ratelimit_storage_uri
        store = budget_store_for(uri, breaker=(gates or StoreGates()).breaker("upstream budget", uri))
        budget = UpstreamBudget(store, base_url, window_seconds=settings.upstream_quota_window)
    wiring: dict[str, Any] = {
        "base_url": base_url,
        "options": client_options(settings),
        "budget": budget,
        "observers": observers,
    }
    if not settings.emulator:
        return AsyncCometChatClient(api_key=settings.api_key or "", **wiring), None
    from cometchat.inprocess_async import AsyncWSGITransport

    key = secrets.token_urlsafe(24)  # the embedded emulator's own REST key, never shown
    state = EmulatorState(api_keys=[key])
    transport = AsyncWSGITransport(create_emulator_app(state))
    return AsyncCometChatClient(api_key=key, transport=transport, **wiring), state
