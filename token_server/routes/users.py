"""``POST /users`` and ``GET``/``PATCH``/``DELETE /users/<uid>`` (rules: :mod:`token_server.core.users`)."""

from __future__ import annotations

from flask import Response

from ..core import users
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
