"""The limits section: the rate limits (per end user, per client address, failed
authentications) and their store, the request body's size, how many proxies stand in front
(whose ``X-Forwarded-For`` names the client address), and the front ends' origins (CORS)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Self
from urllib.parse import urlparse

from limits import parse_many

from .base import Env, Mode

DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_RATE_LIMIT_PER_USER = "30 per minute"
DEFAULT_RATE_LIMIT_PER_ADDRESS = "120 per minute"
# 401s a client address may collect before it gets 429 on every route (guessing credentials).
DEFAULT_RATE_LIMIT_AUTH_FAILURES = "30 per minute"
DEFAULT_RATELIMIT_STORAGE_URI = "memory://"
MAX_TRUSTED_PROXIES = 5
# An IPv6 client is keyed by its network: a subscriber gets a /64 (RFC 6177) and picks any
# address in it. /32 is the smallest an ISP is allocated; /128 keys each address.
DEFAULT_IPV6_PREFIX = 64
IPV6_PREFIX_RANGE = (32, 128)
# An origin exactly as a browser sends it: scheme://host[:port], nothing else. flask-cors reads
# an entry holding any of ?$^[]()\* as a regular expression, so nothing else may pass.
ORIGIN = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?",
    re.IGNORECASE,
)


def is_exact_origin(origin: str) -> bool:
    if not ORIGIN.fullmatch(origin):
        return False
    try:
        return urlparse(origin).port != 0  # .port raises past 65535
    except ValueError:
        return False


@dataclass(frozen=True)
class LimitSettings:
    """What ``token_server.limits.init_app`` needs; a host app may build this section alone:
    ``LimitSettings(rate_limit_per_user="10 per minute")``, the rest at their defaults."""

    rate_limit_per_user: str = DEFAULT_RATE_LIMIT_PER_USER
    rate_limit_per_address: str = DEFAULT_RATE_LIMIT_PER_ADDRESS
    rate_limit_auth_failures: str = DEFAULT_RATE_LIMIT_AUTH_FAILURES
    ratelimit_storage_uri: str = DEFAULT_RATELIMIT_STORAGE_URI
    max_body: int = DEFAULT_MAX_BODY
    trusted_proxies: int = 0
    rate_limit_ipv6_prefix: int = DEFAULT_IPV6_PREFIX
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        """RATE_LIMIT_PER_USER, RATE_LIMIT_PER_ADDRESS, RATE_LIMIT_AUTH_FAILURES,
        RATE_LIMIT_IPV6_PREFIX, RATELIMIT_STORAGE_URI, TRUSTED_PROXIES and CORS_ORIGINS
        (``mode`` changes nothing here)."""
        read = Env(env)
        cors_origins = read.items("CORS_ORIGINS")
        for origin in cors_origins:
            if not is_exact_origin(origin):
                read.problem(
                    f"CORS_ORIGINS: {origin!r} is not exactly scheme://host[:port] like https://app.example.com "
                    "(no wildcards, path, query or pattern)"
                )
        section = cls(
            rate_limit_per_user=_rate_limit(read, "RATE_LIMIT_PER_USER", DEFAULT_RATE_LIMIT_PER_USER),
            rate_limit_per_address=_rate_limit(read, "RATE_LIMIT_PER_ADDRESS", DEFAULT_RATE_LIMIT_PER_ADDRESS),
            rate_limit_auth_failures=_rate_limit(read, "RATE_LIMIT_AUTH_FAILURES", DEFAULT_RATE_LIMIT_AUTH_FAILURES),
            ratelimit_storage_uri=read.text("RATELIMIT_STORAGE_URI") or DEFAULT_RATELIMIT_STORAGE_URI,
            trusted_proxies=_trusted_proxies(read),
            rate_limit_ipv6_prefix=_ipv6_prefix(read),
            cors_origins=cors_origins,
        )
        return read.finish(section, problems)


def _rate_limit(read: Env, name: str, default: str) -> str:
    """A limit string, parsed now: one the limits library cannot parse would switch the limit off."""
    value = read.text(name) or default
    try:
        parse_many(value)
    except ValueError:
        read.problem(f"{name} must be a rate limit like {default!r} (got {value!r})")
        return default
    return value


def _trusted_proxies(read: Env) -> int:
    raw = read.text("TRUSTED_PROXIES")
    if raw is None:
        return 0
    try:
        count = int(raw)
        if not 0 <= count <= MAX_TRUSTED_PROXIES:
            raise ValueError
    except ValueError:
        read.problem(
            f"TRUSTED_PROXIES must be the number of proxies in front of the server (0 to {MAX_TRUSTED_PROXIES})"
        )
        return 0
    return count


def _ipv6_prefix(read: Env) -> int:
    raw = read.text("RATE_LIMIT_IPV6_PREFIX")
    if raw is None:
        return DEFAULT_IPV6_PREFIX
    low, high = IPV6_PREFIX_RANGE
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        read.problem(f"RATE_LIMIT_IPV6_PREFIX must be a prefix length from {low} to {high} (got {raw!r})")
        return DEFAULT_IPV6_PREFIX
    return int(raw)
