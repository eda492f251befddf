"""The caller-auth section: how callers prove who they are (service keys, a JWT shared secret
or an identity provider's JWKS, with audience, issuer, uid claim, mapping and algorithms), or
dev mode, where nobody has to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Self
from urllib.parse import urlparse

from ..loopback import is_loopback
from .base import MIN_KEY_LENGTH, Env, Mode
from .sessions import parse_duration
from .uid_claim import PROVIDER_ASSIGNED_CLAIM, check_uid_claim

ALLOWED_JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
CALLER_AUTH_VARIABLES = ("TOKEN_SERVER_API_KEYS", "AUTH_JWT_SECRET", "AUTH_JWKS_URL")
MIN_JWT_SECRET_LENGTH = 32  # HS256 needs a 256-bit key
DEFAULT_DEPROVISION_RETENTION = 24 * 3600.0
MIN_DEPROVISION_RETENTION = 3600.0  # shorter than any JWT worth the name: a unit slip ("24" for 24 h)


@dataclass(frozen=True)
class CallerAuthSettings:
    dev: bool = False
    # Why dev mode is on, for the start-up warning ("" when it is off).
    dev_reason: str = ""
    service_keys: tuple[str, ...] = field(default=(), repr=False)
    jwt_secret: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_uid_claim: str = PROVIDER_ASSIGNED_CLAIM
    jwt_uid_mapping: Literal["strict", "cometchat"] = "strict"
    jwt_algorithms: tuple[str, ...] = ()
    jwt_leeway: int = 30
    # How long a deleted user's tombstone refuses logins (token_server/deprovisioned.py): at least
    # the longest lifetime of a JWT the identity provider issues (the server caps none).
    deprovision_retention: float = DEFAULT_DEPROVISION_RETENTION

    @property
    def has_caller_auth(self) -> bool:
        return bool(self.service_keys or self.jwt_secret or self.jwks_url)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        """``production`` needs a caller-auth method or ``TOKEN_SERVER_DEV=1``; ``embedded`` falls
        back to dev mode without one. Dev mode next to a caller-auth method is refused in both:
        it would serve callers without their credentials."""
        read = Env(env)
        dev = read.flag("TOKEN_SERVER_DEV")
        service_keys = read.items("TOKEN_SERVER_API_KEYS")
        jwt_secret, jwks_url = read.text("AUTH_JWT_SECRET"), read.text("AUTH_JWKS_URL")
        audience = read.text("AUTH_JWT_AUDIENCE")
        _check_keys(read, service_keys, jwt_secret, jwks_url)
        if jwks_url:
            _check_jwks_url(read, jwks_url, needs_audience=mode == "production" and not audience)
        uid_mapping = (read.text("AUTH_JWT_UID_MAPPING") or "strict").lower()
        uid_claim = read.text("AUTH_JWT_UID_CLAIM") or PROVIDER_ASSIGNED_CLAIM
        if uid_mapping not in ("strict", "cometchat"):
            read.problem(f"AUTH_JWT_UID_MAPPING must be strict or cometchat (got {uid_mapping!r})")
        check_uid_claim(uid_mapping, uid_claim, read.flag("AUTH_JWT_UID_MAPPING_ANY_CLAIM"), read.problems)
        algorithms = _algorithms(read, jwt_secret, jwks_url)
        methods = (service_keys, jwt_secret, jwks_url)
        given = [name for name, value in zip(CALLER_AUTH_VARIABLES, methods, strict=True) if value]
        dev, dev_reason = _dev_mode(read, dev, given, mode)
        section = cls(
            dev=dev,
            dev_reason=dev_reason,
            service_keys=service_keys,
            jwt_secret=jwt_secret,
            jwks_url=jwks_url,
            jwt_audience=audience,
            jwt_issuer=read.text("AUTH_JWT_ISSUER"),
            jwt_uid_claim=uid_claim,
            jwt_uid_mapping=uid_mapping,  # type: ignore[arg-type]  # checked above
            jwt_algorithms=algorithms,
            deprovision_retention=deprovision_retention(read),
        )
        return read.finish(section, problems)


def _check_keys(read: Env, service_keys: tuple[str, ...], jwt_secret: str | None, jwks_url: str | None) -> None:
    if any(len(key) < MIN_KEY_LENGTH for key in service_keys):
        read.problem(f"TOKEN_SERVER_API_KEYS: every key must be at least {MIN_KEY_LENGTH} characters")
    if jwt_secret and jwks_url:
        read.problem("set AUTH_JWT_SECRET or AUTH_JWKS_URL, not both")
    if jwt_secret and len(jwt_secret) < MIN_JWT_SECRET_LENGTH:
        read.problem("AUTH_JWT_SECRET must be at least 32 characters (HS256 needs a 256-bit key)")
    if not all(key.isascii() and key.isprintable() for key in service_keys):
        read.problem(
            "TOKEN_SERVER_API_KEYS: every key must be printable ASCII (no spaces inside, no control characters)"
        )


def _check_jwks_url(read: Env, jwks_url: str, *, needs_audience: bool) -> None:
    parsed = urlparse(jwks_url)
    if not parsed.netloc or not (
        parsed.scheme == "https" or (parsed.scheme == "http" and is_loopback(parsed.hostname))
    ):
        read.problem("AUTH_JWKS_URL must be an https:// URL (http:// only on localhost, 127.0.0.0/8 or [::1])")
    if needs_audience:
        read.problem(
            "AUTH_JWKS_URL needs AUTH_JWT_AUDIENCE (your app's client id): an identity provider signs "
            "tokens for every application it serves, and only the audience tells ours apart"
        )


def _algorithms(read: Env, jwt_secret: str | None, jwks_url: str | None) -> tuple[str, ...]:
    algorithms = read.items("AUTH_JWT_ALGORITHMS") or (("HS256",) if jwt_secret else ("RS256", "ES256"))
    bad = [a for a in algorithms if a not in ALLOWED_JWT_ALGORITHMS]
    if bad:
        read.problem(f"AUTH_JWT_ALGORITHMS: not allowed: {', '.join(bad)}")
    if jwt_secret and any(not a.startswith("HS") for a in algorithms):
        read.problem("AUTH_JWT_ALGORITHMS: a shared secret only verifies HS* algorithms")
    if jwks_url and any(a.startswith("HS") for a in algorithms):
        read.problem("AUTH_JWT_ALGORITHMS: JWKS keys never verify HS* algorithms")
    return algorithms


def _dev_mode(read: Env, dev: bool, given: list[str], mode: Mode) -> tuple[bool, str]:
    """(dev, why): asked for, or ``embedded`` without caller auth; refused beside caller auth."""
    if dev and given:
        read.problem(
            f"TOKEN_SERVER_DEV=1 together with {', '.join(given)}: dev mode would serve callers without "
            "their credentials; unset TOKEN_SERVER_DEV or the caller authentication"
        )
        return False, ""
    if dev:
        return True, "TOKEN_SERVER_DEV=1"
    if not given:
        if mode == "embedded":
            return True, "no caller auth configured"
        read.problem(
            "no caller authentication: set TOKEN_SERVER_API_KEYS and/or AUTH_JWT_SECRET or AUTH_JWKS_URL "
            "(or TOKEN_SERVER_DEV=1 for an unauthenticated development server)"
        )
    return False, ""


def deprovision_retention(read: Env) -> float:
    """``DEPROVISION_RETENTION`` in seconds (default 24 h, at least 1 h), a problem noted when bad."""
    raw = read.text("DEPROVISION_RETENTION")
    if raw is None:
        return DEFAULT_DEPROVISION_RETENTION
    try:
        seconds = parse_duration(raw)
        if seconds < MIN_DEPROVISION_RETENTION:
            raise ValueError
    except ValueError:
        read.problem(f"DEPROVISION_RETENTION must be a duration of at least 1h like 24h, 7d (got {raw!r})")
        return DEFAULT_DEPROVISION_RETENTION
    return seconds
