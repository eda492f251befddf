"""``POST /token/<uid>``, ``POST /token`` and ``POST /token/<uid>/revoke`` (rules: :mod:`token_server.core.tokens`)."""

from __future__ import annotations

from flask import Response

from ..core import tokens
from .blueprint import bp, core_request, run


@bp.post("/token/<path:uid>")
def mint_for_uid(uid: str) -> Response:
    return run(tokens.mint_for_uid(core_request(), uid))


@bp.post("/token")
def mint_for_caller() -> Response:
    return run(tokens.mint_for_caller(core_request()))


@bp.post("/token/<path:uid>/revoke")
def revoke(uid: str) -> Response:
    return run(tokens.revoke(core_request(), uid))
