"""The one place that marks an answer as never to be cached: tokens, users, errors, metrics
and test JWTs must not be kept by a browser, a proxy or a CDN and served to someone else."""

from __future__ import annotations

from flask import Response

from .core.answers import NO_STORE_HEADERS

__all__ = ["NO_STORE_HEADERS", "no_store"]


def no_store(response: Response, status: int | None = None) -> Response:
    """``response`` with the no-store headers (and ``status``, when given)."""
    if status is not None:
        response.status_code = status
    response.headers.update(NO_STORE_HEADERS)
    return response
