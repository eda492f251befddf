"""What every CometChat request carries, whichever transport sends it: the headers, the user
agents, and the id of the request a call serves (set by a server around each request)."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = [
    "ASYNC_USER_AGENT",
    "JSON_HEADERS",
    "REQUEST_ID_HEADER",
    "SESSION_HEADERS",
    "USER_AGENT",
    "current_request_id",
    "request_headers",
]

REQUEST_ID_HEADER = "X-Request-ID"
# The id of the request a call serves, sent upstream as X-Request-ID so one login can be followed
# from the caller through our logs to CometChat; a server sets it around each request it answers.
current_request_id: ContextVar[str | None] = ContextVar("cometchat_request_id", default=None)
USER_AGENT = "cometchat-token-server/1.0 (python-requests)"
ASYNC_USER_AGENT = "cometchat-token-server/1.0 (python-httpx)"
SESSION_HEADERS = {"Accept": "application/json", "User-Agent": USER_AGENT}
JSON_HEADERS = {"Content-Type": "application/json"}


def request_headers(api_key: str, user_agent: str | None = None) -> dict[str, str]:
    """What every request carries (both transports), the request id included when set."""
    headers = {**SESSION_HEADERS, "apikey": api_key}
    if user_agent:
        headers["User-Agent"] = user_agent
    request_id = current_request_id.get()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return headers
