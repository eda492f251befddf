"""Rate limits and their store with real processes: a real Redis shared, down or coming back."""

from __future__ import annotations

import logging

from tests.helpers import Clock, as_user
from tests.http.test_caller import host_app, mix_strangers_in
from tests.http.test_limits import MINT, UID, app_on_store, store_records
from tests.procs import free_port
from tests.stores import running_redis
from token_server import limits


def test_401s_mixed_in_do_not_unshare_the_per_user_limit_in_redis(tmp_path, caplog) -> None:
    """With Redis healthy, a user limited to 5 a minute gets exactly 5, however many strangers
    are refused in between; no one mistakes a 401 for a store failure."""
    caplog.set_level(logging.INFO)
    with running_redis(tmp_path) as url:
        answers = mix_strangers_in(host_app(url, "5 per minute"), 12)
        # A second host on the same Redis shares the count: the user has nothing left.
        again = mix_strangers_in(host_app(url, "5 per minute"), 2)
    assert answers == [200] * 5 + [429] * 7
    assert again == [429, 429]
    # Nothing took a 401 for a store failure ("Rate limit storage unreachable" before).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_the_store_is_tried_again_after_the_cooldown_and_its_recovery_logged_once(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="cometchat.stores")
    port = free_port()
    clock = Clock()
    app = app_on_store(f"redis://127.0.0.1:{port}/0", clock)
    http = app.test_client()
    assert http.post(MINT, headers=as_user(UID)).status_code == 200  # down: unlimited, logged
    with running_redis(tmp_path, port) as url:
        assert http.post(MINT, headers=as_user(UID)).status_code == 200  # still skipped: breaker open
        assert [r.getMessage() for r in store_records(caplog)][-1].startswith("rate-limit store failed")
        clock.now += 60
        for _ in range(3):
            assert http.post(MINT, headers=as_user(UID)).status_code == 200
        import redis

        counted = redis.Redis.from_url(url).keys(f"*{limits.USER_SCOPE}*{UID}*")
        assert counted  # the user's window lives in Redis again
    messages = [r.getMessage() for r in store_records(caplog)]
    assert len(messages) == 2 and messages[1] == "rate-limit store recovered"
