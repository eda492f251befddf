"""The webhooks section (docs/webhooks.md): the Basic Auth pairs CometChat's webhooks must
present (``WEBHOOK_CREDENTIALS``) and the standalone server's handler (``WEBHOOK_HANDLER``).

The receiver is on only when ``WEBHOOK_CREDENTIALS`` is set, or in the embedded default
(``python server.py`` on the emulator, in dev mode) without it: then the server turns it on with
a pair generated at start (:func:`generated_credentials`, never shown), which the embedded
emulator alone knows and delivers its webhooks with. Production never generates one: there the
operator sets ``WEBHOOK_CREDENTIALS``. Its events are kept in the device store
(``SESSION_STORE_URI``), so that store must outlive the process: ``memory://`` is taken only
with the emulator.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Self

from .base import MIN_KEY_LENGTH, Env, Mode
from .caller_auth import CallerAuthSettings
from .sessions import MEMORY_URI, SessionSettings
from .upstream import uses_emulator

# CometChat's dashboard takes an alphanumeric username and password (the password up to 100).
CREDENTIAL_PART = re.compile(r"[A-Za-z0-9]{1,100}")
MAX_CREDENTIAL_PAIRS = 2  # the current pair and, during a rotation, the next one
GENERATED_USER = "tokenserverdev"
GENERATED_PASSWORD_BYTES = 24  # 48 hex digits: alphanumeric, as the dashboard's rule wants
HANDLER_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


def parse_credentials(raw: str) -> tuple[tuple[str, str], ...]:
    """``user:password[,user2:password2]``; ValueError naming what is wrong (never the password)."""
    pairs: list[tuple[str, str]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        user, colon, password = item.partition(":")
        if not colon or not CREDENTIAL_PART.fullmatch(user) or not CREDENTIAL_PART.fullmatch(password):
            raise ValueError("each pair must be user:password, both alphanumeric (as CometChat's dashboard takes them)")
        if len(password) < MIN_KEY_LENGTH:
            raise ValueError(f"each password must be at least {MIN_KEY_LENGTH} characters (Basic Auth is all there is)")
        pairs.append((user, password))
    if not pairs:
        raise ValueError("name one or two user:password pairs")
    if len(pairs) > MAX_CREDENTIAL_PAIRS:
        raise ValueError(f"at most {MAX_CREDENTIAL_PAIRS} pairs (the current one and, while rotating, the next)")
    return tuple(pairs)


def generated_credentials() -> tuple[tuple[str, str], ...]:
    """A fresh random pair for the embedded emulator's deliveries to this server, held to the
    same rules as ``WEBHOOK_CREDENTIALS`` (checked by :func:`parse_credentials`)."""
    return parse_credentials(f"{GENERATED_USER}:{secrets.token_hex(GENERATED_PASSWORD_BYTES)}")


def import_handler(path: str) -> Callable[[Any], Any]:
    """The function ``package.module:function`` names; ValueError saying why it cannot be had."""
    if not HANDLER_PATH.fullmatch(path):
        raise ValueError(f"{path!r} is not package.module:function")
    module_name, _, name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module itself failing as it is imported
        raise ValueError(f"{path!r}: cannot import {module_name} ({type(exc).__name__}: {exc})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"{path!r}: {module_name} has no function {name}")
    return function  # type: ignore[no-any-return]


@dataclass(frozen=True)
class WebhookSettings:
    # None: the receiver is off (its route answers 404).
    webhook_credentials: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)
    webhook_handler: str | None = None
    # The embedded default (python server.py on the emulator, in dev mode) without
    # WEBHOOK_CREDENTIALS: the server generates a pair at start for its own emulator.
    webhook_dev_credentials: bool = False

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        """The handler is imported here, so a bad path refuses the start (gunicorn's master
        reads the settings before any worker boots)."""
        read = Env(env)
        credentials = None
        raw = read.text("WEBHOOK_CREDENTIALS")
        if raw is not None:
            try:
                credentials = parse_credentials(raw)
            except ValueError as exc:
                read.problem(f"WEBHOOK_CREDENTIALS: {exc}")
        dev_credentials = raw is None and _embedded_dev_emulator(read, mode)
        handler = read.text("WEBHOOK_HANDLER")
        if handler is not None:
            if raw is None and not dev_credentials:
                read.problem("WEBHOOK_HANDLER is set but WEBHOOK_CREDENTIALS is not: no webhook would reach it")
            try:
                import_handler(handler)
            except ValueError as exc:
                read.problem(f"WEBHOOK_HANDLER: {exc}")
        if raw is not None:
            # The session section reports its own problems; here only where the events would live.
            uri = SessionSettings.from_env(read.values, []).session_store_uri
            if uri == MEMORY_URI and not uses_emulator(Env(read.values), mode):
                read.problem(
                    "WEBHOOK_CREDENTIALS needs a store that outlives the process: set SESSION_STORE_URI to "
                    "redis://... or sqlite:///path (memory:// only with the emulator)"
                )
        return read.finish(
            cls(webhook_credentials=credentials, webhook_handler=handler, webhook_dev_credentials=dev_credentials),
            problems,
        )

    def with_dev_credentials(self) -> Self:
        """These settings with a generated pair in ``webhook_credentials`` when
        ``webhook_dev_credentials`` asks for one (a new pair each call), else unchanged."""
        if not self.webhook_dev_credentials or self.webhook_credentials:
            return self
        return dataclasses.replace(self, webhook_credentials=generated_credentials())

    @property
    def webhook_passwords(self) -> tuple[str, ...]:
        return tuple(password for _, password in self.webhook_credentials or ())


def _embedded_dev_emulator(read: Env, mode: Mode) -> bool:
    """``python server.py``'s default: embedded, on the emulator, in dev mode (no caller auth)."""
    if mode != "embedded" or not uses_emulator(Env(read.values), mode):
        return False
    return CallerAuthSettings.from_env(read.values, [], mode=mode).dev
