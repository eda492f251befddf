"""Prometheus metrics, served at ``/metrics`` to a scraper that presents ``METRICS_TOKEN``.

A bearer token rather than a second port: on the platforms the Procfile targets only ``$PORT``
is routed, and one gunicorn worker can answer for all (multiprocess mode below), so the scrape
needs no server of its own. The token is not a service key: a scraper cannot mint.

No label value ever comes from request data: routes are URL rules, upstream endpoints are
the templates of the endpoint table (``POST /users/{uid}/auth_tokens``, in
``cometchat.endpoints``), methods and codes are checked against fixed shapes. A uid, a token
or a key can never become a series.

Under gunicorn's several workers, prometheus_client's multiprocess mode keeps each worker's
values in files under ``PROMETHEUS_MULTIPROC_DIR`` (``gunicorn.conf.py`` sets it up before
anything imports prometheus_client) and ``/metrics`` adds them up, whichever worker answers.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import time
from typing import Any

from flask import Flask, Response, request, request_finished
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client import values as prometheus_values

from cometchat.policy import UpstreamAttempt, UpstreamObserver

from .. import caller, codes
from ..auth import unauthorized
from ..nocache import no_store
from ..requestid import ENVIRON_STARTED

METRICS_PATH = "/metrics"
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# CometChat's error codes (ERR_UID_NOT_FOUND, AUTH_ERR_APIKEY_NOT_FOUND) and ours (ERR_TOKEN_EXPIRED):
# upper case, so never a (lowercased) uid, and short.
ERROR_CODE = re.compile(r"(?:[A-Z]{1,16}_)?ERR_[A-Z0-9_]{1,48}")
OTHER = "other"
# Answers whose error code says why a caller was refused: 401, 403, and the 503 of a JWKS
# provider out of reach (other 503s are CometChat's).
AUTH_FAILURE_STATUSES = frozenset({401, 403})
AUTH_UNAVAILABLE = codes.ERR_AUTH_UNAVAILABLE
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0)

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "token_server_requests",
    "Answers sent, by route (the URL rule), method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "token_server_request_duration_seconds",
    "Time to answer, by route.",
    ["route"],
    buckets=SECONDS_BUCKETS,
    registry=REGISTRY,
)
TOKENS_MINTED = Counter("token_server_tokens_minted", "Auth tokens handed to callers.", registry=REGISTRY)
USERS_CREATED = Counter("token_server_users_created", "CometChat users created by this server.", registry=REGISTRY)
UPSTREAM_CALLS = Counter(
    "token_server_upstream_requests",
    "CometChat attempts, by endpoint template and outcome (ok, client_error, rate_limited, server_error, "
    "timeout, connection_error, bad_response), with the HTTP status and CometChat's error code.",
    ["endpoint", "outcome", "status", "code"],
    registry=REGISTRY,
)
UPSTREAM_SECONDS = Histogram(
    "token_server_upstream_duration_seconds",
    "Time of one CometChat attempt, by endpoint template.",
    ["endpoint"],
    buckets=SECONDS_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_RETRIES = Counter(
    "token_server_upstream_retries",
    "CometChat attempts that were retries, by endpoint.",
    ["endpoint"],
    registry=REGISTRY,
)
RATE_LIMIT_REMAINING = Gauge(
    "token_server_upstream_ratelimit_remaining",
    "The last X-RateLimit-Remaining CometChat sent (its per-minute quota left).",
    registry=REGISTRY,
    multiprocess_mode="livemostrecent",
)
REFUSED_BY_LIMITS = Counter(
    "token_server_rate_limited", "Callers refused by our own rate limits (429), by route.", ["route"], registry=REGISTRY
)
AUTH_FAILURES = Counter(
    "token_server_auth_failures",
    "Callers refused for who they are, by reason (the error code).",
    ["reason"],
    registry=REGISTRY,
)

DEVICE_TOKENS = Counter(
    "token_server_device_tokens",
    "Device logins answered, by outcome: reused (the device's stored token, no upstream call) or minted.",
    ["outcome"],
    registry=REGISTRY,
)
USERS_NEAR_TOKEN_LIMIT = Counter(
    "token_server_users_near_token_limit",
    "Times a user was seen holding more than 90 of CometChat's 100 valid tokens (older devices about to drop).",
    registry=REGISTRY,
)

DEVICES_EVICTED = Counter(
    "token_server_devices_evicted",
    "Devices revoked and forgotten because their user tracked more than CometChat's 100 (least recently used first).",
    registry=REGISTRY,
)
UNREADABLE_DEVICE_TOKENS = Counter(
    "token_server_device_tokens_unreadable",
    "Device records sealed with a key this server does not hold (their tokens cannot be revoked by it).",
    registry=REGISTRY,
)
OUTAGE_TOKENS = Counter(
    "token_server_device_outage_tokens",
    "Device tokens minted while the session store did not answer, by what became of them: "
    "minted, kept (stored once the store answered), revoked (another token won the device), dropped (cache full).",
    ["outcome"],
    registry=REGISTRY,
)


def count_device_evicted() -> None:
    DEVICES_EVICTED.inc()


def count_unreadable_device_token() -> None:
    UNREADABLE_DEVICE_TOKENS.inc()


def count_outage_token(outcome: str) -> None:
    OUTAGE_TOKENS.labels(outcome=outcome).inc()


CONNECTIONS_WAITING = Gauge(
    "token_server_connections_waiting",
    "Connections waiting for their request, head or body (capped by GUNICORN_MAX_WAITING per worker).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
CONNECTIONS_CLOSED = Counter(
    "token_server_connections_closed",
    "Connections closed on a bound: head_timeout, body_timeout, head_too_large, waiting_cap, "
    "open_cap_oldest, open_cap, write_timeout.",
    ["reason"],
    registry=REGISTRY,
)


def count_device_token(*, reused: bool) -> None:
    DEVICE_TOKENS.labels(outcome="reused" if reused else "minted").inc()


def count_user_near_token_limit() -> None:
    USERS_NEAR_TOKEN_LIMIT.inc()


def count_mint(*, user_created: bool) -> None:
    """One token handed to a caller (and whether its user was created for it)."""
    TOKENS_MINTED.inc()
    if user_created:
        USERS_CREATED.inc()


def code_label(code: str | None) -> str:
    """An error code as a label value: as it is when it has a known code's shape."""
    if not code:
        return ""
    return code if ERROR_CODE.fullmatch(code) else OTHER


def observe_upstream(attempt: UpstreamAttempt) -> None:
    """Count one CometChat attempt: the clients' observer, passed to them at construction."""
    status = "" if attempt.status is None else str(attempt.status)
    UPSTREAM_CALLS.labels(attempt.endpoint, attempt.outcome, status, code_label(attempt.code)).inc()
    UPSTREAM_SECONDS.labels(attempt.endpoint).observe(attempt.seconds)
    if attempt.attempt > 1:
        UPSTREAM_RETRIES.labels(attempt.endpoint).inc()
    if attempt.rate_limit_remaining is not None:
        RATE_LIMIT_REMAINING.set(attempt.rate_limit_remaining)


def upstream_observers(token: str | None) -> list[UpstreamObserver]:
    """The observers the app's client is built with: the upstream counters when metrics are on."""
    return [observe_upstream] if token else []


def _error_code(response: Response) -> str | None:
    if response.is_streamed or response.mimetype != "application/json":
        return None
    try:
        error = json.loads(response.get_data()).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


def _count_answer(sender: Flask, response: Response, **_: Any) -> None:
    rule = request.url_rule
    started = request.environ.get(ENVIRON_STARTED)
    seconds = time.perf_counter() - started if started is not None else None
    code = _error_code(response) if response.status_code >= 400 else None
    route = rule.rule if rule is not None else UNMATCHED_ROUTE
    count_answer(route, request.method, response.status_code, seconds, code)


def count_answer(route: str, method: str, status: int, seconds: float | None, code: str | None) -> None:
    """One answer of the routes, whichever host gave it (the Flask hook above, the FastAPI
    router): ``route`` the matched rule (never the raw path), ``code`` the error's code."""
    method = method if method in METHODS else OTHER
    REQUESTS.labels(route, method, str(status)).inc()
    if seconds is not None:
        REQUEST_SECONDS.labels(route).observe(seconds)
    if status == 429:
        REFUSED_BY_LIMITS.labels(route).inc()
    reason = _auth_failure_reason(status, code)
    if reason is not None:
        AUTH_FAILURES.labels(reason).inc()


def _auth_failure_reason(status: int, code: str | None) -> str | None:
    if status not in AUTH_FAILURE_STATUSES and status != 503:
        return None
    if status == 503 and code != AUTH_UNAVAILABLE:
        return None
    return code_label(code) or OTHER


def _multiprocess() -> bool:
    # prometheus_client chose its mode once, when first imported: follow that choice, not
    # the environment as it is now.
    return prometheus_values.ValueClass is not prometheus_values.MutexValue


def exposition() -> bytes:
    """The scrape: every worker's values in multiprocess mode, else this process's."""
    directory = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if not directory or not _multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


def init_app(app: Flask, token: str | None) -> None:
    """Count ``app``'s answers and serve them, with the upstream calls its client counts
    (:func:`upstream_observers`), at ``/metrics`` to callers presenting ``token``. Without a
    token there is no ``/metrics`` and no hook. (:func:`count_mint` counts whatever the
    setting: the routes call it.)"""
    if not token:
        return
    expected = token.encode()
    request_finished.connect(_count_answer, app)

    def scrape() -> Response:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
            # Counted by the failed-authentication limit like the routes' 401s (429 past it).
            caller.refuse(unauthorized("Send Authorization: Bearer <METRICS_TOKEN>."))
        return no_store(Response(exposition(), content_type=CONTENT_TYPE))

    app.add_url_rule(METRICS_PATH, "metrics", scrape, methods=["GET"])


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit: a dead worker's live gauges leave the scrape (its counters stay)."""
    directory = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if directory:
        prometheus_multiprocess.mark_process_dead(pid, directory)
