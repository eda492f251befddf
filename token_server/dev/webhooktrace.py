"""Dev mode only: the webhooks this server received lately, for the demo page's flow panel.

``GET /api/dev/webhooks?after=<seq>&wait=<seconds>`` answers the deliveries recorded after
``seq`` (the last 50 are kept, in this process), waiting up to ``wait`` seconds (at most 10)
for one when there is none yet: ``{"events": [...], "last": <seq>}``. Each entry says what the
receiver answered (``answer``, ``duplicate``) and, for a connection event, whose connection
did what (``uid``, ``status``, ``action``, ``platform``, ``at``). The raw payload is not
repeated. Only on a dev server whose receiver is on; the dev-mode guard keeps it to this machine.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, request

from cometchat.webhooks import ConnectionStatusChanged, WebhookEvent

from ..config import Settings
from ..errors import bad_request
from ..loopback import is_loopback
from ..nocache import no_store
from ..webhooks.flask_route import service_of
from ..webhooks.receiver import Answer

TRACE_PATH = "/api/dev/webhooks"
KEPT = 50
MAX_WAIT = 10.0  # seconds: a long poll that ends well before any proxy's idle timeout
EXTENSION = "token_server.dev_webhook_trace"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookTrace:
    """The last ``kept`` deliveries, numbered from 1; readers may wait for the next one."""

    def __init__(self, kept: int = KEPT) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=kept)
        self._seq = itertools.count(1)
        self._last = 0
        self._cond = threading.Condition()

    def record(self, event: WebhookEvent, answer: Answer) -> None:
        entry: dict[str, Any] = {
            "trigger": event.trigger,
            "answer": answer.status,
            "duplicate": bool(answer.body.get("duplicate")),
            "receivedAt": _iso(datetime.now(UTC)),
        }
        if isinstance(event, ConnectionStatusChanged):
            entry.update(
                uid=event.uid, status=event.status, action=event.action, platform=event.platform, at=_iso(event.at)
            )
        with self._cond:
            self._last = next(self._seq)
            self._entries.append({"seq": self._last, **entry})
            self._cond.notify_all()

    def after(self, seq: int, wait: float) -> tuple[list[dict[str, Any]], int]:
        """The entries numbered above ``seq``, waiting at most ``wait`` seconds for one."""
        deadline = time.monotonic() + wait
        with self._cond:
            while self._last <= seq:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return [dict(e) for e in self._entries if e["seq"] > seq], self._last


def init_app(app: Flask, settings: Settings) -> str | None:
    """Record ``app``'s deliveries and serve them (dev mode, receiver on); the route's path, or None."""
    service = service_of(app)
    if not settings.dev or service is None:
        return None
    trace = WebhookTrace()
    service.receiver.observers.append(trace.record)
    app.extensions[EXTENSION] = trace
    app.add_url_rule(TRACE_PATH, "dev_webhook_trace", recent_webhooks, methods=["GET"])
    return TRACE_PATH


def _query_number(name: str, default: float, highest: float) -> float:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number.", name) from None
    if not math.isfinite(value) or not 0 <= value <= highest:
        raise bad_request(f"{name} must be from 0 to {highest:g}.", name)
    return value


def recent_webhooks() -> Response:
    if not is_loopback(request.remote_addr):  # as the dev JWT route: this machine only, even under gunicorn
        abort(404)
    after = _query_number("after", 0, float(2**53))
    if after != int(after):
        raise bad_request("after must be a whole number.", "after")
    wait = _query_number("wait", 0, MAX_WAIT)
    trace: WebhookTrace = current_app.extensions[EXTENSION]
    events, last = trace.after(int(after), wait)
    return no_store(jsonify({"events": events, "last": last}))
