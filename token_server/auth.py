"""Who is calling: a trusted backend with a service key, an end user with a JWT from the
app's identity provider, or anyone in dev mode. And what each may do."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal

import jwt
from flask import Request

from cometchat import ValidationError
from cometchat.validation import normalize_uid

from .config import Settings
from .errors import ApiError

log = logging.getLogger("token_server.auth")

CallerKind = Literal["service", "user", "dev"]
# A JWT is three base64url parts; a service key is never shaped like one.
_JWT_PARTS = 3


@dataclass(frozen=True)
class Caller:
    kind: CallerKind
    uid: str | None = None  # an end user's own uid, lowercased
    label: str = ""  # for logs: "service key #2", "user alice"; never a secret

    @classmethod
    def service(cls, index: int = 0) -> Caller:
        return cls("service", None, f"service key #{index + 1}")

    @classmethod
    def user(cls, uid: str) -> Caller:
        uid = normalize_uid(uid)
        return cls("user", uid, f"user {uid}")

    @classmethod
    def dev(cls) -> Caller:
        return cls("dev", None, "dev mode (unauthenticated)")

    @property
    def is_trusted(self) -> bool:
        """Service keys and dev mode act on any uid; end users only on their own."""
        return self.kind in ("service", "dev")

    def may_act_for(self, uid: str) -> bool:
        return self.is_trusted or (self.uid is not None and self.uid == uid.lower())


IdentifyCaller = Callable[[Request], Caller]


def unauthorized(message: str, code: str = "ERR_UNAUTHORIZED") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="cometchat-token-server"'})


class JwksKeys:
    """Signing keys from ``AUTH_JWKS_URL``: cached, refreshed when a token names an unknown
    ``kid`` (key rotation), but at most once per ``min_refresh`` seconds so random kids
    cannot turn every request into a fetch."""

    def __init__(self, url: str, *, max_age: float = 600.0, min_refresh: float = 30.0, timeout: float = 5.0) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=int(timeout))
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = float("-inf")
        self._max_age, self._min_refresh = max_age, min_refresh
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        jwk_set = jwt.PyJWKSet.from_dict(self._client.fetch_data())
        self._keys = {key.key_id: key.key for key in jwk_set.keys}
        self._fetched_at = time.monotonic()

    def key_for(self, kid: str | None) -> Any:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > self._max_age or (kid not in self._keys and age > self._min_refresh):
                try:
                    self._refresh()
                except (jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
                    log.error("could not fetch the JWKS: %s", type(exc).__name__)
                    if not self._keys:
                        raise ApiError(503, "ERR_AUTH_UNAVAILABLE", "Cannot verify tokens right now.") from exc
            if kid not in self._keys:
                if kid is None and len(self._keys) == 1:
                    return next(iter(self._keys.values()))
                raise unauthorized("The token's signing key is unknown.", "ERR_INVALID_TOKEN")
            return self._keys[kid]


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._service_keys = [key.encode() for key in settings.service_keys]
        self._settings = settings
        self._jwks = JwksKeys(settings.jwks_url) if settings.jwks_url else None
        self._jwt_enabled = bool(settings.jwt_secret or settings.jwks_url)

    def _match_service_key(self, presented: str) -> int | None:
        candidate = presented.encode()
        # Compare against every key, in constant time, without stopping at a match.
        results = [hmac.compare_digest(candidate, key) for key in self._service_keys]
        return results.index(True) if any(results) else None

    def _verify_jwt(self, token: str) -> Caller:
        settings = self._settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("The bearer token is malformed.", "ERR_INVALID_TOKEN") from None
        if header.get("alg") not in settings.jwt_algorithms:
            raise unauthorized("The token's algorithm is not accepted.", "ERR_INVALID_TOKEN")
        key = self._jwks.key_for(header.get("kid")) if self._jwks else settings.jwt_secret
        required = ["exp"] + (["aud"] if settings.jwt_audience else []) + (["iss"] if settings.jwt_issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(settings.jwt_algorithms),
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway,
                options={"require": required, "verify_aud": bool(settings.jwt_audience)},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("The token has expired.", "ERR_TOKEN_EXPIRED") from None
        except jwt.PyJWTError as exc:
            raise unauthorized(f"The token is not valid ({type(exc).__name__}).", "ERR_INVALID_TOKEN") from None
        uid = claims.get(settings.jwt_uid_claim)
        try:
            return Caller.user(uid)
        except ValidationError:
            raise unauthorized(
                f"The token's {settings.jwt_uid_claim!r} claim is not a valid CometChat uid.", "ERR_INVALID_TOKEN"
            ) from None

    def __call__(self, request: Request) -> Caller:
        header = request.headers.get("Authorization", "")
        if not header:
            if self._settings.dev:
                return Caller.dev()
            raise unauthorized("Send Authorization: Bearer <service key or user JWT>.")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise unauthorized("The Authorization header must be 'Bearer <credential>'.")
        index = self._match_service_key(credential)
        if index is not None:
            return Caller.service(index)
        if self._jwt_enabled and credential.count(".") == _JWT_PARTS - 1:
            return self._verify_jwt(credential)
        if self._settings.dev and not self._settings.has_caller_auth:
            return Caller.dev()
        raise unauthorized("The credential is not valid.", "ERR_INVALID_CREDENTIALS")
