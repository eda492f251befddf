"""The upstream budget's Redis store without a server: its client is bounded and never retries."""

from __future__ import annotations

from token_server.stores.breaker import STORE_TIMEOUT
from token_server.stores.budget_redis import RedisBudgetStore


def test_the_budgets_redis_client_is_bounded_and_never_retries() -> None:
    store = RedisBudgetStore.from_url("redis://127.0.0.1:1/0")
    kwargs = store._client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == STORE_TIMEOUT
    retry = store._client.get_retry() or kwargs.get("retry")
    assert retry is not None and retry._retries == 0
