"""CometChat's rate-limit figures, read from an answer's headers, safely.

CometChat announces its per-minute quota on every answer as ``X-RateLimit-Limit`` and
``X-RateLimit-Remaining`` (older pages spell them ``X-Rate-Limit`` / ``X-Rate-Limit-Limit`` and
``X-Rate-Limit-Remaining``; both are read). A 429 adds ``Retry-After`` (seconds, or an HTTP
date) and ``X-RateLimit-Reset`` / ``X-Rate-Limit-Reset``, documented as epoch seconds; a small
reset (under ``EPOCH_THRESHOLD``) is taken for seconds to wait, the other spelling in use.

Junk (a sign, letters, ``nan``, ``1e9``) is None, as if the header were absent; huge numbers
are kept finite (``MAX_COUNT``, errors.MAX_RETRY_AFTER): the budget caps every wait anyway.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping

from .errors import parse_retry_after

LIMIT_HEADERS = ("X-RateLimit-Limit", "X-Rate-Limit-Limit", "X-Rate-Limit")
REMAINING_HEADERS = ("X-RateLimit-Remaining", "X-Rate-Limit-Remaining")
RESET_HEADERS = ("X-RateLimit-Reset", "X-Rate-Limit-Reset")
# No plan allows more calls a minute than this; a bigger count is clamped to it.
MAX_COUNT = 10**9
# A reset at or above this is an epoch second (2001-09-09 on); below it, seconds to wait.
EPOCH_THRESHOLD = 1_000_000_000.0
_COUNT = re.compile(r"[0-9]+")
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class QuotaHeaders:
    """What one answer said about the app's quota; None where it said nothing usable."""

    limit: int | None = None
    remaining: int | None = None
    retry_after: float | None = None  # seconds
    reset: float | None = None  # as sent: epoch seconds, or seconds to wait (see reset_in)

    def reset_in(self, now: float) -> float | None:
        """Seconds from ``now`` (epoch seconds) to the reset, or None when none was named."""
        if self.reset is None:
            return None
        return self.reset - now if self.reset >= EPOCH_THRESHOLD else self.reset


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value.strip()
    return None


def _count(value: str | None) -> int | None:
    if value is None or not _COUNT.fullmatch(value):
        return None
    if len(value) > len(str(MAX_COUNT)):  # int() of thousands of digits raises: never parse them
        return MAX_COUNT
    return min(int(value), MAX_COUNT)


def _seconds(value: str | None) -> float | None:
    if value is None or len(value) > 32 or not _SECONDS.fullmatch(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def read_quota_headers(headers: Mapping[str, str]) -> QuotaHeaders:
    """The quota figures of one answer (``headers`` looked up case-insensitively)."""
    return QuotaHeaders(
        limit=_count(_first(headers, LIMIT_HEADERS)),
        remaining=_count(_first(headers, REMAINING_HEADERS)),
        retry_after=parse_retry_after(headers.get("Retry-After")),
        reset=_seconds(_first(headers, RESET_HEADERS)),
    )
