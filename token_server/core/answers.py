"""What a route answers, as plain data: a status, a JSON body and headers (no framework's type).

Every answer of the routes carries ``NO_STORE_HEADERS``: tokens, users and errors must never be
kept by a browser, a proxy or a CDN and served to someone else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

NO_STORE_HEADERS: Mapping[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Answer:
    """One answer: ``body`` is written as JSON (None: no body); ``headers`` hold the no-store
    pair and any others the answer needs (``Retry-After``, ``WWW-Authenticate``, ``Allow``)."""

    status: int
    body: Mapping[str, Any] | None
    headers: Mapping[str, str] = field(default_factory=lambda: dict(NO_STORE_HEADERS))


def ok(body: Mapping[str, Any], status: int = 200) -> Answer:
    """A success, never to be cached."""
    return Answer(status, body, dict(NO_STORE_HEADERS))
