"""Dev mode only: each answer of the token routes tells what the server did upstream, so the
demo page can show the whole flow (page -> token server -> CometChat -> SDK)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Response, g, has_app_context, request

from cometchat import CometChatClient
from cometchat.policy import UpstreamAttempt

from ..config import Settings
from ..pipeline import URL_PREFIX

HEADER = "X-Dev-Upstream-Trace"
# A request makes at most a few calls with a few retries each; a runaway list must not make
# a header too big for a proxy.
MAX_ENTRIES = 16
_G_KEY = "dev_upstream_trace"
# Upstream error codes are short upper-case words; anything else is not repeated.
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def entry(attempt: UpstreamAttempt) -> dict[str, Any]:
    item: dict[str, Any] = {
        "call": attempt.endpoint,
        "status": attempt.status,
        "outcome": attempt.outcome,
        "ms": round(attempt.seconds * 1000, 1),
        "attempt": attempt.attempt,
    }
    if attempt.code and _CODE.fullmatch(attempt.code):
        item["code"] = attempt.code
    return item


def init_app(app: Flask, settings: Settings, client: CometChatClient) -> None:
    """Trace the upstream calls of ``app``'s token routes into their answers (dev mode only).

    The header ``X-Dev-Upstream-Trace`` carries a compact JSON list, one entry per upstream
    attempt of the request: ``{"call": "POST /users/{uid}/auth_tokens", "status": 200,
    "outcome": "ok", "ms": 3.2, "attempt": 1}`` (+ ``"code"`` when CometChat sent one).
    Endpoints are templated by the transport, so no uid or token is in it. Refused outside dev
    mode, whoever calls it."""
    if not settings.dev:
        return

    def record(attempt: UpstreamAttempt) -> None:
        # Only inside one of this app's requests: the in-process emulator runs its own app,
        # whose context has no trace list.
        if has_app_context():
            trace = g.get(_G_KEY)
            if trace is not None and len(trace) < MAX_ENTRIES:
                trace.append(entry(attempt))

    client.observers.append(record)

    @app.before_request
    def start_trace() -> None:
        if request.path.startswith(URL_PREFIX + "/"):
            setattr(g, _G_KEY, [])

    @app.after_request
    def send_trace(response: Response) -> Response:
        trace = g.get(_G_KEY)
        if trace is not None:
            # ensure_ascii: a header value stays plain ASCII whatever it holds.
            response.headers[HEADER] = json.dumps(trace, separators=(",", ":"), ensure_ascii=True)
        return response
