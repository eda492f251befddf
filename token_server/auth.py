"""Who is calling: a trusted backend with a service key, an end user with a JWT from the
app's identity provider, or anyone in dev mode. And what each may do."""

from __future__ import annotations

import hmac
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

import jwt

from cometchat import ValidationError, to_cometchat_uid
from cometchat.validation import check_user_fields, normalize_uid, uid_or_none

from . import codes
from .config import CallerAuthSettings
from .core.errors import ApiError
from .jwks import JwksKeys, JwksUnavailable

if TYPE_CHECKING:
    from flask import Request

    from .dev.devjwt import DevJwtIssuer

log = logging.getLogger("token_server.auth")

CallerKind = Literal["service", "user", "dev"]
# A JWT is three base64url parts; a service key is never shaped like one.
_JWT_PARTS = 3


@dataclass(frozen=True)
class Caller:
    kind: CallerKind
    uid: str | None = None  # an end user's own uid, lowercased
    # The profile the backend vouches for (``identify`` returning ``Caller.user(uid, name=...,
    # avatar=...)``, or a JWT's ``name`` and ``picture`` claims). When the token route creates
    # the user, these are used and the request body's are ignored.
    name: str | None = None
    avatar: str | None = None

    @classmethod
    def service(cls) -> Caller:
        return cls("service")

    @classmethod
    def user(cls, uid: str, *, name: str | None = None, avatar: str | None = None) -> Caller:
        """An end user; ``name`` and ``avatar``, when given, are its profile at first login.
        A profile value CometChat would refuse is dropped (logged), never the login."""
        return cls("user", normalize_uid(uid), _profile_value("name", name), _profile_value("avatar", avatar))

    @property
    def has_profile(self) -> bool:
        return self.name is not None or self.avatar is not None

    @classmethod
    def dev(cls) -> Caller:
        return cls("dev")

    @property
    def is_trusted(self) -> bool:
        """Service keys and dev mode act on any uid; end users only on their own."""
        return self.kind in ("service", "dev")

    def may_act_for(self, uid: str) -> bool:
        return self.is_trusted or (self.uid is not None and self.uid == uid_or_none(uid))


IdentifyCaller = Callable[["Request"], Caller]


def _profile_value(field: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        return check_user_fields({field: value}, require_name=False)[field]
    except ValidationError:
        log.warning("the caller's %s is not one CometChat accepts: left out", field)
        return None


def unauthorized(message: str, code: str = codes.ERR_UNAUTHORIZED) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="cometchat-token-server"'})


class Authenticator:
    def __init__(self, settings: CallerAuthSettings, dev_jwt: DevJwtIssuer | None = None) -> None:
        self._service_keys = [key.encode() for key in settings.service_keys]
        self._settings = settings
        self._jwks = JwksKeys(settings.jwks_url) if settings.jwks_url else None
        self._jwt_enabled = bool(settings.jwt_secret or settings.jwks_url)
        # Checked here too, not only at start: an unauthenticated caller is never trusted
        # while any caller-auth method is configured, whatever built these settings.
        self._dev_caller = settings.dev and not settings.has_caller_auth
        # Test JWTs (dev mode's stand-in for an identity provider) count only where nobody is
        # authenticated anyway: never next to real caller auth.
        self._dev_jwt = dev_jwt if self._dev_caller else None

    @property
    def jwks(self) -> JwksKeys | None:
        """The identity provider's keys, with ``AUTH_JWKS_URL`` (readiness asks them)."""
        return self._jwks

    def _match_service_key(self, presented: str) -> bool:
        candidate = presented.encode()
        # Compare against every key, in constant time, without stopping at a match.
        results = [hmac.compare_digest(candidate, key) for key in self._service_keys]
        return any(results)

    def _signing_key(self, header: dict[str, Any]) -> Any:
        if self._jwks is None:
            return self._settings.jwt_secret
        try:
            key = self._jwks.key_for(header.get("kid"))
        except JwksUnavailable as exc:
            raise ApiError(
                503,
                codes.ERR_AUTH_UNAVAILABLE,
                "Cannot verify tokens right now.",
                headers={"Retry-After": str(math.ceil(exc.retry_after))},
            ) from None
        if key is None:
            raise unauthorized("The token's signing key is unknown.", codes.ERR_INVALID_TOKEN)
        if not key.verifies(header["alg"]):
            raise unauthorized("The token's algorithm does not fit its signing key.", codes.ERR_INVALID_TOKEN)
        return key.key

    def _verify_jwt(self, token: str) -> Caller:
        settings = self._settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("The bearer token is malformed.", codes.ERR_INVALID_TOKEN) from None
        # Refused before any key lookup, so a token with a foreign algorithm never costs a
        # JWKS fetch; jwt.decode below holds the same list on its own.
        if header.get("alg") not in settings.jwt_algorithms:
            raise unauthorized("The token's algorithm is not accepted.", codes.ERR_INVALID_TOKEN)
        key = self._signing_key(header)
        required = ["exp"] + (["aud"] if settings.jwt_audience else []) + (["iss"] if settings.jwt_issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(settings.jwt_algorithms),
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway,
                # PyJWT's default stays: with no audience configured, a token that names one
                # was issued for some other application and is refused.
                options={"require": required},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("The token has expired.", codes.ERR_TOKEN_EXPIRED) from None
        except jwt.PyJWTError as exc:
            raise unauthorized(f"The token is not valid ({type(exc).__name__}).", codes.ERR_INVALID_TOKEN) from None
        return self._user(claims.get(settings.jwt_uid_claim), claims)

    def _verify_dev_jwt(self, issuer: DevJwtIssuer, token: str) -> Caller:
        try:
            claims = issuer.verify(token)
        except jwt.ExpiredSignatureError:
            raise unauthorized("The test token has expired.", codes.ERR_TOKEN_EXPIRED) from None
        except jwt.PyJWTError as exc:
            message = f"The test token is not valid ({type(exc).__name__})."
            raise unauthorized(message, codes.ERR_INVALID_TOKEN) from None
        try:
            return Caller.user(claims["sub"])
        except ValidationError:
            raise unauthorized("The test token's 'sub' claim is not a valid uid.", codes.ERR_INVALID_TOKEN) from None

    def _user(self, claim: Any, claims: dict[str, Any]) -> Caller:
        """The JWT's user; its ``name`` and ``picture`` claims, when present, are the profile."""
        name = self._settings.jwt_uid_claim
        profile = {"name": claims.get("name"), "avatar": claims.get("picture")}
        if self._settings.jwt_uid_mapping == "cometchat":
            try:
                return Caller.user(to_cometchat_uid(claim), **profile)
            except ValidationError:
                message = f"The token's {name!r} claim is missing or empty."
                raise unauthorized(message, codes.ERR_INVALID_TOKEN) from None
        try:
            return Caller.user(claim, **profile)
        except ValidationError:
            raise unauthorized(
                f"The token's {name!r} claim is not a valid CometChat uid; set AUTH_JWT_UID_MAPPING=cometchat "
                "to map identity-provider ids onto uids.",
                codes.ERR_INVALID_TOKEN,
            ) from None

    def __call__(self, request: Request) -> Caller:
        """The caller of ``request`` (anything with a ``headers`` mapping: Flask's, Starlette's)."""
        header = request.headers.get("Authorization", "")
        if not header:
            if self._dev_caller:
                return Caller.dev()
            raise unauthorized("Send Authorization: Bearer <service key or user JWT>.")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise unauthorized("The Authorization header must be 'Bearer <credential>'.")
        if self._match_service_key(credential):
            return Caller.service()
        looks_like_jwt = credential.count(".") == _JWT_PARTS - 1
        if self._jwt_enabled and looks_like_jwt:
            return self._verify_jwt(credential)
        if self._dev_jwt is not None and looks_like_jwt:
            return self._verify_dev_jwt(self._dev_jwt, credential)
        if self._dev_caller:
            return Caller.dev()
        raise unauthorized("The credential is not valid.", codes.ERR_INVALID_CREDENTIALS)
