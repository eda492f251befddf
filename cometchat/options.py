"""How a client talks to CometChat, in one object: timeouts, the total deadline, retries,
the response cap, the connection pool and the egress (proxy, CA bundle).

Both clients (``CometChatClient`` and ``AsyncCometChatClient``) take the same
``ClientOptions``, or the same fields as keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, TypedDict

DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 5.0
# Well under gunicorn's worker timeout, so a worker never dies waiting on CometChat.
DEFAULT_TOTAL_DEADLINE = 10.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF = 0.2
# CometChat answers in kilobytes (a page of 100 users with full profiles stays well under
# this); a bigger body is not CometChat, and reading it would only cost memory.
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
# Keep-alive connections kept open between calls: one per call in flight at the busiest
# moment. More concurrent calls still run; their extra connections close when done.
DEFAULT_POOL_SIZE = 512


@dataclass(frozen=True)
class ClientOptions:
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    # Bounds the whole call, retries and an answer that trickles in included.
    total_deadline: float = DEFAULT_TOTAL_DEADLINE
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff: float = DEFAULT_BACKOFF
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    pool_size: int = DEFAULT_POOL_SIZE
    # Egress: the proxy per scheme ({"https": "http://proxy:3128"}) and the CAs to trust.
    proxies: Mapping[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None  # a PEM file to trust instead of the system's CAs

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_deadline"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_retries < 0 or self.backoff < 0:
            raise ValueError("max_retries and backoff must not be negative")
        if self.max_response_bytes < 1 or self.pool_size < 1:
            raise ValueError("max_response_bytes and pool_size must be at least 1")
        object.__setattr__(self, "proxies", dict(self.proxies))


class Tuning(TypedDict, total=False):
    """``ClientOptions``' fields, as keyword arguments of either client."""

    connect_timeout: float
    read_timeout: float
    total_deadline: float
    max_retries: int
    backoff: float
    max_response_bytes: int
    pool_size: int
    proxies: Mapping[str, str] | None
    ca_bundle: str | None


def options_from(options: ClientOptions | None, tuning: Tuning, proxy: str | None = None) -> ClientOptions:
    """``options`` (or the defaults) with the keyword arguments of a client applied; ``proxy``
    is one proxy URL for every call (``http://[user:pass@]host:port``), the same as
    ``proxies={"http": proxy, "https": proxy}``."""
    fields = dict(tuning)
    if proxy:
        if fields.get("proxies"):
            raise ValueError("give proxy or proxies, not both")
        fields["proxies"] = {"http": proxy, "https": proxy}
    if fields.get("proxies") is None:
        fields.pop("proxies", None)
    if not fields:
        return options or ClientOptions()
    return replace(options or ClientOptions(), **fields)  # type: ignore[arg-type]
