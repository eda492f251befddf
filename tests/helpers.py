"""Shared constants and builders for the server's tests."""

from __future__ import annotations

import time
from typing import Any

import jwt
from flask.testing import FlaskClient

SERVICE_KEY = "service-key-0123456789abcdef"
ROTATED_KEY = "rotated-key-fedcba9876543210"
JWT_SECRET = "a-test-only-hs256-secret-of-enough-length-0123"


def app_env(**overrides: str) -> dict[str, str]:
    env = {
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": f"{SERVICE_KEY},{ROTATED_KEY}",
        "AUTH_JWT_SECRET": JWT_SECRET,
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def http_client(**overrides: str | None) -> FlaskClient:
    """The Flask test client of an app built from ``app_env(**overrides)``."""
    from token_server import create_app

    return create_app(app_env(**overrides)).test_client()


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def service() -> dict[str, str]:
    return bearer(SERVICE_KEY)


def user_jwt(
    uid: str, *, secret: str = JWT_SECRET, algorithm: str = "HS256", exp_in: float = 300, **claims: Any
) -> str:
    payload: dict[str, Any] = {"sub": uid, "iat": int(time.time()), "exp": int(time.time() + exp_in)}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm=algorithm)


def as_user(uid: str, **kwargs: Any) -> dict[str, str]:
    return bearer(user_jwt(uid, **kwargs))


class Clock:
    """A clock a test sets by hand: pass it where the code takes ``clock=`` (or ``time.time``)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
