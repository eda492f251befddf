"""Shared by the webhook receiver's tests: credentials, payloads, an app with the receiver on."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from .helpers import app_env
from .procs import port_is_free

WEBHOOK_USER = "cometchat"
WEBHOOK_PASSWORD = "abcdefghijklmnop1234"
NEXT_USER, NEXT_PASSWORD = "cometchat2", "qrstuvwxyz9876543210"
CREDENTIALS = f"{WEBHOOK_USER}:{WEBHOOK_PASSWORD}"
PATH = "/api/cometchat/webhooks"


def basic(user: str = WEBHOOK_USER, password: str = WEBHOOK_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def connection(uid: str, status: str, at_ms: int, platform: str = "javascript", **extra: Any) -> dict[str, Any]:
    """A current-envelope ``user_connection_status_changed`` payload (times in milliseconds)."""
    action = "connected" if status == "online" else "disconnected"
    return {
        "trigger": "user_connection_status_changed",
        "data": {
            "timestamp": at_ms,
            "user": {"uid": uid, "name": uid, "status": status, "role": "default"},
            "status": status,
            "currentConnection": {"action": action, "platform": platform, "connectedAt": at_ms - 1000},
            "userPresenceChanged": True,
            **extra,
        },
        "appId": "app123",
        "region": "eu",
        "webhook": "hook-1",
    }


def message_sent(message_id: str, text: str = "hi") -> dict[str, Any]:
    return {
        "trigger": "message_sent",
        "data": {
            "message": {
                "id": message_id,
                "sender": "cometchat-uid-1",
                "receiver": "cometchat-uid-2",
                "receiverType": "user",
                "category": "message",
                "type": "text",
                "data": {"text": text},
                "sentAt": 1700000000,
            }
        },
        "appId": "app123",
        "region": "eu",
        "webhook": "hook-1",
    }


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def webhook_env(**overrides: str | None) -> dict[str, str]:
    return app_env(**{"WEBHOOK_CREDENTIALS": CREDENTIALS, **overrides})


_HANDED_OUT: set[int] = set()


def redis_port() -> int | None:
    """``TEST_REDIS_PORT`` on a shared machine (one Redis at a time); else a free port."""
    port = os.environ.get("TEST_REDIS_PORT")
    return int(port) if port else None


def port_from_range() -> int | None:
    """A free port from ``TEST_PORT_RANGE`` (``25000-25999``), for shared machines; else None."""
    spec = os.environ.get("TEST_PORT_RANGE")
    if not spec:
        return None
    low, high = (int(part) for part in spec.split("-"))
    for port in range(low, high + 1):
        if port not in _HANDED_OUT and port_is_free(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free port in {spec}")
