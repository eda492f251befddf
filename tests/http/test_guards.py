"""Every guard on the login path, tripped in turn: a valid caller is still answered 200, or
refused (429/503/504) only where CometChat itself refused or failed that very call.

Each case keeps a ledger of the valid logins it makes; a login refused while CometChat would
have accepted it is a ``wrongly refused`` entry, and every ledger must end with none. (A JWT
whose signing key was never fetched cannot be told valid at all: that cold-start case checks
service keys only.)
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from cometchat import CometChatClient
from cometchat.budget import MemoryBudgetStore, UpstreamBudget
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from tests.helpers import app_env, as_user, bearer, http_client, service
from tests.jwks import AUDIENCE, JwksServer, sign
from tests.stores import closed_port_url, silent_server
from token_server import create_app, routes

UID = "cometchat-uid-1"
JUNK = bearer("junk-junk-junk-junk")
SHARED_ADDRESS = "127.0.0.1"  # a proxy without TRUSTED_PROXIES: every caller has its address


def mint_path(uid: str = UID) -> str:
    return f"/api/cometchat/token/{uid}"


@dataclass
class Ledger:
    answered: int = 0
    wrongly_refused: list[str] = field(default_factory=list)

    def login(self, http: Any, headers: dict[str, str], uid: str = UID, *, cometchat_refused: bool = False) -> int:
        """One valid login; ``cometchat_refused``: CometChat itself refused or failed this call."""
        status = call_bounded(lambda: http.post(mint_path(uid), headers=headers, environ_base=_from_shared()))
        if status == 200:
            self.answered += 1
        elif not (cometchat_refused and status in (429, 503, 504)):
            self.wrongly_refused.append(f"{uid} -> {status}")
        return status


def _from_shared() -> dict[str, str]:
    return {"REMOTE_ADDR": SHARED_ADDRESS}


def call_bounded(call: Callable[[], Any], limit: float = 60.0) -> int:
    """The answer's status; a hang guard, not a speed check (an unbounded store hangs forever)."""
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(call().status_code), daemon=True)
    thread.start()
    thread.join(limit)
    assert answers, "the login hung"
    return answers[0]


def test_the_auth_failure_limit_never_refuses_a_valid_caller() -> None:
    http = http_client()
    ledger = Ledger()
    junk = [http.post(mint_path(), headers=JUNK, environ_base=_from_shared()).status_code for _ in range(40)]
    assert junk[-1] == 429  # tripped for this address
    for n in range(20):
        ledger.login(http, service())
        ledger.login(http, as_user(UID))
        assert http.post(mint_path(), headers=JUNK, environ_base=_from_shared()).status_code == 429
    assert ledger.wrongly_refused == [] and ledger.answered == 40


def test_one_users_spent_limit_refuses_nobody_else() -> None:
    http = http_client(RATE_LIMIT_PER_USER="3 per minute")
    spent = [http.post(mint_path(), headers=as_user(UID)).status_code for _ in range(5)]
    assert spent == [200, 200, 200, 429, 429]  # tripped: this user's own quota, not a valid login
    ledger = Ledger()
    for n in range(2, 7):  # other users, each within their own quota
        ledger.login(http, as_user(f"cometchat-uid-{n}"), f"cometchat-uid-{n}")
        ledger.login(http, service())  # a backend minting for the limited user
    assert ledger.wrongly_refused == [] and ledger.answered == 10


def test_a_store_down_refuses_nobody() -> None:
    """Both stores on the login path (rate limits, upstream budget) in a Redis that is down."""
    http = http_client(RATELIMIT_STORAGE_URI=closed_port_url())
    ledger = Ledger()
    for _ in range(4):
        ledger.login(http, as_user(UID))
        ledger.login(http, service())
    assert http.post(mint_path(), headers=JUNK).status_code == 401  # still no way in without a credential
    assert ledger.wrongly_refused == [] and ledger.answered == 8


def test_a_hung_store_refuses_nobody() -> None:
    with silent_server() as hung:
        http = http_client(RATELIMIT_STORAGE_URI=hung.url)
        ledger = Ledger()
        for _ in range(3):
            ledger.login(http, as_user(UID))
            ledger.login(http, service())
    assert ledger.wrongly_refused == [] and ledger.answered == 6


def test_the_identity_provider_out_of_reach_refuses_no_known_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = JwksServer()
    server.publish(key, "k1", "RS256")
    try:
        app = create_app(app_env(AUTH_JWT_SECRET=None, AUTH_JWKS_URL=server.url, AUTH_JWT_AUDIENCE=AUDIENCE))
        keys = app.extensions["token_server.authenticator"].jwks
        http = app.test_client()
        ledger = Ledger()
        jwt_headers = bearer(sign(key, "k1", "RS256"))
        ledger.login(http, jwt_headers)  # the keys are fetched
        server.status = 500  # the provider fails from now on
        keys._fetched_at -= 10_000  # and the keys are due for a refresh, which fails
        keys._attempted_at -= 10_000
        for _ in range(4):
            ledger.login(http, jwt_headers)
            ledger.login(http, service())
        assert server.fetches >= 2  # the refresh was tried, and failed
        assert ledger.wrongly_refused == [] and ledger.answered == 9
    finally:
        server.close()


def test_the_identity_provider_out_of_reach_from_the_start_refuses_no_service_key() -> None:
    server = JwksServer()
    server.status = 500
    try:
        http = create_app(
            app_env(AUTH_JWT_SECRET=None, AUTH_JWKS_URL=server.url, AUTH_JWT_AUDIENCE=AUDIENCE)
        ).test_client()
        ledger = Ledger()
        for _ in range(3):
            ledger.login(http, service())
        assert ledger.wrongly_refused == [] and ledger.answered == 3
    finally:
        server.close()




class OneTooManyRequests:
    """CometChat answering one mint 429 with ``Retry-After: 1`` and ``Remaining: 0``, then
    accepting again, as it does: in front of the emulator."""

    def __init__(self, app: Any) -> None:
        self.app, self.refused = app, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith("/auth_tokens") and not self.refused:
            self.refused += 1
            start_response(
                "429 Too Many Requests",
                [
                    ("Content-Type", "application/json"),
                    ("Retry-After", "1"),
                    ("X-Rate-Limit-Limit", "10000"),
                    ("X-Rate-Limit-Remaining", "0"),
                ],
            )
            return [b'{"error": {"code": "ERR_TOO_MANY_REQUESTS", "message": "slow down"}}']
        return self.app(environ, start_response)


def test_the_upstream_budget_after_a_cometchat_429_waits_what_cometchat_said() -> None:
    """Issue 18 item 1: after ``Retry-After: 1``, minting goes on a second later (the clock
    is injected: 10 s into a quota window, and 1.5 s on), not at the window's end."""
    state = EmulatorState(api_keys=["k"])
    upstream = OneTooManyRequests(create_emulator_app(state))
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", max_retries=0, adapter_factory=lambda: WSGIAdapter(upstream)
    )
    real = time.time()
    offset = [math.ceil(real / 60) * 60 + 10 - real]  # ahead of real time, 10 s into a window
    client.transport.budget = UpstreamBudget(
        MemoryBudgetStore(), client.base_url, clock=lambda: time.time() + offset[0]
    )
    app: Flask = create_app(app_env())
    app.extensions[routes.CLIENT] = client
    http = app.test_client()
    ledger = Ledger()
    assert ledger.login(http, service(), cometchat_refused=True) == 503 and upstream.refused == 1
    offset[0] += 1.5
    for _ in range(3):
        ledger.login(http, service())
        ledger.login(http, as_user(UID))
    assert ledger.wrongly_refused == [] and ledger.answered == 6






