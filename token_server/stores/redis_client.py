"""A Redis client as every store on the login path opens one: one bounded attempt per call."""

from __future__ import annotations

from typing import Any

from .breaker import STORE_TIMEOUT


def bounded_redis(url: str, *, timeout: float = STORE_TIMEOUT) -> Any:
    """``redis://``, ``rediss://`` or ``redis+unix://`` (the ``limits`` library's spelling of a
    socket path), with ``timeout`` to connect and to read and no retry: redis-py retries a
    timeout by default, which made one hung Redis a 15 s login."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url.removeprefix("redis+") if url.startswith("redis+unix://") else url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
