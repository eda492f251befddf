"""Fault injection for tests and benchmarks, and the ``/_emulator`` control API.

``POST /_emulator/faults`` queues faults (each taken by one later REST call; ``webhook_queue``:
each taken by one later webhook delivery) and sets the latency and the quotas;
``POST /_emulator/reset`` brings the data back to the five test users and the settings back
to the start; ``GET /_emulator/stats`` counts.
"""

from __future__ import annotations

import math
import re
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from flask import Blueprint, Response, jsonify, request

from .rules import error_body
from .webhooks import WebhookFault

if TYPE_CHECKING:
    from .state import EmulatorState

FAULT_KINDS = ("status", "hang", "malformed", "html", "reset", "drip", "import_partial")
IMPORT_ONLY_KINDS = ("import_partial",)  # other requests leave these in the queue
MAX_FAULT_HEADERS = 8
HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
HEADER_VALUE = re.compile(r"[ -~]{0,256}")
LIMIT_SETTINGS = {  # /_emulator/faults key -> EmulatorState.set_limits argument
    "rate_limit_per_minute": "rate_limit_per_minute",
    "core_per_minute": "core",
    "other_per_minute": "other",
    "import_per_minute": "imports",
}


@dataclass
class Fault:
    """One injected misbehaviour.

    status: answer ``status`` (with ``Retry-After`` when ``retry_after`` is set, and any
    extra ``headers``, e.g. ``X-Rate-Limit-Remaining`` or ``X-RateLimit-Reset``, sent as given);
    hang: sleep ``seconds``, then answer normally; malformed / html: a broken body;
    reset: drop the connection unanswered; drip: the real answer's headers, then its body
    one byte every ``interval_ms``; import_partial (imports only): the first ``applied``
    rows land, then answer ``status`` (500) or, with ``drop``, drop the connection.
    """

    kind: str
    status: int = 503
    retry_after: float | None = None
    seconds: float = 30.0
    interval_ms: float = 100.0
    applied: int = 0
    drop: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        default_status = 500 if kind == "import_partial" else 503
        retry_after = data.get("retry_after")
        status = int(data.get("status", default_status))
        if not 400 <= status <= 599:
            raise ValueError("status must be an error status, 400 to 599")
        return cls(
            kind=kind,
            status=status,
            retry_after=seconds_value(retry_after, "retry_after") if retry_after is not None else None,
            seconds=seconds_value(data.get("seconds", 30.0), "seconds"),
            interval_ms=seconds_value(data.get("interval_ms", 100.0), "interval_ms"),
            applied=int(data.get("applied", 0)),
            drop=bool(data.get("drop", False)),
            headers=header_values(data.get("headers", {})),
        )


def header_values(value: Any) -> dict[str, str]:
    """Extra answer headers for a fault: a few names and values, with no line breaks."""
    if not isinstance(value, dict) or len(value) > MAX_FAULT_HEADERS:
        raise ValueError(f"headers must be an object of at most {MAX_FAULT_HEADERS} names")
    for name, text in value.items():
        if not HEADER_NAME.fullmatch(name) or not isinstance(text, str) or not HEADER_VALUE.fullmatch(text):
            raise ValueError("each header must be a token name with a printable value")
    return dict(value)


def seconds_value(value: Any, name: str) -> float:
    """A finite, non-negative number: NaN or infinity would turn the next REST call into a crash
    (``math.ceil(nan)``) or a hang that never ends."""
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number, 0 or more")
    return number


def drop_connection() -> Response:
    """Drop the TCP connection without an answer, as a crashed load balancer would."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return Response(b"", status=500)


def _code_for(status: int) -> str:
    return {429: "ERR_TOO_MANY_REQUESTS", 503: "ERR_SERVICE_UNAVAILABLE"}.get(status, "ERR_INTERNAL_SERVER")


def error_response(fault: Fault) -> Response:
    response = jsonify(error_body(_code_for(fault.status), "Injected upstream failure."))
    response.status_code = fault.status
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(int(math.ceil(fault.retry_after)))
    for name, value in fault.headers.items():
        response.headers[name] = value
    return response


def apply_fault(fault: Fault) -> Response | None:
    """The answer a fault gives before the request is handled; None lets it through."""
    if fault.kind == "hang":
        time.sleep(fault.seconds)
        return None  # then answer normally, far too late
    if fault.kind in ("drip", "import_partial"):
        return None  # these act on the real answer (see drip and the import route)
    if fault.kind == "reset":
        return drop_connection()
    if fault.kind == "malformed":
        return Response(b'{"data": {"uid": ', status=200, mimetype="application/json")
    if fault.kind == "html":
        return Response(b"<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, mimetype="text/html")
    return error_response(fault)


def drip(response: Response, interval: float) -> Response:
    """Send the headers now and the body one byte every ``interval`` seconds."""
    body = response.get_data()

    def trickle() -> Iterator[bytes]:
        for i in range(len(body)):
            if i:
                time.sleep(interval)
            yield body[i : i + 1]

    response.response = trickle()
    response.headers["Content-Length"] = str(len(body))
    response.direct_passthrough = True
    return response


def create_control_blueprint(state: EmulatorState, *, name: str = "cometchat_emulator_control") -> Blueprint:
    """``/_emulator/faults``, ``/_emulator/reset`` and ``/_emulator/stats``."""
    bp = Blueprint(name, __name__)

    @bp.post("/_emulator/faults")
    def set_faults() -> tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        try:
            faults = [Fault.from_json(f) for f in body.get("queue", [])]
            latency = body.get("latency_ms")
            if latency is not None:
                latency = seconds_value(latency, "latency_ms")
            limits = {arg: int(body[key]) for key, arg in LIMIT_SETTINGS.items() if body.get(key) is not None}
            offset = body.get("clock_offset_s")
            if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int)):
                raise ValueError("clock_offset_s must be a whole number of seconds")
            hook_faults = [WebhookFault.from_json(f) for f in body.get("webhook_queue", [])]
            if hook_faults and state.webhooks is None:
                raise ValueError("webhook_queue needs a configured webhook")
            minute = body.get("minute_seconds")
            if minute is not None and seconds_value(minute, "minute_seconds") <= 0:
                raise ValueError("minute_seconds must be positive")
        except (ValueError, TypeError, AttributeError) as exc:
            return jsonify({"error": str(exc)}), 400
        with state.lock:
            if body.get("clear"):
                state.faults.clear()
            state.faults.extend(faults)
            if state.webhooks is not None:
                state.webhooks.add_faults(hook_faults, clear=bool(body.get("clear")))
            if latency is not None:
                state.latency = float(latency) / 1000.0
            state.set_limits(**limits)
            if offset is not None:
                state.clock_offset = offset
            if minute is not None:
                state.quota.minute_seconds = float(minute)
                state.quota.reset_counts()
        return jsonify(
            {
                "queued": len(state.faults),
                "latency_ms": state.latency * 1000,
                "limits": dict(state.quota.limits),
                "minute_seconds": state.quota.minute_seconds,
                "clock_offset_s": state.clock_offset,
            }
        ), 200

    @bp.post("/_emulator/reset")
    def reset() -> Response:
        state.reset()
        return jsonify({"reset": True})

    @bp.get("/_emulator/stats")
    def stats() -> Response:
        with state.lock:
            return jsonify(
                {
                    "requests": state.requests,
                    "connections": state.connections,
                    "users": sum(1 for r in state.users.values() if r.deactivated_at is None),
                    "rate_limited": state.rate_limited,
                    "request_ids": list(state.request_ids),
                    "push_tokens": state.push.count(),
                    "sdk_connections": len(state.sessions),
                    "webhooks": state.webhooks.stats.as_dict() if state.webhooks is not None else None,
                }
            )

    return bp
