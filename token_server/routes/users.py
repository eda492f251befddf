"""``POST /users``, ``GET``/``PATCH``/``DELETE /users/<uid>`` (rules: :mod:`token_server.core.users`) and
``GET /users/<uid>/presence`` (what CometChat's webhooks reported: :mod:`token_server.webhooks`)."""

from __future__ import annotations

from flask import Response

from .. import caller
from ..core import users
from ..core.checks import authorize
from ..webhooks import flask_route as webhook_route
from .blueprint import bp, core_request, run


@bp.post("/users")
def create_user() -> Response:
    return run(users.create_user(core_request()))


@bp.get("/users/<path:uid>")
def get_user(uid: str) -> Response:
    return run(users.get_user(core_request(), uid))


@bp.patch("/users/<path:uid>")
def update_user(uid: str) -> Response:
    return run(users.update_user(core_request(), uid))


@bp.delete("/users/<path:uid>")
def delete_user(uid: str) -> Response:
    return run(users.delete_user(core_request(), uid))


@bp.get("/users/<path:uid>/presence")
def get_presence(uid: str) -> Response:
    """The last connection status CometChat reported by webhook (token_server/webhooks/presence.py)."""
    return webhook_route.presence_answer(authorize(caller.current_caller(), uid))
