"""Every error code this server answers with, in one table: the ``code`` of
``{"error": {"code", "message"}}``. Modules import these names, never spell a code.

CometChat's own codes (``ERR_UID_NOT_FOUND`` and the like) are the client library's
business (:mod:`cometchat.errors`); the ones here are what OUR callers see, some of them
CometChat's code passed through because it means the same to them.
"""

from __future__ import annotations

from typing import Final

# The request itself.
ERR_BAD_REQUEST: Final = "ERR_BAD_REQUEST"
ERR_NOT_FOUND: Final = "ERR_NOT_FOUND"
ERR_METHOD_NOT_ALLOWED: Final = "ERR_METHOD_NOT_ALLOWED"
ERR_BODY_TOO_LARGE: Final = "ERR_BODY_TOO_LARGE"
ERR_UNSUPPORTED_MEDIA_TYPE: Final = "ERR_UNSUPPORTED_MEDIA_TYPE"
ERR_TOO_MANY_REQUESTS: Final = "ERR_TOO_MANY_REQUESTS"
ERR_INTERNAL: Final = "ERR_INTERNAL"
# Who calls.
ERR_UNAUTHORIZED: Final = "ERR_UNAUTHORIZED"
ERR_INVALID_TOKEN: Final = "ERR_INVALID_TOKEN"
ERR_TOKEN_EXPIRED: Final = "ERR_TOKEN_EXPIRED"
ERR_INVALID_CREDENTIALS: Final = "ERR_INVALID_CREDENTIALS"
ERR_AUTH_UNAVAILABLE: Final = "ERR_AUTH_UNAVAILABLE"
ERR_FORBIDDEN: Final = "ERR_FORBIDDEN"
ERR_NO_USER_IDENTITY: Final = "ERR_NO_USER_IDENTITY"
# Dev mode's local-only guard.
ERR_NOT_LOCAL: Final = "ERR_NOT_LOCAL"
ERR_BAD_HOST: Final = "ERR_BAD_HOST"
ERR_FOREIGN_ORIGIN: Final = "ERR_FOREIGN_ORIGIN"
# Another site's page (any mode).
ERR_CROSS_SITE: Final = "ERR_CROSS_SITE"
# What CometChat answered.
ERR_UID_ALREADY_EXISTS: Final = "ERR_UID_ALREADY_EXISTS"
ERR_UID_NOT_FOUND: Final = "ERR_UID_NOT_FOUND"
ERR_AUTH_TOKEN_NOT_FOUND: Final = "ERR_AUTH_TOKEN_NOT_FOUND"
ERR_UPSTREAM_MISCONFIGURED: Final = "ERR_UPSTREAM_MISCONFIGURED"
ERR_UPSTREAM_RATE_LIMITED: Final = "ERR_UPSTREAM_RATE_LIMITED"
ERR_UPSTREAM_UNAVAILABLE: Final = "ERR_UPSTREAM_UNAVAILABLE"
ERR_UPSTREAM_TIMEOUT: Final = "ERR_UPSTREAM_TIMEOUT"
# Our own device-session store.
ERR_STORE_UNAVAILABLE: Final = "ERR_STORE_UNAVAILABLE"
# Concurrent logins of one device kept replacing its token (503, Retry-After).
ERR_DEVICE_BUSY: Final = "ERR_DEVICE_BUSY"
# The device's record was sealed with a key this server does not hold: nothing was revoked (409).
ERR_SESSION_UNREADABLE: Final = "ERR_SESSION_UNREADABLE"
ERR_UPSTREAM_BAD_RESPONSE: Final = "ERR_UPSTREAM_BAD_RESPONSE"
# Presence from webhooks: nothing was heard for this user (404).
ERR_PRESENCE_UNKNOWN: Final = "ERR_PRESENCE_UNKNOWN"

# The whole table, for the test that no module spells a code of its own.
ALL: Final[frozenset[str]] = frozenset(value for name, value in dict(globals()).items() if name.startswith("ERR_"))


def http_code(status: int) -> str:
    """The code of an HTTP error without a name of its own (``ERR_HTTP_418``)."""
    return f"ERR_HTTP_{status}"
