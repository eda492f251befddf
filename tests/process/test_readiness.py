"""GET /readyz: ready only when the configuration, CometChat (the REST key accepted), the
stores and the JWKS keys are usable; else 503 naming what failed, without a secret."""

from __future__ import annotations

from cometchat import CometChatClient
from tests.helpers import SERVICE_KEY, app_env, http_client
from tests.procs import EMULATOR_KEY
from tests.stores import closed_port_url, running_redis
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




def test_the_stores_in_redis_are_ready(tmp_path) -> None:
    with running_redis(tmp_path) as url:
        answer = http_client(RATELIMIT_STORAGE_URI=url).get("/readyz")
    assert answer.status_code == 200, answer.json






def test_a_session_store_that_does_not_answer_is_named(emulator, tmp_path) -> None:
    env = live_env(emulator, EMULATOR_KEY, SESSION_STORE_URI=closed_port_url())
    answer = create_app(env).test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["failing"] == ["session_store"]
    assert answer.json["checks"]["session_store"] == "the session store is not reachable"
