"""``GET /users/<uid>/sessions`` and ``DELETE /users/<uid>/sessions/<deviceId>`` (rules:
:mod:`token_server.core.devices`)."""

from __future__ import annotations

from flask import Response

from ..core import devices
from .blueprint import SESSIONS, bp, core_request, run

__all__ = ["SESSIONS", "delete_session", "list_sessions"]


@bp.get("/users/<path:uid>/sessions")
def list_sessions(uid: str) -> Response:
    return run(devices.list_sessions(core_request(), uid))


@bp.delete("/users/<path:uid>/sessions/<device_id>")
def delete_session(uid: str, device_id: str) -> Response:
    return run(devices.delete_session(core_request(), uid, device_id))
