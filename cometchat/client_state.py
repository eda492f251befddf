"""What both clients show of their transport, written once: the base URL, the options, the
observers and the last rate-limit figures (``CometChatClient`` and ``AsyncCometChatClient``
mix it in; their transports hold the state)."""

from __future__ import annotations

from typing import Protocol

from .models import RateLimitInfo
from .options import ClientOptions
from .policy import UpstreamObserver


class TransportState(Protocol):
    base_url: str
    options: ClientOptions
    observers: list[UpstreamObserver]
    rate_limit: RateLimitInfo


class ClientState:
    transport: TransportState

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def options(self) -> ClientOptions:
        return self.transport.options

    @property
    def observers(self) -> list[UpstreamObserver]:
        """Told about every attempt; add or remove one here at any time."""
        return self.transport.observers

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The last ``X-RateLimit-*`` figures CometChat sent."""
        return self.transport.rate_limit
