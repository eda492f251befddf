"""token_server.stores.redis_client: how every store on the login path opens Redis."""

from __future__ import annotations

from token_server.stores.breaker import STORE_TIMEOUT
from token_server.stores.redis_client import bounded_redis


def test_one_bounded_attempt_per_call() -> None:
    kwargs = bounded_redis("redis://127.0.0.1:1/0").connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == STORE_TIMEOUT and kwargs["socket_connect_timeout"] == STORE_TIMEOUT
    assert kwargs["retry"].get_retries() == 0


def test_a_timeout_of_its_own_and_the_limits_spelling_of_a_socket_path() -> None:
    kwargs = bounded_redis("redis+unix:///tmp/redis.sock", timeout=1.0).connection_pool.connection_kwargs
    assert kwargs["path"] == "/tmp/redis.sock" and kwargs["socket_timeout"] == 1.0
