"""How the server's parts are built from its settings, in one public place: the CometChat
client (:func:`build_client`), the device tokens (:func:`build_device_tokens`, and a host
app's default, :func:`host_device_tokens`), the rate limits (:func:`build_rate_limits`) and
the gates their stores share (:func:`store_gates`, one set per app: its rate limits, upstream
budget and device tokens on one Redis skip it together when it hangs). ``create_app``, the CLI and host apps
build them here, so each is built one way."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from typing import Any, Mapping, Sequence

from cometchat import CometChatClient
from cometchat.budget import UpstreamBudget
from cometchat.egress import proxy_mapping
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.endpoints import resolve_base_url
from cometchat.inprocess import WSGIAdapter
from cometchat.options import ClientOptions
from cometchat.policy import UpstreamObserver

from .config import ConfigError, LimitSettings, SessionSettings, Settings
from .config.base import Env
from .config.caller_auth import deprovision_retention
from .config.sessions import DEFAULT_SESSION_SQLITE, MEMORY_URI
from .deprovisioned import Deprovisioned, tombstones_for
from .devices import DeviceTokens, TokenCipher, store_for
from .limits import RateLimits
from .pipeline import store_gates
from .pushtokens import PushTokenCleanup
from .stores.breaker import StoreGates
from .stores.budget_redis import budget_store_for

__all__ = [
    "EMULATOR_BASE_URL",
    "build_client",
    "build_deprovisioned",
    "build_device_tokens",
    "build_rate_limits",
    "client_options",
    "host_deprovisioned",
    "host_device_tokens",
    "host_store_uri",
    "one_of_several",
    "store_gates",
    "upstream_base_url",
]

log = logging.getLogger("token_server")

# The in-process emulator answers at this address; ".invalid" can never resolve, so a
# mistake in wiring fails loudly instead of reaching the network.
EMULATOR_BASE_URL = "http://cometchat-emulator.invalid/v3"


def client_options(settings: Settings) -> ClientOptions:
    """The upstream timeouts, deadline, proxy and CA bundle the settings name (either client)."""
    return ClientOptions(
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout,
        total_deadline=settings.upstream_deadline,
        proxies=proxy_mapping(settings.proxy) or {},
        ca_bundle=settings.ca_bundle,
    )


def upstream_base_url(settings: Settings) -> str:
    return (
        EMULATOR_BASE_URL
        if settings.emulator
        else resolve_base_url(settings.app_id, settings.region, settings.base_url)
    )


def build_client(
    settings: Settings,
    observers: Sequence[UpstreamObserver] = (),
    *,
    with_budget: bool = False,
    gates: StoreGates | None = None,
) -> tuple[CometChatClient, EmulatorState | None]:
    """The one client, with its options and observers, and (for a server, not the CLI, which
    paces itself) the app's upstream budget. With the emulator configured, the client answers
    from an emulator in this process, returned beside it (else None). A
    :class:`~token_server.pushtokens.PushTokenCleanup`: every revoke deletes the token's push
    registrations first."""
    base_url = upstream_base_url(settings)
    budget = None
    if with_budget:
        uri = settings.ratelimit_storage_uri
        store = budget_store_for(uri, breaker=(gates or StoreGates()).breaker("upstream budget", uri))
        budget = UpstreamBudget(store, base_url, window_seconds=settings.upstream_quota_window)
    wiring: dict[str, Any] = {
        "base_url": base_url,
        "options": client_options(settings),
        "budget": budget,
        "observers": observers,
    }
    if not settings.emulator:
        return PushTokenCleanup(api_key=settings.api_key or "", **wiring), None
    key = secrets.token_urlsafe(24)  # the embedded emulator's own REST key, never shown
    state = EmulatorState(api_keys=[key])
    emulator_app = create_emulator_app(state)
    return PushTokenCleanup(api_key=key, adapter_factory=lambda: WSGIAdapter(emulator_app), **wiring), state


def build_rate_limits(settings: LimitSettings, gates: StoreGates | None = None) -> RateLimits:
    """The per-user, per-address and failed-authentication limits, in the store they name."""
    return RateLimits.from_settings(settings, gates)


def build_device_tokens(settings: SessionSettings, gates: StoreGates | None = None) -> DeviceTokens:
    """Device sessions in the configured store, sealed with SESSION_STORE_KEY, else with a key
    kept in the store itself (created there once, so every worker sharing the store shares it);
    the REST key's derived key still opens the records sealed with it before (docs/devices.md,
    "Keys"). In process memory without a key: a key of this process only."""
    uri = settings.session_store_uri
    opening = settings.session_store_opening_keys
    keys = (*settings.session_store_keys, *opening)
    keep_key = not settings.session_store_keys and uri != MEMORY_URI
    cipher = TokenCipher(keys) if keys else TokenCipher.ephemeral()
    breaker = (gates or StoreGates()).breaker("session", uri)
    return DeviceTokens(store_for(uri), cipher, max_age=settings.token_max_age, breaker=breaker, keep_key=keep_key)


def build_deprovisioned(settings: Settings, gates: StoreGates | None = None) -> Deprovisioned:
    """Deleted users' tombstones, beside the device tokens in ``SESSION_STORE_URI``."""
    uri = settings.session_store_uri
    return Deprovisioned(
        tombstones_for(uri),
        retention=settings.deprovision_retention,
        breaker=(gates or StoreGates()).breaker("deprovisioned users", uri),
    )


def host_store_uri(env: Mapping[str, str], settings: SessionSettings) -> str:
    """The device store of a host app: the server's (``settings``), except that the emulator's
    in-process default is ``python server.py``'s, not a host's: a host gets the SQLite file."""
    uri = settings.session_store_uri
    if uri == MEMORY_URI and (env.get("SESSION_STORE_URI") or "").strip() != MEMORY_URI:
        return DEFAULT_SESSION_SQLITE
    return uri


def _host_session_settings(env: Mapping[str, str]) -> SessionSettings:
    problems: list[str] = []
    settings = SessionSettings.from_env(env, problems)
    if problems:
        raise ConfigError(problems)
    return settings


def host_deprovisioned(env: Mapping[str, str] | None = None, gates: StoreGates | None = None) -> Deprovisioned:
    """A host app's tombstones when it names none: in its device store (:func:`host_store_uri`),
    kept ``DEPROVISION_RETENTION`` (default 24 h)."""
    env = os.environ if env is None else env
    uri = host_store_uri(env, _host_session_settings(env))
    read = Env(env)
    retention = read.finish(deprovision_retention(read), None)  # a bad value raises, named
    return Deprovisioned(
        tombstones_for(uri), retention=retention, breaker=(gates or StoreGates()).breaker("deprovisioned users", uri)
    )


def host_device_tokens(env: Mapping[str, str] | None = None, gates: StoreGates | None = None) -> DeviceTokens:
    """A host app's device tokens when it names none: the stand-alone server's store, read from
    ``env`` (default: the environment) under the server's names. ``SESSION_STORE_URI``, else the
    rate-limit store's Redis, else the SQLite file the workers of one host share; in-process
    memory only when ``SESSION_STORE_URI=memory://`` asks for it (a warning when this process is
    one of several). Sealed as the server's (:func:`build_device_tokens`)."""
    env = os.environ if env is None else env
    settings = _host_session_settings(env)
    uri = host_store_uri(env, settings)
    if uri == MEMORY_URI:
        several = one_of_several(env)
        if several:
            log.warning(
                "SESSION_STORE_URI=memory:// keeps device tokens in this process, which is one of several (%s): "
                "each process hands a device its own token. Use a SQLite file or Redis.",
                several,
            )
    return build_device_tokens(dataclasses.replace(settings, session_store_uri=uri), gates)


def one_of_several(env: Mapping[str, str]) -> str | None:
    """Why this process may be one of several serving the same app, or None: ``WEB_CONCURRENCY``
    above 1 (gunicorn's and uvicorn's worker count), or a gunicorn worker (its count is not told
    to the workers, so any gunicorn worker may have siblings)."""
    workers = (env.get("WEB_CONCURRENCY") or "").strip()
    if workers.isdigit() and int(workers) > 1:
        return f"WEB_CONCURRENCY={workers}"
    if (env.get("SERVER_SOFTWARE") or "").startswith("gunicorn/"):
        return "a gunicorn worker"
    return None
