"""The upstream budget seen through the routes: a spent quota is a 503 with Retry-After, and
CometChat's Retry-After is told to callers as one quota window at most."""

from __future__ import annotations

import time

from cometchat.budget import (
    MemoryBudgetStore,
    UpstreamBudget,
)
from tests.helpers import Clock, app_env, service
from token_server import create_app

# A day-long quota window: no edge passes while a test runs (windows align to the epoch).
WINDOW = 86_400.0


def test_the_route_tells_callers_one_window_at_most_and_answers_after_it(app, http, upstream) -> None:
    from cometchat.emulator.faults import Fault
    from token_server.routes import CLIENT

    clock = Clock(time.time())
    transport = app.extensions[CLIENT].transport
    transport.budget = UpstreamBudget(MemoryBudgetStore(), transport.base_url, window_seconds=60.0, clock=clock)
    upstream.faults.append(Fault(kind="status", status=429, retry_after=99999999))
    first = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert first.status_code == 503 and 1 <= int(first.headers["Retry-After"]) <= 60
    calls = upstream.requests
    held = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert held.status_code == 503 and 1 <= int(held.headers["Retry-After"]) <= 60 and upstream.requests == calls
    clock.now += 60
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200


def test_the_route_answers_503_with_retry_after_when_the_quota_is_spent() -> None:
    app = create_app(app_env(COMETCHAT_QUOTA_WINDOW_SECONDS=str(WINDOW)))
    http, upstream = app.test_client(), app.extensions["token_server.emulator"]
    upstream.quota.minute_seconds = WINDOW
    upstream.set_limits(core=2)
    for _ in range(2):
        assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == 503 and answer.json["error"]["code"] == "ERR_UPSTREAM_RATE_LIMITED"
    assert 1 <= int(answer.headers["Retry-After"]) <= WINDOW
    assert upstream.rate_limited == 0 and upstream.requests == 2
