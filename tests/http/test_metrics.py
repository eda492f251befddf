"""Prometheus metrics: /metrics off unless METRICS_TOKEN is set and then only with it; what is
counted as requests are made (the Flask test client, then gunicorn's two workers in
multiprocess mode); and no uid, token or key ever in a label."""

from __future__ import annotations

import time
from functools import partial

import jwt as pyjwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cometchat.emulator.faults import Fault
from cometchat.policy import UpstreamAttempt
from tests.helpers import JWT_SECRET, ROTATED_KEY, SERVICE_KEY, app_env, as_user, bearer, http_client, service, user_jwt
from tests.procs import EMULATOR_KEY, free_port
from token_server import create_app
from token_server.config import ConfigError, load_settings
from token_server.ops.metrics import code_label

METRICS_TOKEN = "metrics-token-for-tests-0123"
MINT_ROUTE = "/api/cometchat/token/<path:uid>"


def scrape_text(get, token: str = METRICS_TOKEN) -> str:
    answer = get("/metrics", headers=bearer(token))
    assert answer.status_code == 200, answer
    assert answer.headers["Content-Type"].startswith("text/plain")
    return answer.text if hasattr(answer, "text") else answer.get_data(as_text=True)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    return sum(v for (n, key), v in samples(text).items() if n == name and labels.items() <= dict(key).items())


def delta(before: str, after: str, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def metered():
    return create_app(app_env(METRICS_TOKEN=METRICS_TOKEN))


@pytest.fixture
def client(metered):
    return metered.test_client()


def scrape(client) -> str:
    return scrape_text(client.get)


# ---- the endpoint ------------------------------------------------------------------------


def test_metrics_are_off_without_a_token(http) -> None:
    answer = http.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert answer.status_code == 404 and answer.json["error"]["code"] == "ERR_NOT_FOUND"


@pytest.mark.parametrize(
    "headers",
    [{}, service(), bearer(METRICS_TOKEN + "x"), bearer(METRICS_TOKEN[:-1]), {"Authorization": METRICS_TOKEN}],
    ids=["none", "service-key", "longer", "shorter", "no-scheme"],
)
def test_metrics_need_the_metrics_token(client, headers) -> None:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 401 and answer.json["error"]["code"] == "ERR_UNAUTHORIZED"
    assert "token_server_" not in answer.get_data(as_text=True)


def test_the_metrics_token_is_a_secret_and_checked_at_start() -> None:
    with pytest.raises(ConfigError, match="METRICS_TOKEN must be at least 16"):
        load_settings(app_env(METRICS_TOKEN="short"))
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        load_settings(app_env(METRICS_TOKEN="with a space in the middle"))
    assert METRICS_TOKEN in load_settings(app_env(METRICS_TOKEN=METRICS_TOKEN)).secrets  # masked in logs


# ---- what is counted ---------------------------------------------------------------------


def test_requests_mints_and_user_creations_are_counted(client) -> None:
    before = scrape(client)
    assert client.post("/api/cometchat/token/metrics-new-user", headers=service()).status_code == 200
    assert client.post("/api/cometchat/token/metrics-new-user", headers=service()).status_code == 200
    created = client.post("/api/cometchat/users", json={"uid": "metrics-made", "name": "M"}, headers=service())
    assert created.status_code == 201
    assert client.get("/api/cometchat/users/nobody-here", headers=service()).status_code == 404
    counted = partial(delta, before, scrape(client))

    assert counted("token_server_requests_total", route=MINT_ROUTE, method="POST", status="200") == 2
    assert counted("token_server_requests_total", route="/api/cometchat/users", method="POST", status="201") == 1
    assert counted("token_server_requests_total", route="/api/cometchat/users/<path:uid>", status="404") == 1
    assert counted("token_server_request_duration_seconds_count", route=MINT_ROUTE) == 2
    assert counted("token_server_tokens_minted_total") == 3
    assert counted("token_server_users_created_total") == 2  # the first login and the explicit create
    mint = "POST /users/{uid}/auth_tokens"
    assert counted("token_server_upstream_requests_total", endpoint=mint, outcome="ok", status="200", code="") == 1
    not_found = dict(endpoint=mint, outcome="client_error", status="404", code="ERR_UID_NOT_FOUND")
    assert counted("token_server_upstream_requests_total", **not_found) == 1
    assert counted("token_server_upstream_requests_total", endpoint="POST /users", outcome="ok", status="200") == 2
    assert counted("token_server_upstream_duration_seconds_count", endpoint=mint) == 2


def test_upstream_failures_and_retries_are_counted(client, metered) -> None:
    state = metered.extensions["token_server.emulator"]
    before = scrape(client)
    state.faults.extend([Fault("status", status=503), Fault("status", status=429, retry_after=0.01)])
    assert client.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200
    counted = partial(delta, before, scrape(client))
    mint = "POST /users/{uid}/auth_tokens"
    for outcome, status in {"server_error": "503", "rate_limited": "429", "ok": "200"}.items():
        assert counted("token_server_upstream_requests_total", endpoint=mint, outcome=outcome, status=status) == 1
    assert counted("token_server_upstream_retries_total", endpoint=mint) == 2


def test_a_connection_error_is_counted_with_its_outcome() -> None:
    app = create_app(
        app_env(
            COMETCHAT_EMULATOR=None,
            COMETCHAT_BASE_URL=f"http://127.0.0.1:{free_port()}/v3",  # nothing listens there
            COMETCHAT_API_KEY=EMULATOR_KEY,
            METRICS_TOKEN=METRICS_TOKEN,
        )
    )
    http = app.test_client()
    before = scrape(http)
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 503
    labels = dict(endpoint="POST /users/{uid}/auth_tokens", outcome="connection_error", status="", code="")
    # The first try and two retries.
    assert delta(before, scrape(http), "token_server_upstream_requests_total", **labels) == 3


def test_an_attempt_that_timed_out_is_counted_as_a_timeout(metered, client) -> None:
    before = scrape(client)
    observers = metered.extensions["token_server.client"].transport.observers
    for observe in observers:
        observe(UpstreamAttempt("GET /users/{uid}", "timeout", None, None, 5.0, 1))
    labels = dict(endpoint="GET /users/{uid}", outcome="timeout", status="", code="")
    assert delta(before, scrape(client), "token_server_upstream_requests_total", **labels) == len(observers) == 1


def test_the_last_rate_limit_remaining_is_a_gauge(client, metered) -> None:
    metered.extensions["token_server.emulator"].set_limits(core=50)
    client.post("/api/cometchat/token/cometchat-uid-2", headers=service())
    assert value(scrape(client), "token_server_upstream_ratelimit_remaining") == 49
    client.post("/api/cometchat/token/cometchat-uid-2", headers=service())
    assert value(scrape(client), "token_server_upstream_ratelimit_remaining") == 48


def test_callers_refused_by_our_limits_are_counted() -> None:
    http = http_client(METRICS_TOKEN=METRICS_TOKEN, RATE_LIMIT_PER_USER="1 per minute")
    before = value(scrape(http), "token_server_rate_limited_total", route=MINT_ROUTE)
    assert http.post("/api/cometchat/token", headers=as_user("limited-user")).status_code == 200
    assert http.post("/api/cometchat/token", headers=as_user("limited-user")).status_code == 429
    assert http.post("/api/cometchat/token/limited-user", headers=as_user("limited-user")).status_code == 429
    after = scrape(http)
    assert value(after, "token_server_rate_limited_total", route="/api/cometchat/token") >= 1
    assert value(after, "token_server_rate_limited_total", route=MINT_ROUTE) == before + 1


def test_auth_failures_are_counted_by_reason(client) -> None:
    before = scrape(client)
    uid_route = "/api/cometchat/token/cometchat-uid-3"
    client.post(uid_route)
    client.post(uid_route, headers=bearer("not-a-key-of-ours-at-all"))
    client.post(uid_route, headers=bearer(user_jwt("cometchat-uid-3", exp_in=-3600)))
    client.post(uid_route, headers=as_user("someone-else"))
    after = scrape(client)
    for reason in ("ERR_UNAUTHORIZED", "ERR_INVALID_CREDENTIALS", "ERR_TOKEN_EXPIRED", "ERR_FORBIDDEN"):
        assert delta(before, after, "token_server_auth_failures_total", reason=reason) == 1, reason


def test_an_unreachable_key_provider_is_an_auth_failure_and_a_busy_cometchat_is_not() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    app = create_app(
        app_env(
            AUTH_JWT_SECRET=None,
            AUTH_JWKS_URL=f"http://127.0.0.1:{free_port()}/jwks",  # nothing listens there
            AUTH_JWT_AUDIENCE="tests",
            METRICS_TOKEN=METRICS_TOKEN,
        )
    )
    http = app.test_client()
    before = scrape(http)
    token = pyjwt.encode(
        {"sub": "cometchat-uid-1", "aud": "tests", "exp": int(time.time()) + 300},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "k1"},
    )
    answer = http.post("/api/cometchat/token", headers=bearer(token))
    assert answer.status_code == 503 and answer.json["error"]["code"] == "ERR_AUTH_UNAVAILABLE"
    app.extensions["token_server.emulator"].faults.extend([Fault("status", status=503)] * 3)
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 503
    counted = partial(delta, before, scrape(http))
    assert counted("token_server_auth_failures_total", reason="ERR_AUTH_UNAVAILABLE") == 1
    assert counted("token_server_auth_failures_total") == 1


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("ERR_UID_NOT_FOUND", "ERR_UID_NOT_FOUND"),
        ("AUTH_ERR_APIKEY_NOT_FOUND", "AUTH_ERR_APIKEY_NOT_FOUND"),
        (None, ""),
        ("leaky-uid-7", "other"),
        ("ERR_" + "X" * 100, "other"),
        ("ERR_uid", "other"),
        ("jane_1700000000abcdef0123456789abcdef", "other"),
    ],
)
def test_an_error_code_becomes_a_label_only_in_its_known_shape(code, label) -> None:
    assert code_label(code) == label


def test_no_uid_token_or_key_is_ever_a_label_value(client, metered) -> None:
    uid = "leaky-uid-5f3a9c"
    jwt_token = user_jwt(uid)
    minted = []
    for headers in (service(), bearer(ROTATED_KEY), bearer(jwt_token)):
        answer = client.post(f"/api/cometchat/token/{uid}", headers={**headers, "X-Request-ID": f"rid-{uid}"})
        minted.append(answer.json["authToken"])
    client.post(f"/api/cometchat/token/{uid}/revoke", json={"authToken": minted[0]}, headers=service())
    client.get(f"/api/cometchat/users/{uid}", headers=service())
    client.get(f"/api/cometchat/token/{uid}", headers=service())  # 405
    client.post(f"/api/cometchat/{uid}/{minted[1]}", headers=service())  # 404
    client.open(f"/api/cometchat/token/{uid}", method=uid.upper(), headers=service())  # an invented method
    client.post(f"/api/cometchat/token/{uid}", headers=bearer(METRICS_TOKEN))  # the scrape token as a key
    metered.extensions["token_server.emulator"].faults.append(Fault("status", status=500))
    client.post(f"/api/cometchat/token/{uid}", headers=service())
    text = scrape(client)
    for secret in (uid, jwt_token, SERVICE_KEY, ROTATED_KEY, JWT_SECRET, METRICS_TOKEN, *minted):
        assert secret not in text and secret.lower() not in text.lower(), secret[:12]
    for (_name, labels), _value in samples(text).items():
        for _label, label_value in labels:
            assert "leaky" not in label_value.lower()


def test_the_mode_chosen_at_import_holds_whatever_the_environment_says_later(client, monkeypatch, tmp_path) -> None:
    client.post("/api/cometchat/token/cometchat-uid-5", headers=service())
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # as running gunicorn.conf.py in-process does
    assert value(scrape(client), "token_server_tokens_minted_total") >= 1


# ---- under gunicorn's two workers --------------------------------------------------------












