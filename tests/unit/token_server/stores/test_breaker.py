"""The store breaker: bounded skipping of a failed store, one log line per outage and recovery."""

from __future__ import annotations

import logging

from tests.helpers import Clock
from token_server.stores.breaker import StoreBreaker


def boom() -> int:
    raise OSError("store down")


def test_a_failure_opens_the_breaker_for_the_cooldown_then_the_store_is_tried_again() -> None:
    clock = Clock(100.0)
    breaker = StoreBreaker("test", cooldown=5, clock=clock)
    calls = []

    def counted() -> int:
        calls.append(1)
        return 7

    assert breaker.call(boom, fallback=0) == 0
    assert breaker.call(counted, fallback=0) == 0 and calls == []  # skipped while open
    clock.now += 5
    assert breaker.call(counted, fallback=0) == 7 and calls == [1]
    assert not breaker.is_down


def test_an_outage_is_logged_once_and_its_recovery_once(caplog) -> None:
    clock = Clock(100.0)
    breaker = StoreBreaker("test", cooldown=1, clock=clock)
    with caplog.at_level(logging.INFO, logger="cometchat.stores"):
        for _ in range(5):
            breaker.call(boom, fallback=None)
            clock.now += 2
        for _ in range(3):
            breaker.call(lambda: 1, fallback=None)
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(failed) == 1 and len(recovered) == 1
    assert all(r.exc_info is None for r in caplog.records)  # no traceback per request


def test_breakers_on_one_server_open_together_and_others_stay_closed() -> None:
    from token_server.stores.breaker import StoreGates, server_of

    assert server_of("redis://:secret@cache:6379/2") == "redis://cache:6379"
    assert server_of("sqlite:///tmp/x.db") is None and server_of("memory://") is None
    clock, gates = Clock(100.0), StoreGates()
    limits = StoreBreaker("rate-limit", gate=gates.for_uri("redis://cache:6379/0"), clock=clock)
    sessions = StoreBreaker("session", gate=gates.for_uri("redis://cache:6379/1"), clock=clock)
    elsewhere = StoreBreaker("budget", gate=gates.for_uri("redis://other:6379/0"), clock=clock)
    limits.call(boom, fallback=0)
    assert not sessions.available() and elsewhere.available()
    clock.now += limits.cooldown
    assert sessions.available()
