"""The FastAPI host's receiver across real processes: examples/fastapi_host.py under uvicorn with
two workers, each with its own webhook worker started by the app's startup, on one real
redis-server. Every delivery sent twice is acknowledged twice and handled once; a connection
event becomes the presence the route answers."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.helpers import SERVICE_KEY, service
from tests.hosts import start_host, start_redis
from tests.webhook_support import CREDENTIALS, PATH, basic, connection

pytestmark = pytest.mark.slow

UID = "cometchat-uid-1"
BOUND = 60.0  # a bound on a loaded machine, not a speed


def handled(log: Path) -> Counter[str]:
    if not log.exists():
        return Counter()
    return Counter(line.split()[1] for line in log.read_text().splitlines() if line.strip())


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {BOUND} s"
        time.sleep(0.1)


def test_two_uvicorn_workers_handle_each_delivery_once_and_presence_answers(tmp_path) -> None:
    log = tmp_path / "handled.log"
    redis_proc, uri = start_redis(tmp_path)
    started = [redis_proc]
    try:
        env = {
            "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
            "SESSION_STORE_URI": uri,
            "RATELIMIT_STORAGE_URI": uri,
            "WEBHOOK_CREDENTIALS": CREDENTIALS,
            "WEBHOOK_HANDLER": "tests.webhook_handlers:record",
            "WEBHOOK_TEST_LOG": str(log),
            "WEB_CONCURRENCY": "2",
        }
        host, root = start_host("fastapi", tmp_path, env)
        started.append(host)
        total = 20
        with requests.Session() as first, requests.Session() as second:  # two connections: either worker
            for n in range(total):
                raw = json.dumps({"trigger": "test_event", "data": {"n": n}}).encode()
                answers = [http.post(root + PATH, data=raw, headers=basic(), timeout=30) for http in (first, second)]
                assert [a.status_code for a in answers] == [200, 200]
                assert [a.json()["duplicate"] for a in answers] == [False, True]
        wait_for(lambda: len(handled(log)) == total, "every delivery handled")
        counts = handled(log)
        assert len(counts) == total and set(counts.values()) == {1}

        wrong = requests.post(root + PATH, data=b"{}", headers=basic(password="wrong-password-0123456789"), timeout=30)
        assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers

        at_ms = 1_700_000_000_500
        raw = json.dumps(connection(UID, "online", at_ms, platform="ios")).encode()
        assert requests.post(root + PATH, data=raw, headers=basic(), timeout=30).status_code == 200

        def presence() -> requests.Response:
            return requests.get(f"{root}/api/cometchat/users/{UID}/presence", headers=service(), timeout=30)

        wait_for(lambda: presence().status_code == 200, "presence kept")
        assert presence().json() == {"uid": UID, "status": "online", "at": "2023-11-14T22:13:20.500Z", "platform": "ios"}
    finally:
        for proc in reversed(started):
            proc.stop()
