"""Test JWTs for dev mode, so the end-user route (``POST /api/cometchat/token``) can be tried
locally the way a single-page app calls it."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import jwt
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from cometchat.validation import normalize_uid

from ..body import read_json_object
from ..config import Settings
from ..errors import bad_request
from ..loopback import is_loopback
from ..nocache import no_store

DEV_JWT_PATH = "/api/dev/jwt"
DEV_JWT_LIFETIME = 600  # seconds: long enough to try a few calls, short enough to stay a test
DEV_JWT_ISSUER = "cometchat-token-server-dev"
DEV_JWT_ALGORITHM = "HS256"
EXTENSION = "token_server.dev_jwt"


@dataclass(frozen=True)
class DevJwtIssuer:
    """Signs test JWTs with a random secret made when the app starts, never read from the
    environment: a test JWT is valid only against the dev server that issued it, while it runs."""
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    lifetime: int = DEV_JWT_LIFETIME

    def issue(self, uid: str) -> str:
        now = int(time.time())
        claims = {"sub": uid, "iss": DEV_JWT_ISSUER, "iat": now, "exp": now + self.lifetime}
        return jwt.encode(claims, self.secret, algorithm=DEV_JWT_ALGORITHM)

    def verify(self, token: str) -> dict:
        """The claims, or a ``jwt.PyJWTError``."""
        return jwt.decode(
            token,
            self.secret,
            algorithms=[DEV_JWT_ALGORITHM],
            issuer=DEV_JWT_ISSUER,
            options={"require": ["exp", "iss", "sub"]},
        )


def issuer_for(settings: Settings) -> DevJwtIssuer | None:
    """An issuer only for a dev server that authenticates nobody: next to real caller auth a
    test JWT would be a way around it."""
    if settings.dev and not settings.has_caller_auth:
        return DevJwtIssuer()
    return None


bp = Blueprint("dev_jwt", __name__)


@bp.post(DEV_JWT_PATH)
def issue_dev_jwt() -> Response:
    # The dev-mode guard already checks the Host header; this route also wants the caller on
    # this machine (a dev server run under gunicorn listens on every interface).
    if not is_loopback(request.remote_addr):
        abort(404)
    body = read_json_object(frozenset({"uid"}), required=("uid",))
    if not isinstance(body["uid"], str):
        raise bad_request("The uid must be a string.", "uid")
    uid = normalize_uid(body["uid"])
    issuer: DevJwtIssuer = current_app.extensions[EXTENSION]
    response = jsonify({"jwt": issuer.issue(uid), "uid": uid, "expiresIn": issuer.lifetime})
    return no_store(response)


def init_app(app: Flask, issuer: DevJwtIssuer) -> None:
    app.extensions[EXTENSION] = issuer
    app.register_blueprint(bp)
