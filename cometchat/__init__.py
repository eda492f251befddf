"""A thin, typed client for CometChat's v3 users and auth_tokens REST API, and its emulator.

``CometChatClient`` blocks (requests); ``AsyncCometChatClient`` has the same methods as
coroutines (httpx: the ``[async]`` extra), imported on first use so that the blocking client
never needs httpx.
"""

from typing import TYPE_CHECKING, Any

from .client import CometChatClient, default_base_url
from .errors import (
    AuthTokenNotFoundError,
    CometChatError,
    NotFoundError,
    PushTokenNotFoundError,
    RateLimitedError,
    UidAlreadyExistsError,
    UidNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamRequestError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    ValidationError,
    error_from_response,
)
from .models import AuthToken, ImportOutcome, Profile, PushToken, RateLimitInfo, User
from .options import ClientOptions
from .policy import UpstreamAttempt
from .uids import to_cometchat_uid

if TYPE_CHECKING:
    from .async_client import AsyncCometChatClient


def __getattr__(name: str) -> Any:
    if name == "AsyncCometChatClient":
        from .async_client import AsyncCometChatClient

        return AsyncCometChatClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncCometChatClient",
    "AuthToken",
    "AuthTokenNotFoundError",
    "ClientOptions",
    "CometChatClient",
    "CometChatError",
    "ImportOutcome",
    "NotFoundError",
    "Profile",
    "PushToken",
    "PushTokenNotFoundError",
    "RateLimitInfo",
    "RateLimitedError",
    "UidAlreadyExistsError",
    "UidNotFoundError",
    "UpstreamAttempt",
    "UpstreamAuthError",
    "UpstreamBadResponseError",
    "UpstreamRequestError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "User",
    "ValidationError",
    "default_base_url",
    "error_from_response",
    "to_cometchat_uid",
]
