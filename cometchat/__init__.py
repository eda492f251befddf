"""A thin, typed client for CometChat's v3 users and auth_tokens REST API, and its emulator."""

from .client import CometChatClient, default_base_url
from .errors import (
    AuthTokenNotFoundError,
    CometChatError,
    NotFoundError,
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
from .models import AuthToken, ImportOutcome, Profile, RateLimitInfo, User
from .uids import to_cometchat_uid

__all__ = [
    "AuthToken",
    "AuthTokenNotFoundError",
    "CometChatClient",
    "CometChatError",
    "ImportOutcome",
    "NotFoundError",
    "Profile",
    "RateLimitInfo",
    "RateLimitedError",
    "UidAlreadyExistsError",
    "UidNotFoundError",
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
