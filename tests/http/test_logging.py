"""Request ids and log formats: the id (the caller's when plain, else a new one) on every answer,
on the log lines of its request and on its CometChat calls; LOG_FORMAT=json lines that parse,
with today's redaction and escaping kept; gunicorn's own lines in JSON too."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Iterator

import pytest

from cometchat.emulator.faults import Fault
from cometchat.wire import current_request_id
from tests.helpers import JWT_SECRET, SERVICE_KEY, app_env, as_user, http_client, service, user_jwt
from token_server.config import ConfigError, load_settings
from token_server.ops.logformat import HANDLER_NAME, JsonFormatter, PlainFormatter, configure_logging
from token_server.ops.redaction import RedactingFilter
from token_server.requestid import accept_request_id

NEW_ID = re.compile(r"[0-9a-f]{32}")
JSON_FIELDS = {"time", "level", "logger", "message", "request_id", "route", "status", "duration_ms"}
MINT_ROUTE = "/api/cometchat/token/<path:uid>"


@pytest.fixture
def lines() -> Iterator[dict[str, io.StringIO]]:
    """What the server's loggers write during a test, laid out both ways, through the log filter."""
    streams = {"json": io.StringIO(), "plain": io.StringIO()}
    handlers = []
    for name, stream in streams.items():
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter() if name == "json" else PlainFormatter())
        handler.addFilter(RedactingFilter([SERVICE_KEY, JWT_SECRET]))
        handlers.append(handler)
        logging.getLogger().addHandler(handler)
    yield streams
    for handler in handlers:
        logging.getLogger().removeHandler(handler)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# ---- request ids -------------------------------------------------------------------------


@pytest.mark.parametrize("kept", ["abc", "A.b-c_9", "x" * 128, "7f9c2ba4-e88f-11ee-a7b5-0242ac120002"])
def test_a_plain_bounded_request_id_is_kept(kept) -> None:
    assert accept_request_id(kept) == kept


@pytest.mark.parametrize(
    "refused",
    [
        None,
        "",
        "x" * 129,
        "has space",
        "new\nline",
        "semi;colon",
        "caf\u00e9",
        "../../etc/passwd",
        user_jwt("someone"),  # a credential is never logged as an id
        "jane_1700000000abcdef0123456789abcdef",  # shaped like a CometChat token
        SERVICE_KEY,
    ],
)
def test_anything_else_gets_a_new_request_id(refused) -> None:
    assert NEW_ID.fullmatch(accept_request_id(refused, [SERVICE_KEY]))


def test_a_new_request_id_each_time() -> None:
    assert accept_request_id(None) != accept_request_id(None)


def test_the_callers_id_comes_back_and_a_bad_one_is_replaced(http) -> None:
    answer = http.get("/healthz", headers={"X-Request-ID": "from-the-balancer-1"})
    assert answer.headers.getlist("X-Request-ID") == ["from-the-balancer-1"]
    answer = http.get("/healthz", headers={"X-Request-ID": "not ok!"})
    assert NEW_ID.fullmatch(answer.headers["X-Request-ID"])
    answer = http.get("/healthz", headers={"X-Request-ID": SERVICE_KEY})  # a configured secret
    assert NEW_ID.fullmatch(answer.headers["X-Request-ID"])


def test_every_answer_carries_a_request_id(http, upstream, monkeypatch) -> None:
    answers = {
        "200": http.post("/api/cometchat/token/cometchat-uid-1", headers=service()),
        "400": http.post("/api/cometchat/users", data="{", content_type="application/json", headers=service()),
        "401": http.post("/api/cometchat/token/cometchat-uid-1"),
        "403": http.post("/api/cometchat/token/cometchat-uid-1", headers=as_user("someone-else")),
        "404": http.get("/nowhere"),
        "405": http.get("/api/cometchat/token"),
        "413": http.post("/api/cometchat/users", data="x" * 70_000, content_type="application/json", headers=service()),
        "415": http.post("/api/cometchat/users", data="{}", content_type="text/plain", headers=service()),
    }
    upstream.faults.extend([Fault("status", status=503)] * 3)
    answers["503"] = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    limited = http_client(RATE_LIMIT_PER_USER="1 per minute")
    limited.post("/api/cometchat/token", headers=as_user("one-per-minute"))
    answers["429"] = limited.post("/api/cometchat/token", headers=as_user("one-per-minute"))
    client = http.application.extensions["token_server.client"]
    monkeypatch.setattr(client, "mint_token", lambda *a, **k: 1 / 0)
    answers["500"] = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    dev = http_client(TOKEN_SERVER_API_KEYS=None, AUTH_JWT_SECRET=None, TOKEN_SERVER_DEV="1")
    answers["400 bad host"] = dev.get("/healthz", headers={"Host": "evil.example"})
    for expected, answer in answers.items():
        assert str(answer.status_code) == expected.split()[0], expected
        assert NEW_ID.fullmatch(answer.headers.get("X-Request-ID", "")), expected


def test_a_cross_origin_page_may_read_the_request_id() -> None:
    origin = "https://app.example.com"
    http = http_client(CORS_ORIGINS=origin)
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers={**service(), "Origin": origin})
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert "x-request-id" in answer.headers["Access-Control-Expose-Headers"].lower()


def test_the_request_id_goes_with_every_upstream_call(http, upstream) -> None:
    http.post("/api/cometchat/token/trace-new-user", headers={**service(), "X-Request-ID": "login-7"})
    assert list(upstream.request_ids) == ["login-7", "login-7"]  # the 404 mint, then the create
    upstream.faults.append(Fault("status", status=503))
    answer = http.post("/api/cometchat/token/trace-new-user", headers=service())
    assert answer.status_code == 200
    assert list(upstream.request_ids)[2:] == [answer.headers["X-Request-ID"]] * 2  # the retry carries it too


def test_the_request_id_is_on_every_log_line_of_its_request(http, upstream, lines) -> None:
    upstream.faults.append(Fault("status", status=500))
    answer = http.post("/api/cometchat/token/cometchat-uid-2", headers={**service(), "X-Request-ID": "follow-me"})
    assert answer.status_code == 502
    logged = [line for line in json_lines(lines["json"]) if line["logger"].startswith("token_server")]
    assert logged and all(line["request_id"] == "follow-me" for line in logged)
    assert all(line["route"] == MINT_ROUTE for line in logged)
    assert any("upstream failure" in line["message"] for line in logged)
    plain = [line for line in lines["plain"].getvalue().splitlines() if "upstream failure" in line]
    assert plain and all(" token_server [follow-me]: " in line for line in plain)


def test_no_request_id_outside_a_request(http, lines) -> None:
    http.get("/healthz", headers={"X-Request-ID": "over-now"})
    assert current_request_id.get() is None  # nothing lingers in the thread, closed or not
    logging.getLogger("token_server").warning("between requests")
    [line] = [line for line in json_lines(lines["json"]) if line["message"] == "between requests"]
    assert line["request_id"] is None and line["route"] is None
    assert "[" not in lines["plain"].getvalue().splitlines()[-1].partition(": ")[0]


# ---- the JSON format ---------------------------------------------------------------------


def test_a_json_line_is_one_object_with_every_field_and_redaction_kept(lines) -> None:
    log = logging.getLogger("token_server.test")
    log.warning("key %s then\na forged line \u2028 and \x1b[31m", SERVICE_KEY)
    try:
        raise ValueError(f"boom with {JWT_SECRET}")
    except ValueError:
        log.exception("it failed")
    raw = lines["json"].getvalue().splitlines()
    assert len(raw) == 2  # the newline, U+2028 and the traceback all stayed inside their objects
    first, second = (json.loads(line) for line in raw)
    assert JSON_FIELDS <= set(first) and first["level"] == "WARNING" and first["logger"] == "token_server.test"
    assert SERVICE_KEY not in raw[0] and "[REDACTED]" in first["message"]
    assert "\\n" in first["message"] and "\\u2028" in first["message"] and "\\x1b" in first["message"]
    assert first["time"].endswith("+00:00")
    assert "ValueError" in second["exception"] and JWT_SECRET not in raw[1]


def test_a_json_line_never_holds_a_raw_line_break_even_without_the_filter() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a\u2028b\u0085c\nd", None, None)
    line = JsonFormatter().format(record)
    assert line.isascii() and "\n" not in line
    assert json.loads(line)["message"] == "a\u2028b\u0085c\nd"


def test_the_emulator_echoes_and_records_the_request_id() -> None:
    from cometchat.emulator import create_emulator_app

    emulator = create_emulator_app()
    answer = emulator.test_client().get("/v3/users/cometchat-uid-1", headers={"apikey": "k", "X-Request-ID": "echo-1"})
    assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "echo-1"
    assert list(emulator.extensions["cometchat_emulator"].request_ids) == ["echo-1"]


def test_log_format_is_validated() -> None:
    assert load_settings(app_env()).log_format == "plain"
    assert load_settings(app_env(LOG_FORMAT="JSON")).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT must be plain or json"):
        load_settings(app_env(LOG_FORMAT="xml"))


def test_configure_logging_lays_out_its_own_handler() -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        configure_logging("json")
        [ours] = root.handlers
        assert ours.name == HANDLER_NAME and isinstance(ours.formatter, JsonFormatter)
        configure_logging("plain")
        assert root.handlers == [ours] and isinstance(ours.formatter, PlainFormatter)
    finally:
        root.handlers = saved


# ---- gunicorn with LOG_FORMAT=json -------------------------------------------------------




