"""Device tokens across real processes: servers under gunicorn (the Procfile, two workers
each) on one SQLite file, and on one real Redis, hand a returning device the same token
whichever process answers; CometChat (the standalone emulator) holds one token for it."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import EMULATOR_KEY, RunningEmulator
from tests.helpers import SERVICE_KEY, service
from tests.process.test_device_stores import start_redis
from tests.procs import start_emulator, start_gunicorn


def login(root: str, device: str, **body) -> dict:
    answer = requests.post(
        root + "/api/cometchat/token/cometchat-uid-1", json={"deviceId": device, **body}, headers=service(), timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(params=["sqlite", "redis"])
def two_servers(request, tmp_path):
    emulator, emulator_root = start_emulator(tmp_path, api_key=EMULATOR_KEY)
    started = [emulator]
    if request.param == "redis":
        redis_server, uri = start_redis(tmp_path)
        started.append(redis_server)
    else:
        uri = f"sqlite:///{tmp_path}/shared/sessions.sqlite3"
    env = {
        "COMETCHAT_BASE_URL": emulator_root + "/v3",
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "SESSION_STORE_URI": uri,
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "8",
    }
    roots = []
    try:
        for name in ("a", "b"):
            server, root = start_gunicorn(tmp_path, env, name=name)
            started.append(server)
            roots.append(root)
        yield roots, RunningEmulator(emulator_root)
    finally:
        for proc in reversed(started):
            proc.stop()


def test_a_device_gets_its_token_back_from_any_process(two_servers) -> None:
    (a, b), emulator = two_servers
    first = login(a, "laptop")
    calls = emulator.stats()["requests"]
    # New connections each time: each lands on whichever worker of either server accepts it.
    again = [login(root, "laptop") for root in (b, a, b, a, b, a)]
    assert all(x["reused"] and x["authToken"] == first["authToken"] for x in again)
    assert emulator.stats()["requests"] == calls  # no upstream call for a returning device
    listed = requests.get(
        emulator.base_url + "/users/cometchat-uid-1/auth_tokens", headers={"apikey": EMULATOR_KEY}, timeout=5
    ).json()
    assert [t["authToken"] for t in listed["data"]] == [first["authToken"]]


def test_fresh_on_one_process_is_seen_by_the_other(two_servers) -> None:
    (a, b), _ = two_servers
    old = login(a, "phone")["authToken"]
    new = login(b, "phone", fresh=True)["authToken"]
    assert new != old and login(a, "phone")["authToken"] == new
    gone = requests.delete(b + "/api/cometchat/users/cometchat-uid-1/sessions/phone", headers=service(), timeout=30)
    assert gone.status_code == 200
    assert login(a, "phone")["reused"] is False
