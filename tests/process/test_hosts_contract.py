"""One contract, three hosts: the same black-box tests over real HTTP against the stand-alone
server under its Procfile command, examples/flask_host.py under gunicorn with two workers and
examples/fastapi_host.py under uvicorn with two workers, all on one real Redis (limits, the
upstream budget, device tokens) and one standalone emulator (with its faults for the upstream
failures). Each test starts from an empty Redis and a fresh emulator."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from ..helpers import SERVICE_KEY, bearer, service, user_jwt
from ..hosts import start_emulator, start_host, start_redis
from ..procs import EMULATOR_KEY, ROOT, Process
from ..webhook_support import CREDENTIALS, basic, connection

HOSTS = ("standalone", "flask", "fastapi")
API = "/api/cometchat"
FRONT_END = "https://app.example.com"
READ_TIMEOUT, DEADLINE = 1.0, 3.0
PER_USER, AUTH_FAILURES = 4, 4
SETTINGS = {
    "COMETCHAT_API_KEY": EMULATOR_KEY,
    "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
    "AUTH_JWT_SECRET": "a-test-only-hs256-secret-of-enough-length-0123",
    "SESSION_STORE_KEY": "a-session-store-key-for-the-host-contract-0123456789",
    "CORS_ORIGINS": FRONT_END,
    "COMETCHAT_READ_TIMEOUT": str(READ_TIMEOUT),
    "COMETCHAT_DEADLINE": str(DEADLINE),
    "RATE_LIMIT_PER_USER": f"{PER_USER} per minute",
    "RATE_LIMIT_AUTH_FAILURES": f"{AUTH_FAILURES} per minute",
    "RATE_LIMIT_PER_ADDRESS": "100000 per minute",
    "WEB_CONCURRENCY": "2",
    "WEBHOOK_CREDENTIALS": CREDENTIALS,
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One Redis and one emulator for every host."""
    tmp = tmp_path_factory.mktemp("hosts")
    redis_proc, uri = start_redis(tmp)
    emulator, emulator_root = start_emulator(tmp)
    yield tmp, uri, emulator_root
    emulator.stop()
    redis_proc.stop()


@pytest.fixture(scope="module", params=HOSTS)
def host(request, shared):
    tmp, uri, emulator_root = shared
    env = {**SETTINGS, "COMETCHAT_BASE_URL": emulator_root + "/v3", "RATELIMIT_STORAGE_URI": uri}
    proc, root = start_host(request.param, tmp, env)
    yield request.param, root
    proc.stop()


@pytest.fixture
def api(host, shared):
    """The host's routes' root, after emptying Redis and resetting the emulator."""
    _, uri, emulator_root = shared
    redis.Redis.from_url(uri).flushdb()
    requests.post(emulator_root + "/_emulator/reset", timeout=5).raise_for_status()
    return host[1] + API


@pytest.fixture
def upstream(shared):
    emulator_root = shared[2]

    class Upstream:
        def inject(self, *faults: dict) -> None:
            body = {"queue": list(faults)}
            requests.post(emulator_root + "/_emulator/faults", json=body, timeout=5).raise_for_status()

        def stats(self) -> dict:
            return requests.get(emulator_root + "/_emulator/stats", timeout=5).json()

    return Upstream()


def jwt_for(uid: str) -> dict[str, str]:
    return bearer(user_jwt(uid, secret=SETTINGS["AUTH_JWT_SECRET"]))


def mint(api: str, uid: str = "cometchat-uid-1", headers: dict | None = None, **body) -> requests.Response:
    kwargs = {"json": body} if body else {}
    return requests.post(f"{api}/token/{uid}", headers=service() if headers is None else headers, timeout=15, **kwargs)


def error_code(answer: requests.Response) -> str:
    return answer.json()["error"]["code"]


# ---- answers, bodies, headers ---------------------------------------------------------------


def test_a_mint_answers_the_contracts_body_and_headers(api) -> None:
    answer = mint(api, headers={**service(), "X-Request-ID": "host-contract-1"})
    assert answer.status_code == 200
    assert set(answer.json()) == {"uid", "authToken"} and answer.json()["uid"] == "cometchat-uid-1"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["X-Request-ID"] == "host-contract-1"


def test_the_request_id_goes_upstream_and_a_bad_one_is_replaced(api, upstream) -> None:
    mint(api, headers={**service(), "X-Request-ID": "followed-upstream-42"})
    assert "followed-upstream-42" in upstream.stats()["request_ids"]
    replaced = mint(api, headers={**service(), "X-Request-ID": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])


def test_callers_are_identified_as_the_server_does(api) -> None:
    anonymous = mint(api, headers={})
    assert anonymous.status_code == 401 and error_code(anonymous) == "ERR_UNAUTHORIZED"
    assert anonymous.headers["Cache-Control"] == "no-store"
    wrong = mint(api, headers=bearer("not-a-configured-key-at-all"))
    assert wrong.status_code == 401 and error_code(wrong) == "ERR_INVALID_CREDENTIALS"
    own = mint(api, "alice", headers=jwt_for("alice"))
    assert own.status_code == 200 and own.json()["uid"] == "alice"
    other = mint(api, "bob", headers=jwt_for("alice"))
    assert other.status_code == 403 and error_code(other) == "ERR_FORBIDDEN"
    mine = requests.post(f"{api}/token", headers=jwt_for("carol"), timeout=15)
    assert mine.status_code == 200 and mine.json()["uid"] == "carol"
    no_identity = requests.post(f"{api}/token", headers=service(), timeout=15)
    assert no_identity.status_code == 401


def test_bad_input_is_refused_before_any_upstream_call(api, upstream) -> None:
    before = upstream.stats()["requests"]
    bad_uid = mint(api, "no spaces allowed")
    assert bad_uid.status_code == 400 and error_code(bad_uid) == "ERR_BAD_REQUEST"
    unknown = mint(api, colour="blue")
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]["message"]
    not_json = requests.post(
        f"{api}/token/cometchat-uid-1", data=b"{nope", headers={**service(), "Content-Type": "application/json"}, timeout=15
    )
    assert not_json.status_code == 400
    as_text = requests.post(
        f"{api}/token/cometchat-uid-1", data=b'{"name": "x"}', headers={**service(), "Content-Type": "text/plain"}, timeout=15
    )
    assert as_text.status_code == 415 and error_code(as_text) == "ERR_UNSUPPORTED_MEDIA_TYPE"
    huge = requests.post(
        f"{api}/token/cometchat-uid-1",
        data=b'{"name": "' + b"x" * 70_000 + b'"}',
        headers={**service(), "Content-Type": "application/json"},
        timeout=15,
    )
    assert huge.status_code == 413 and error_code(huge) == "ERR_BODY_TOO_LARGE"
    chunked = requests.post(  # no Content-Length: the cap holds however the body is framed
        f"{api}/token/cometchat-uid-1",
        data=iter([b'{"name": "', b"x" * 70_000, b'"}']),
        headers={**service(), "Content-Type": "application/json"},
        timeout=15,
    )
    assert chunked.status_code == 413 and error_code(chunked) == "ERR_BODY_TOO_LARGE"
    assert upstream.stats()["requests"] == before
    # Twin: the same caller with a good request is answered.
    assert mint(api).status_code == 200


def test_users_are_created_read_updated_and_deleted(api) -> None:
    created = requests.post(f"{api}/users", json={"uid": "host-user", "name": "Host User"}, headers=service(), timeout=15)
    assert created.status_code == 201 and set(created.json()) == {"user", "authToken"}
    again = requests.post(f"{api}/users", json={"uid": "host-user", "name": "Again"}, headers=service(), timeout=15)
    assert again.status_code == 409 and error_code(again) == "ERR_UID_ALREADY_EXISTS"
    read = requests.get(f"{api}/users/host-user", headers=service(), timeout=15)
    assert read.status_code == 200 and read.json()["user"]["name"] == "Host User"
    missing = requests.get(f"{api}/users/nobody-here", headers=service(), timeout=15)
    assert missing.status_code == 404 and error_code(missing) == "ERR_UID_NOT_FOUND"
    renamed = requests.patch(f"{api}/users/host-user", json={"name": "Renamed"}, headers=service(), timeout=15)
    assert renamed.status_code == 200 and renamed.json()["user"]["name"] == "Renamed"
    by_user = requests.delete(f"{api}/users/host-user", headers=jwt_for("host-user"), timeout=15)
    assert by_user.status_code == 403
    deleted = requests.delete(f"{api}/users/host-user", headers=service(), timeout=15)
    assert deleted.status_code == 200


def test_revoke_takes_one_token_or_all_and_nothing_else(api) -> None:
    token = mint(api).json()["authToken"]
    one = requests.post(f"{api}/token/cometchat-uid-1/revoke", json={"authToken": token}, headers=service(), timeout=15)
    assert one.status_code == 200
    everything = requests.post(f"{api}/token/cometchat-uid-1/revoke", json={"all": True}, headers=service(), timeout=15)
    assert everything.status_code == 200
    neither = requests.post(f"{api}/token/cometchat-uid-1/revoke", json={"all": 1}, headers=service(), timeout=15)
    assert neither.status_code == 400


def test_unknown_routes_and_methods_answer_in_the_contracts_shape(api) -> None:
    missing = requests.get(f"{api}/no-such-route", headers=service(), timeout=15)
    assert missing.status_code == 404 and error_code(missing) == "ERR_NOT_FOUND"
    wrong_method = requests.get(f"{api}/token", headers=service(), timeout=15)
    assert wrong_method.status_code == 405 and error_code(wrong_method) == "ERR_METHOD_NOT_ALLOWED"


# ---- devices across two workers --------------------------------------------------------------


def test_one_device_gets_one_live_token_whichever_worker_answers(api, upstream) -> None:
    """Logins of one device at once, each on its own connection (so both workers answer some):
    every answer carries the same token, and CometChat holds exactly one."""
    def login(_: int) -> requests.Response:
        with requests.Session() as fresh:  # a new connection each: the kernel spreads them over the workers
            return fresh.post(f"{api}/token/cometchat-uid-2", json={"deviceId": "phone-1"}, headers=service(), timeout=20)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(login, range(48)))
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers if a.status_code != 200]
    assert len({answer.json()["authToken"] for answer in answers}) == 1
    assert sum(answer.json()["reused"] is False for answer in answers) == 1
    sessions = requests.get(f"{api}/users/cometchat-uid-2/sessions", headers=service(), timeout=15).json()
    assert [s["deviceId"] for s in sessions["sessions"]] == ["phone-1"] and sessions["tokens"] == 1


@pytest.mark.parametrize("kind", ["flask", "fastapi"])
def test_two_workers_share_the_default_store_when_the_host_names_none(shared, tmp_path, kind) -> None:
    """No SESSION_STORE_URI, no Redis: the host's workers share the server's default SQLite file
    (in the working directory's instance/), never a store of each process."""
    emulator_root = shared[2]
    requests.post(emulator_root + "/_emulator/reset", timeout=5).raise_for_status()  # no fault left queued
    env = {
        "COMETCHAT_BASE_URL": emulator_root + "/v3",
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "WEB_CONCURRENCY": "2",
    }
    proc, root = start_host(kind, tmp_path, env, cwd=tmp_path)
    try:
        def login(_: int) -> requests.Response:
            with requests.Session() as fresh:
                body = {"deviceId": f"default-{kind}"}
                return fresh.post(f"{root}{API}/token/cometchat-uid-1", json=body, headers=service(), timeout=20)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(login, range(48)))
    finally:
        proc.stop()
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers if a.status_code != 200]
    assert len({answer.json()["authToken"] for answer in answers}) == 1
    assert (tmp_path / "instance" / "device-sessions.sqlite3").exists()


def test_a_forgotten_device_gets_a_new_token(api) -> None:
    first = mint(api, "cometchat-uid-3", deviceId="tablet").json()
    gone = requests.delete(f"{api}/users/cometchat-uid-3/sessions/tablet", headers=service(), timeout=15)
    assert gone.status_code == 200 and gone.json() == {"uid": "cometchat-uid-3", "deviceId": "tablet", "revoked": True}
    second = mint(api, "cometchat-uid-3", deviceId="tablet").json()
    assert second["reused"] is False and second["authToken"] != first["authToken"]
    fresh = mint(api, "cometchat-uid-3", deviceId="tablet", fresh=True).json()
    assert fresh["reused"] is False and fresh["authToken"] != second["authToken"]


# ---- upstream failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [(503, 503, "ERR_UPSTREAM_UNAVAILABLE"), (502, 502, "ERR_UPSTREAM_BAD_RESPONSE"), (504, 504, "ERR_UPSTREAM_TIMEOUT")],
)
def test_upstream_failures_map_to_502_503_504(api, upstream, status, expected, code) -> None:
    upstream.inject(*[{"kind": "status", "status": status}] * 3)
    answer = mint(api)
    assert answer.status_code == expected and error_code(answer) == code
    assert answer.headers["Cache-Control"] == "no-store"
    if expected == 503:
        assert int(answer.headers["Retry-After"]) >= 1
    assert mint(api).status_code == 200  # twin: the next caller is served


def test_a_hung_upstream_is_a_bounded_504(api, upstream) -> None:
    upstream.inject({"kind": "hang", "seconds": 30})
    answer = mint(api, headers=service())
    assert answer.status_code == 504 and error_code(answer) == "ERR_UPSTREAM_TIMEOUT"
    assert mint(api).status_code == 200


def test_malformed_upstream_answers_are_502(api, upstream) -> None:
    upstream.inject(*[{"kind": "malformed"}] * 3)
    answer = mint(api)
    assert answer.status_code == 502 and error_code(answer) == "ERR_UPSTREAM_BAD_RESPONSE"


# ---- the cross-site rule ----------------------------------------------------------------------


def test_another_sites_pages_are_refused_and_listed_front_ends_served(api) -> None:
    evil = mint(api, headers={**service(), "Origin": "https://evil.example"})
    assert evil.status_code == 403 and error_code(evil) == "ERR_CROSS_SITE"
    fetch_site = mint(api, headers={**service(), "Sec-Fetch-Site": "cross-site"})
    assert fetch_site.status_code == 403
    listed = mint(api, headers={**jwt_for("cometchat-uid-4"), "Origin": FRONT_END}, uid="cometchat-uid-4")
    assert listed.status_code == 200 and listed.headers["Access-Control-Allow-Origin"] == FRONT_END
    assert mint(api).status_code == 200  # no Origin: a backend


# ---- limits ------------------------------------------------------------------------------------


def test_a_user_past_its_limit_gets_429_and_others_are_served(api) -> None:
    answers = [mint(api, "cometchat-uid-5", headers=jwt_for("cometchat-uid-5")) for _ in range(PER_USER + 1)]
    assert [a.status_code for a in answers] == [200] * PER_USER + [429]
    assert error_code(answers[-1]) == "ERR_TOO_MANY_REQUESTS" and int(answers[-1].headers["Retry-After"]) >= 1
    assert mint(api, "cometchat-uid-1", headers=jwt_for("cometchat-uid-1")).status_code == 200
    assert mint(api, "cometchat-uid-5").status_code == 200  # a service caller is not limited


def test_failed_authentications_are_limited_and_a_valid_key_still_served(api) -> None:
    refused = [mint(api, headers=bearer(f"guessed-key-number-{n:04d}")) for n in range(AUTH_FAILURES + 1)]
    assert [a.status_code for a in refused] == [401] * AUTH_FAILURES + [429]
    assert mint(api).status_code == 200


def test_the_host_stays_responsive_while_an_upstream_call_hangs(api, upstream, host) -> None:
    kind, root = host
    upstream.inject({"kind": "hang", "seconds": 30})
    hung: dict = {}
    thread = threading.Thread(target=lambda: hung.update(answer=mint(api)))
    thread.start()
    try:
        own = root + ("/healthz" if kind == "standalone" else "/host/ping")
        for _ in range(5):
            assert requests.get(own, timeout=DEADLINE).status_code == 200
    finally:
        thread.join(timeout=30)
    assert hung["answer"].status_code == 504


# ---- each host on its own: offline, and refusing without a way to identify callers -------------


@pytest.mark.parametrize("kind", ["flask", "fastapi"])
def test_with_no_cometchat_credentials_a_host_runs_on_the_emulator_offline(tmp_path, kind) -> None:
    proc, root = start_host(kind, tmp_path, {"TOKEN_SERVER_API_KEYS": SERVICE_KEY}, cwd=ROOT)
    try:
        answer = requests.post(f"{root}{API}/token/cometchat-uid-1", headers=service(), timeout=15)
        ping = requests.get(root + "/host/ping", timeout=15)
    finally:
        proc.stop()
    assert answer.status_code == 200 and answer.json()["uid"] == "cometchat-uid-1"
    assert ping.status_code == 200


@pytest.mark.parametrize("module", ["examples.flask_host", "examples.fastapi_host"])
def test_a_host_with_no_caller_auth_refuses_to_start_naming_the_variables(tmp_path, module) -> None:
    proc = Process([sys.executable, "-c", f"import {module}"], log_path=tmp_path / "refused.log")
    proc.proc.wait(timeout=60)
    output = proc.stop()
    assert proc.proc.returncode == 3, output
    assert "refusing to start" in output
    assert all(name in output for name in ("TOKEN_SERVER_API_KEYS", "AUTH_JWT_SECRET", "AUTH_JWKS_URL"))


def test_presence_nothing_heard_is_404_and_another_users_is_403(api) -> None:
    unheard = requests.get(f"{api}/users/cometchat-uid-1/presence", headers=service(), timeout=15)
    assert unheard.status_code == 404 and error_code(unheard) == "ERR_PRESENCE_UNKNOWN"
    assert unheard.headers["Cache-Control"] == "no-store"
    other = requests.get(f"{api}/users/cometchat-uid-1/presence", headers=jwt_for("cometchat-uid-2"), timeout=15)
    assert other.status_code == 403 and error_code(other) == "ERR_FORBIDDEN"


def test_every_host_receives_webhooks_once_and_keeps_presence(api) -> None:
    """CometChat's deliveries on every door: acknowledged, a repeat recognised, wrong credentials
    401 with a challenge, and the connection event answered as presence once handled."""
    raw = json.dumps(connection("cometchat-uid-1", "offline", 1_700_000_000_250, platform="web")).encode()
    first = requests.post(f"{api}/webhooks", data=raw, headers=basic(), timeout=15)
    again = requests.post(f"{api}/webhooks", data=raw, headers=basic(), timeout=15)
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    wrong = requests.post(f"{api}/webhooks", data=raw, headers=basic(password="wrong-password-0123456789"), timeout=15)
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic")
    url = f"{api}/users/cometchat-uid-1/presence"
    deadline = time.monotonic() + 60  # the worker's turn: a bound on a loaded machine, not a speed
    while (answer := requests.get(url, headers=service(), timeout=15)).status_code == 404:
        assert time.monotonic() < deadline, "presence not kept within 60 s"
        time.sleep(0.1)
    assert answer.status_code == 200
    assert answer.json() == {"uid": "cometchat-uid-1", "status": "offline", "at": "2023-11-14T22:13:20.250Z", "platform": "web"}
