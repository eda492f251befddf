"""Every guard on the login path tripped over real processes (gunicorn, the standalone emulator): a valid caller is still answered."""

from __future__ import annotations

import requests

from tests.helpers import JWT_SECRET, SERVICE_KEY, app_env, as_user, service
from tests.http.test_guards import JUNK, UID, Ledger, mint_path
from tests.procs import EMULATOR_KEY, start_gunicorn
from tests.stores import closed_port_url
from token_server import create_app


def test_an_upstream_past_its_deadline_fails_that_call_only(emulator) -> None:
    http = create_app(
        app_env(
            COMETCHAT_EMULATOR=None,
            COMETCHAT_BASE_URL=emulator.base_url,
            COMETCHAT_API_KEY=EMULATOR_KEY,
            COMETCHAT_READ_TIMEOUT="0.5",
            COMETCHAT_DEADLINE="1",
        )
    ).test_client()
    ledger = Ledger()
    emulator.faults({"kind": "hang", "seconds": 3})
    assert ledger.login(http, service(), cometchat_refused=True) == 504  # CometChat hung on this one
    for _ in range(4):
        ledger.login(http, service())
        ledger.login(http, as_user(UID))
    assert ledger.wrongly_refused == [] and ledger.answered == 8


def gunicorn_env(emulator, **extra: str) -> dict[str, str]:
    return {
        "COMETCHAT_BASE_URL": emulator.base_url,
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "AUTH_JWT_SECRET": JWT_SECRET,
        "WEB_CONCURRENCY": "1",  # one process: one count, one log line per outage
        **extra,
    }


def test_over_gunicorn_a_junk_bearer_from_the_shared_address_refuses_no_valid_login(emulator, tmp_path) -> None:
    """Real HTTP from 127.0.0.1, as behind a proxy without TRUSTED_PROXIES: a junk bearer on
    every other request, 100 of them, between valid service-key and JWT mints."""
    # The user's own and the address's limits are set out of the way: this is the failure limit.
    env = gunicorn_env(emulator, RATE_LIMIT_PER_USER="1000 per minute", RATE_LIMIT_PER_ADDRESS="1000 per minute")
    server, root = start_gunicorn(tmp_path, env)
    try:
        with requests.Session() as http:
            junk, valid = [], []
            for _ in range(100):
                junk.append(http.post(f"{root}{mint_path()}", headers=JUNK, timeout=10).status_code)
                for headers in (service(), as_user(UID)):
                    valid.append(http.post(f"{root}{mint_path()}", headers=headers, timeout=10).status_code)
    finally:
        server.stop()
    assert valid == [200] * 200
    assert junk == [401] * 30 + [429] * 70


def test_over_gunicorn_a_redis_down_is_one_warning_and_no_traceback(emulator, tmp_path) -> None:
    env = gunicorn_env(emulator, RATELIMIT_STORAGE_URI=closed_port_url(), RATE_LIMIT_PER_USER="2 per minute")
    server, root = start_gunicorn(tmp_path, env)
    try:
        answers = [
            requests.post(f"{root}{mint_path()}", headers=as_user(UID), timeout=10).status_code for _ in range(4)
        ]
    finally:
        log = server.stop()
    assert answers == [200] * 4  # the limit's store is out: skipped, never a refusal
    assert log.count("rate-limit store failed") == 1 and "Traceback" not in log
