"""GET /readyz: "can this instance mint". 503 only when a mint cannot succeed (the
configuration, CometChat refusing the REST key, the JWKS keys); a store that logins survive
without is reported as degraded in a 200. Cached, behind the stores' breaker, never a secret."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cometchat import CometChatClient
from tests.helpers import SERVICE_KEY, app_env, as_user, service
from tests.jwks import AUDIENCE, JwksServer
from tests.procs import EMULATOR_KEY
from tests.stores import closed_port_url, running_redis, silent_server
from token_server import create_app
from token_server.ops import readiness

WRONG_KEY = "a-rest-key-cometchat-refuses-0123"


def live_env(emulator, api_key: str, **env: str) -> dict[str, str]:
    """The server against the emulator over a real socket, as against CometChat."""
    return app_env(COMETCHAT_EMULATOR=None, COMETCHAT_BASE_URL=emulator.base_url, COMETCHAT_API_KEY=api_key, **env)


def test_ready_when_every_check_passes(emulator) -> None:
    answer = create_app(live_env(emulator, EMULATOR_KEY)).test_client().get("/readyz")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json == {
        "status": "ready",
        "checks": {
            "configuration": "ok",
            "upstream": "ok",
            "rate_limit_store": "ok",
            "budget_store": "ok",
            "session_store": "ok",
        },
    }


def test_a_refused_rest_key_is_not_ready_and_says_so_without_the_key(emulator) -> None:
    http = create_app(live_env(emulator, WRONG_KEY)).test_client()
    answer = http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["status"] == "not ready" and answer.json["failing"] == ["upstream"]
    assert answer.json["checks"]["upstream"] == "the chat service refused this server's REST key"
    assert WRONG_KEY not in answer.get_data(as_text=True) and SERVICE_KEY not in answer.get_data(as_text=True)
    assert http.get("/healthz").status_code == 200  # alive all the same


def test_the_upstream_is_asked_at_most_once_every_30_seconds(emulator) -> None:
    now = [0.0]
    client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY)
    check = readiness.UpstreamCheck(client, clock=lambda: now[0])
    before = emulator.stats()["requests"]
    results = []
    for at in (0.0, 1.0, 29.9, 30.0, 45.0, 59.9, 60.0):
        now[0] = at
        results.append(check())
    assert results == [None] * 7
    assert emulator.stats()["requests"] - before == 3  # at 0, 30 and 60


def test_a_refusal_is_cached_as_long(emulator) -> None:
    now = [0.0]
    check = readiness.UpstreamCheck(
        CometChatClient(base_url=emulator.base_url, api_key=WRONG_KEY), clock=lambda: now[0]
    )
    assert check() is not None
    now[0] = 10.0
    assert check() is not None and check.calls == 1
    now[0] = 30.0
    assert check() is not None and check.calls == 2


def test_a_store_down_is_degraded_not_unready_and_logins_go_on() -> None:
    """The issue's break: with the shared Redis down the server still minted, yet /readyz
    answered 503, so a balancer took every instance out at once."""
    url = closed_port_url()
    http = create_app(app_env(RATELIMIT_STORAGE_URI=url)).test_client()
    answer = http.get("/readyz")
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "ready" and "failing" not in answer.json
    assert answer.json["degraded"] == ["rate_limit_store", "budget_store", "session_store"]
    assert answer.json["checks"]["rate_limit_store"] == "the rate-limit store is not reachable"
    assert url.split("//")[1].split("/")[0] not in answer.get_data(as_text=True)  # never the store's address
    # The twin: what readiness promises holds, a valid caller is answered.
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200
    assert http.post("/api/cometchat/token/cometchat-uid-2", headers=as_user("cometchat-uid-2")).status_code == 200


def test_the_stores_in_redis_are_ready(tmp_path) -> None:
    with running_redis(tmp_path) as url:
        answer = create_app(app_env(RATELIMIT_STORAGE_URI=url)).test_client().get("/readyz")
    assert answer.status_code == 200, answer.json


def test_jwks_keys_not_loaded_is_not_ready_until_they_are() -> None:
    server = JwksServer()
    server.publish(rsa.generate_private_key(public_exponent=65537, key_size=2048), "k1", "RS256")
    try:
        server.status = 500
        app = create_app(app_env(AUTH_JWT_SECRET=None, AUTH_JWKS_URL=server.url, AUTH_JWT_AUDIENCE=AUDIENCE))
        keys = app.extensions["token_server.authenticator"].jwks
        http = app.test_client()
        answer = http.get("/readyz")
        assert answer.status_code == 503 and answer.json["failing"] == ["jwks"]
        assert server.url not in json.dumps(answer.json)
        keys._fetched.wait(5)  # the check started a fetch (it never waits for it)
        assert server.fetches == 1
        server.status = 200
        keys._attempted_at -= 60  # the next fetch is due (JWKS_MIN_REFRESH)
        http.get("/readyz")
        keys._fetched.wait(5)
        assert http.get("/readyz").status_code == 200
    finally:
        server.close()


def test_another_module_adds_a_check_in_one_line() -> None:
    app = create_app(app_env())
    readiness.add_check(app, "needed", lambda: "the needed thing is missing")
    readiness.add_check(app, "helper", lambda: "the helper is missing", helper=True)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503 and answer.json["failing"] == ["needed"] and answer.json["degraded"] == ["helper"]


def test_a_session_store_that_does_not_answer_is_named_as_degraded(emulator, tmp_path) -> None:
    env = live_env(emulator, EMULATOR_KEY, SESSION_STORE_URI=closed_port_url())
    http = create_app(env).test_client()
    answer = http.get("/readyz")
    assert answer.status_code == 200
    assert answer.json["degraded"] == ["session_store"]
    assert answer.json["checks"]["session_store"] == "the session store is not reachable"
    login = http.post("/api/cometchat/token/dev-1", json={"deviceId": "phone-1"}, headers=service())
    assert login.status_code == 200 and login.json["reused"] is False  # minted without the store


def test_a_store_is_probed_at_most_once_per_interval_and_not_while_its_breaker_is_open() -> None:
    now = [0.0]
    asked: list[float] = []
    breaker = readiness.StoreBreaker("test", cooldown=5.0, clock=lambda: now[0])  # the default is 1 s

    def reachable() -> bool:
        asked.append(now[0])
        return False

    check = readiness.store_check(reachable, "test", breaker=breaker, every=5.0, clock=lambda: now[0])
    for at in (0.0, 1.0, 4.9):
        now[0] = at
        assert check() == "the test store is not reachable"
    assert asked == [0.0]
    assert not breaker.available()  # a probe that failed opens the breaker the login path uses
    now[0] = 5.0  # the breaker (5 s cooldown) and the cache both expire: one probe
    check()
    assert asked == [0.0, 5.0]
    now[0] = 8.0
    breaker.failed(RuntimeError("a login saw it fail"))  # open again (until 13), from the login path
    now[0] = 10.1
    assert check() is not None and asked == [0.0, 5.0]  # reported without being asked


def test_a_probe_under_way_is_never_waited_on() -> None:
    """Concurrent /readyz: one asks, the others answer the last result at once."""
    import threading

    release = threading.Event()
    calls = []

    def slow() -> str | None:
        calls.append(1)
        release.wait(10)
        return None

    check = readiness.CachedCheck(slow, every=5.0, first_wait=0.0)
    first = threading.Thread(target=check)
    first.start()
    while not calls:
        time.sleep(0.01)
    assert check() == readiness.NOT_CHECKED_YET  # not queued behind the first probe past first_wait
    release.set()
    first.join(10)
    assert check() is None and calls == [1]
    # Later probes never wait: while one asks again, the others answer the last result.
    again = readiness.CachedCheck(slow, every=0.0)
    release.clear()
    calls.clear()
    release.set()
    assert again() is None
    release.clear()
    second = threading.Thread(target=again)
    second.start()
    while len(calls) < 2:
        time.sleep(0.01)
    assert again() is None and len(calls) == 2  # the last result, not a wait
    release.set()
    second.join(10)


@pytest.mark.slow
def test_a_thousand_probes_against_a_hung_redis_open_a_handful_of_connections(emulator) -> None:
    """The issue's break: with Redis hung, each /readyz cost 0.76 s and opened 3 connections
    (3,270 probes opened 9,352). Now: 1,000 probes from 16 threads, a handful of connections,
    no probe queued behind another (generous bound: this must not hang)."""
    with silent_server() as hung:
        app = create_app(live_env(emulator, EMULATOR_KEY, RATELIMIT_STORAGE_URI=hung.url))
        app.test_client().get("/readyz")  # the upstream check's first answer, cached for 30 s

        def probe(_: int) -> tuple[int, float]:
            started = time.monotonic()
            answer = app.test_client().get("/readyz")
            return answer.status_code, time.monotonic() - started

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(probe, range(1000)))
        assert {status for status, _ in results} == {200}
        assert hung.connections <= 4, hung.connections
        assert max(seconds for _, seconds in results) < 5.0
        answer = app.test_client().get("/readyz")
        assert answer.json["degraded"] == ["rate_limit_store", "budget_store", "session_store"]
        assert str(hung.port) not in answer.get_data(as_text=True)


@pytest.mark.slow
def test_a_stopped_redis_server_costs_a_handful_of_connections_and_no_503(emulator, tmp_path) -> None:
    """A real redis-server, SIGSTOPped (it hangs: the kernel still accepts connections): 1,000
    probes, and Redis counts the connections it received once it runs again."""
    import os
    import signal

    import redis

    with running_redis(tmp_path) as url:
        direct = redis.Redis.from_url(url, socket_timeout=5)
        pid = int(direct.info("server")["process_id"])
        app = create_app(live_env(emulator, EMULATOR_KEY, RATELIMIT_STORAGE_URI=url))
        received = int(direct.info("stats")["total_connections_received"])
        os.kill(pid, signal.SIGSTOP)  # before the first probe: every check meets the hung Redis
        try:
            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(lambda _: app.test_client().get("/readyz").status_code, range(1000)))
            login = app.test_client().post("/api/cometchat/token/cometchat-uid-1", headers=service())
        finally:
            os.kill(pid, signal.SIGCONT)
        assert set(statuses) == {200}
        assert login.status_code == 200  # what readiness promised: logins work
        opened = int(direct.info("stats")["total_connections_received"]) - received
        assert opened <= 6, opened
        direct.close()
