"""How a log line is laid out: ``plain`` text (the default) or ``json``, one object a line, both
with the request id; what a line may say is :mod:`token_server.ops.redaction`'s job."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from ..requestid import ENVIRON_REQUEST_ID, ENVIRON_ROUTE, current_request_id, current_route

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The handler configure_logging adds to the root logger, found again by this name.
HANDLER_NAME = "token_server"


def _request_id(record: logging.LogRecord) -> str | None:
    return getattr(record, "request_id", None) or current_request_id.get()


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger [request id]: message``; lines outside a request have no brackets."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = _request_id(record)
        if request_id:
            head, sep, tail = line.partition(": ")
            line = f"{head} [{request_id}]{sep}{tail}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, route,
    status, duration_ms (null when not known), and exception when there is one. JSON escaping
    keeps every object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id(record),
            "route": getattr(record, "route", None) or current_route.get(),
            "status": getattr(record, "status", None),
            "duration_ms": getattr(record, "duration_ms", None),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)  # ASCII only: \u2028 is escaped, never a raw break


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else PlainFormatter()


def configure_logging(log_format: str = "plain") -> None:
    """Give the root logger a handler (under gunicorn or a test runner our loggers need one),
    laid out as ``log_format`` says. A root logger someone else configured keeps its handlers."""
    root = logging.getLogger()
    ours = next((h for h in root.handlers if h.name == HANDLER_NAME), None)
    if ours is None:
        if root.handlers:
            return
        ours = logging.StreamHandler(sys.stderr)
        ours.name = HANDLER_NAME
        root.addHandler(ours)
        root.setLevel(logging.INFO)
    ours.setFormatter(make_formatter(log_format))


def access_fields(status: int, environ: dict[str, Any], seconds: float) -> dict[str, Any]:
    """What an access-log record carries besides its message (gunicorn's ``extra``)."""
    return {
        "request_id": environ.get(ENVIRON_REQUEST_ID),
        "route": environ.get(ENVIRON_ROUTE),
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
