"""Configuration, read once from the environment (or a mapping of the same names) and
validated at start with one message naming every missing or bad variable."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping
from urllib.parse import urlparse

from limits import parse_many

from cometchat.budget import DEFAULT_WINDOW_SECONDS
from cometchat.client import (
    APP_ID,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TOTAL_DEADLINE,
    REGIONS,
)

from .egress_config import egress_settings, proxy_password, redact_proxy
from .uid_claim import PROVIDER_ASSIGNED_CLAIM, check_uid_claim

Mode = Literal["production", "embedded"]

TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}
ALLOWED_JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_RATE_LIMIT_PER_USER = "30 per minute"
DEFAULT_RATE_LIMIT_PER_ADDRESS = "120 per minute"
# 401s a client address may collect before it gets 429 on every route (guessing credentials).
DEFAULT_RATE_LIMIT_AUTH_FAILURES = "30 per minute"
DEFAULT_RATELIMIT_STORAGE_URI = "memory://"
LOG_FORMATS = ("plain", "json")
# Service keys and the metrics token: long enough that guessing is hopeless.
MIN_KEY_LENGTH = 16
# gunicorn's worker timeout (gunicorn.conf.py reads it from here). The upstream deadline must
# end this much earlier: the deadline is checked between attempts, and one attempt may run on.
WORKER_TIMEOUT = 30
DEADLINE_HEADROOM = 5
CALLER_AUTH_VARIABLES = ("TOKEN_SERVER_API_KEYS", "AUTH_JWT_SECRET", "AUTH_JWKS_URL")
# An origin exactly as a browser sends it: scheme://host[:port], nothing else. flask-cors reads
# an entry holding any of ?$^[]()\* as a regular expression, so nothing else may pass.
ORIGIN = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?",
    re.IGNORECASE,
)


def dotenv_path(directory: Path | None = None) -> Path | None:
    """``.env`` in the working directory, or None: never one from a parent folder (a home
    folder's or a monorepo root's ``.env`` must not configure this server)."""
    path = (Path.cwd() if directory is None else directory) / ".env"
    return path if path.is_file() else None


def load_dotenv_file() -> None:
    """Load ``.env`` for local runs; it never overrides the real environment.
    ``TOKEN_SERVER_SKIP_DOTENV=1`` skips it (the tests' child processes set it, so a
    developer's ``.env`` never leaks into a test)."""
    if os.environ.get("TOKEN_SERVER_SKIP_DOTENV") == "1":
        return
    path = dotenv_path()
    if path is not None:
        from dotenv import load_dotenv

        # An explicit path: python-dotenv's own search walks up to the filesystem root.
        load_dotenv(path, override=False)


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConfigError(Exception):
    """Every problem at once, so a deploy is fixed in one round."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("token server configuration: " + "; ".join(problems))


@dataclass(frozen=True)
class Settings:
    app_id: str | None = None
    region: str | None = None
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    emulator: bool = False
    dev: bool = False
    service_keys: tuple[str, ...] = field(default=(), repr=False)
    jwt_secret: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_uid_claim: str = "sub"
    jwt_uid_mapping: Literal["strict", "cometchat"] = "strict"
    jwt_algorithms: tuple[str, ...] = ()
    jwt_leeway: int = 30
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: int = 0
    ratelimit_storage_uri: str = DEFAULT_RATELIMIT_STORAGE_URI
    rate_limit_per_user: str = DEFAULT_RATE_LIMIT_PER_USER
    rate_limit_per_address: str = DEFAULT_RATE_LIMIT_PER_ADDRESS
    rate_limit_auth_failures: str = DEFAULT_RATE_LIMIT_AUTH_FAILURES
    max_body: int = DEFAULT_MAX_BODY
    # Client timeouts (seconds); the total deadline stays below gunicorn's worker timeout.
    upstream_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    upstream_read_timeout: float = DEFAULT_READ_TIMEOUT
    upstream_deadline: float = DEFAULT_TOTAL_DEADLINE
    upstream_quota_window: float = DEFAULT_WINDOW_SECONDS
    # Why dev mode is on, for the start-up warning ("" when it is off).
    dev_reason: str = ""
    log_format: Literal["plain", "json"] = "plain"
    # /metrics is served only when set, to callers presenting it as a bearer token.
    metrics_token: str | None = field(default=None, repr=False)
    # Egress: one proxy for every upstream call (may hold a password) and a CA bundle.
    proxy: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    # PORT, WEB_CONCURRENCY, GUNICORN_THREADS as checked numbers; None: the entry point's default.
    port: int | None = None
    web_concurrency: int | None = None
    gunicorn_threads: int | None = None

    @property
    def has_caller_auth(self) -> bool:
        return bool(self.service_keys or self.jwt_secret or self.jwks_url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value configured, for the log filter to mask."""
        values = (self.api_key, self.jwt_secret, self.metrics_token, proxy_password(self.proxy), *self.service_keys)
        return tuple(s for s in values if s)

    @property
    def backend_label(self) -> str:
        if self.emulator:
            return "the embedded CometChat emulator"
        label = self.base_url or f"CometChat app {self.app_id} ({self.region})"
        egress = [f"via proxy {redact_proxy(self.proxy)}"] if self.proxy else []
        egress += [f"trusting the CAs in {self.ca_bundle}"] if self.ca_bundle else []
        return " ".join([label, *egress])


def is_exact_origin(origin: str) -> bool:
    if not ORIGIN.fullmatch(origin):
        return False
    try:
        return urlparse(origin).port != 0  # .port raises past 65535
    except ValueError:
        return False


def _flag(env: Mapping[str, str], name: str, problems: list[str]) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value not in FALSE:
        problems.append(f"{name} must be 1 or 0 (got {env[name]!r})")
    return False


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _number(env: Mapping[str, str], name: str, default: float, problems: list[str]) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name} must be a number (got {raw!r})")
        return default
    if not math.isfinite(value) or value <= 0:
        problems.append(f"{name} must be a finite positive number of seconds (got {raw!r})")
        return default
    return value


def _rate_limit(env: Mapping[str, str], name: str, default: str, problems: list[str]) -> str:
    """A Flask-Limiter limit string, parsed now: one it cannot parse would switch the limit off."""
    value = (env.get(name) or "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        problems.append(f"{name} must be a rate limit like {default!r} (got {value!r})")
        return default
    return value


def _check_base_url(base_url: str, problems: list[str]) -> None:
    """The REST key travels with every request: https, or plain http to this machine only."""
    parsed = urlparse(base_url)
    if not parsed.hostname or parsed.scheme not in ("http", "https"):
        problems.append("COMETCHAT_BASE_URL must be an http(s) URL")
    elif parsed.scheme == "http" and not is_loopback_host(parsed.hostname):
        problems.append(
            "COMETCHAT_BASE_URL must be an https:// URL (http:// only on localhost, 127.0.0.0/8 or [::1]): "
            "the REST key is sent with every request"
        )


def load_settings(env: Mapping[str, str] | None = None, *, mode: Mode = "production") -> Settings:
    """Build Settings from environment-style names.

    ``production`` (gunicorn) is strict: CometChat credentials or ``COMETCHAT_EMULATOR=1``,
    and a caller-auth method or ``TOKEN_SERVER_DEV=1``. ``embedded`` (``python server.py``)
    falls back to the emulator without credentials and to dev mode without caller auth.
    In both, dev mode next to a caller-auth method is refused: it would serve callers
    without their credentials.
    """
    env = dict(os.environ if env is None else env)
    problems: list[str] = []
    get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731

    emulator = _flag(env, "COMETCHAT_EMULATOR", problems)
    dev = _flag(env, "TOKEN_SERVER_DEV", problems)
    app_id, region, api_key, base_url = (
        get("COMETCHAT_APP_ID"),
        get("COMETCHAT_REGION"),
        get("COMETCHAT_API_KEY"),
        get("COMETCHAT_BASE_URL"),
    )
    if region:
        region = region.lower()
    credentials_given = any((app_id, region, api_key, base_url))
    if mode == "embedded" and not credentials_given:
        emulator = True
    if not emulator:
        missing = [] if api_key else ["COMETCHAT_API_KEY"]
        if not base_url:
            missing += [
                name for name, value in (("COMETCHAT_APP_ID", app_id), ("COMETCHAT_REGION", region)) if not value
            ]
        if missing:
            problems.append(
                f"missing {', '.join(missing)} (CometChat credentials; or set COMETCHAT_EMULATOR=1 to use the emulator)"
            )
        if region and region not in REGIONS:
            problems.append(f"COMETCHAT_REGION must be one of {', '.join(REGIONS)} (got {region!r})")
        if base_url:
            _check_base_url(base_url, problems)
        elif app_id and not APP_ID.fullmatch(app_id):
            problems.append(f"COMETCHAT_APP_ID must be letters and digits only (got {app_id!r})")

    service_keys = _list(env.get("TOKEN_SERVER_API_KEYS"))
    short = [k for k in service_keys if len(k) < MIN_KEY_LENGTH]
    if short:
        problems.append(f"TOKEN_SERVER_API_KEYS: every key must be at least {MIN_KEY_LENGTH} characters")
    jwt_secret, jwks_url = get("AUTH_JWT_SECRET"), get("AUTH_JWKS_URL")
    if jwt_secret and jwks_url:
        problems.append("set AUTH_JWT_SECRET or AUTH_JWKS_URL, not both")
    if jwt_secret and len(jwt_secret) < 32:
        problems.append("AUTH_JWT_SECRET must be at least 32 characters (HS256 needs a 256-bit key)")
    if not all(key.isascii() and key.isprintable() for key in service_keys):
        problems.append(
            "TOKEN_SERVER_API_KEYS: every key must be printable ASCII (no spaces inside, no control characters)"
        )
    if jwks_url:
        parsed = urlparse(jwks_url)
        if not parsed.netloc or not (
            parsed.scheme == "https" or (parsed.scheme == "http" and is_loopback_host(parsed.hostname))
        ):
            problems.append("AUTH_JWKS_URL must be an https:// URL (http:// only on localhost, 127.0.0.0/8 or [::1])")
        if mode == "production" and not get("AUTH_JWT_AUDIENCE"):
            problems.append(
                "AUTH_JWKS_URL needs AUTH_JWT_AUDIENCE (your app's client id): an identity provider signs "
                "tokens for every application it serves, and only the audience tells ours apart"
            )
    uid_mapping = (get("AUTH_JWT_UID_MAPPING") or "strict").lower()
    uid_claim = get("AUTH_JWT_UID_CLAIM") or PROVIDER_ASSIGNED_CLAIM
    if uid_mapping not in ("strict", "cometchat"):
        problems.append(f"AUTH_JWT_UID_MAPPING must be strict or cometchat (got {uid_mapping!r})")
    check_uid_claim(uid_mapping, uid_claim, _flag(env, "AUTH_JWT_UID_MAPPING_ANY_CLAIM", problems), problems)
    algorithms = _list(env.get("AUTH_JWT_ALGORITHMS"))
    if not algorithms:
        algorithms = ("HS256",) if jwt_secret else ("RS256", "ES256")
    bad_algs = [a for a in algorithms if a not in ALLOWED_JWT_ALGORITHMS]
    if bad_algs:
        problems.append(f"AUTH_JWT_ALGORITHMS: not allowed: {', '.join(bad_algs)}")
    if jwt_secret and any(not a.startswith("HS") for a in algorithms):
        problems.append("AUTH_JWT_ALGORITHMS: a shared secret only verifies HS* algorithms")
    if jwks_url and any(a.startswith("HS") for a in algorithms):
        problems.append("AUTH_JWT_ALGORITHMS: JWKS keys never verify HS* algorithms")

    auth_given = [
        name for name, value in zip(CALLER_AUTH_VARIABLES, (service_keys, jwt_secret, jwks_url), strict=True) if value
    ]
    dev_reason = ""
    if dev and auth_given:
        problems.append(
            f"TOKEN_SERVER_DEV=1 together with {', '.join(auth_given)}: dev mode would serve callers without "
            "their credentials; unset TOKEN_SERVER_DEV or the caller authentication"
        )
    elif dev:
        dev_reason = "TOKEN_SERVER_DEV=1"
    elif not auth_given:
        if mode == "embedded":
            dev, dev_reason = True, "no caller auth configured"
        else:
            problems.append(
                "no caller authentication: set TOKEN_SERVER_API_KEYS and/or AUTH_JWT_SECRET or AUTH_JWKS_URL "
                "(or TOKEN_SERVER_DEV=1 for an unauthenticated development server)"
            )

    cors_origins = _list(env.get("CORS_ORIGINS"))
    for origin in cors_origins:
        if not is_exact_origin(origin):
            problems.append(
                f"CORS_ORIGINS: {origin!r} is not exactly scheme://host[:port] like https://app.example.com "
                "(no wildcards, path, query or pattern)"
            )
    trusted_proxies = 0
    if get("TRUSTED_PROXIES"):
        try:
            trusted_proxies = int(env["TRUSTED_PROXIES"])
            if not 0 <= trusted_proxies <= 5:
                raise ValueError
        except ValueError:
            problems.append("TRUSTED_PROXIES must be the number of proxies in front of the server (0 to 5)")

    rate_limit_per_user = _rate_limit(env, "RATE_LIMIT_PER_USER", DEFAULT_RATE_LIMIT_PER_USER, problems)
    rate_limit_per_address = _rate_limit(env, "RATE_LIMIT_PER_ADDRESS", DEFAULT_RATE_LIMIT_PER_ADDRESS, problems)
    rate_limit_auth_failures = _rate_limit(env, "RATE_LIMIT_AUTH_FAILURES", DEFAULT_RATE_LIMIT_AUTH_FAILURES, problems)
    connect_timeout = _number(env, "COMETCHAT_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT, problems)
    read_timeout = _number(env, "COMETCHAT_READ_TIMEOUT", DEFAULT_READ_TIMEOUT, problems)
    deadline = _number(env, "COMETCHAT_DEADLINE", DEFAULT_TOTAL_DEADLINE, problems)
    quota_window = _number(env, "COMETCHAT_QUOTA_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS, problems)
    if deadline >= WORKER_TIMEOUT - DEADLINE_HEADROOM:
        problems.append(
            f"COMETCHAT_DEADLINE must stay below {WORKER_TIMEOUT - DEADLINE_HEADROOM} s "
            f"({DEADLINE_HEADROOM} s below gunicorn's {WORKER_TIMEOUT} s worker timeout)"
        )

    log_format = (get("LOG_FORMAT") or "plain").lower()
    if log_format not in LOG_FORMATS:
        problems.append(f"LOG_FORMAT must be plain or json (got {log_format!r})")
    metrics_token = get("METRICS_TOKEN")
    if metrics_token is not None and (len(metrics_token) < MIN_KEY_LENGTH or any(c.isspace() for c in metrics_token)):
        problems.append(f"METRICS_TOKEN must be at least {MIN_KEY_LENGTH} characters, without spaces")

    egress_and_process = egress_settings(env, problems)  # proxy, ca_bundle, port, ...

    if problems:
        raise ConfigError(problems)
    return Settings(
        app_id=app_id,
        region=region,
        api_key=api_key,
        base_url=base_url,
        emulator=emulator,
        dev=dev,
        service_keys=service_keys,
        jwt_secret=jwt_secret,
        jwks_url=jwks_url,
        jwt_audience=get("AUTH_JWT_AUDIENCE"),
        jwt_issuer=get("AUTH_JWT_ISSUER"),
        jwt_uid_claim=uid_claim,
        jwt_uid_mapping=uid_mapping,  # type: ignore[arg-type]  # checked above
        jwt_algorithms=algorithms,
        cors_origins=cors_origins,
        trusted_proxies=trusted_proxies,
        ratelimit_storage_uri=get("RATELIMIT_STORAGE_URI") or DEFAULT_RATELIMIT_STORAGE_URI,
        rate_limit_per_user=rate_limit_per_user,
        rate_limit_per_address=rate_limit_per_address,
        rate_limit_auth_failures=rate_limit_auth_failures,
        upstream_connect_timeout=connect_timeout,
        upstream_read_timeout=read_timeout,
        upstream_deadline=deadline,
        upstream_quota_window=quota_window,
        dev_reason=dev_reason,
        log_format=log_format,  # type: ignore[arg-type]  # checked above
        metrics_token=metrics_token,
        **egress_and_process,
    )
