"""One CometChat token per device: reuse it, replace it, revoke it, forget it.

A device that comes back gets the token it holds (no upstream call) while that token is
younger than ``max_age`` and was not revoked. Otherwise a new token is minted, stored for
the device in one atomic swap, and the token it replaced is revoked upstream (CometChat's
404 for it counts as revoked). Concurrent first logins of one device: one takes the device's
mint lock and mints; the others wait a bounded time for its token and reuse it.

Every store call goes through a :class:`StoreBreaker`: a store that fails or hangs costs at
most 250 ms once, is then skipped, and the login mints fresh (``reused: false``) as it would
without a store. The store is a helper on the login path, never a gate.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, TypeVar

from cometchat import AuthTokenNotFoundError, CometChatClient, CometChatError, UidNotFoundError
from cometchat.breaker import StoreBreaker
from cometchat.models import AuthToken

from .. import metrics
from .base import SessionStore, StoredSession
from .crypto import TokenCipher

log = logging.getLogger("token_server.sessions")

# How long a login waits for another worker minting the same device's token, polling every
# LOCK_POLL seconds; past it, it mints on its own (fails open).
LOCK_WAIT = 3.0
LOCK_POLL = 0.02
T = TypeVar("T")
_FAILED = object()


# CometChat keeps a user's newest 100 tokens; past this many, other devices are close to being logged out.
TOKEN_LIMIT = 100
TOKEN_WARNING = 90


def note_token_count(uid: str, count: int) -> None:
    """A warning and a metric when CometChat holds more than TOKEN_WARNING tokens for the user."""
    if count > TOKEN_WARNING:
        metrics.count_user_near_token_limit()
        log.warning(
            "user %s holds %d of CometChat's %d tokens: the oldest devices are about to be logged out",
            uid,
            count,
            TOKEN_LIMIT,
        )


class StoreUnavailable(Exception):
    """The store did not answer a call that has no answer without it (listing, forgetting a device)."""


@dataclass(frozen=True)
class DeviceLogin:
    token: AuthToken
    created_at: int
    reused: bool
    user_created: bool = False


@dataclass(frozen=True)
class Session:
    device_id: str
    created_at: int
    last_used_at: int


class DeviceTokens:
    def __init__(
        self,
        store: SessionStore,
        cipher: TokenCipher,
        *,
        max_age: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        breaker: StoreBreaker | None = None,
        lock_wait: float = LOCK_WAIT,
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.max_age = max_age
        self.clock = clock
        self._sleep = sleep
        self.breaker = breaker or StoreBreaker("session")
        self.lock_wait = lock_wait

    def ping(self) -> None:
        """Raise when the store does not answer (a readiness check's hook); bounded like every store call."""
        self.store.ping()

    # ---- the login path ----------------------------------------------------------------

    def _usable(self, uid: str, stored: StoredSession | None) -> AuthToken | None:
        if stored is None:
            return None
        if self.max_age is not None and self.clock() - stored.created_at >= self.max_age:
            return None
        token = self.cipher.open(stored.sealed)
        return AuthToken(uid=uid, auth_token=token, created_at=stored.created_at) if token else None

    def _reuse(self, uid: str, stored: StoredSession, token: AuthToken) -> DeviceLogin:
        now = int(self.clock())
        self.breaker.call(lambda: self.store.touch(uid, stored.device_id, now), None)
        return DeviceLogin(token, stored.created_at, reused=True)

    def login(
        self,
        client: CometChatClient,
        uid: str,
        device_id: str,
        *,
        fresh: bool = False,
        name: str | None = None,
        avatar: str | None = None,
    ) -> DeviceLogin:
        """The device's current token, or a new one (see the module's docstring)."""
        seen = self.breaker.call(lambda: self.store.get(uid, device_id), None)
        token = self._usable(uid, seen)
        if token is not None and not fresh:
            return self._reuse(uid, seen, token)  # type: ignore[arg-type]  # token implies seen
        owner = uuid.uuid4().hex
        locked = self.breaker.call(lambda: self.store.acquire(uid, device_id, owner), True)
        if not locked:
            waited = self._wait_for_other(uid, device_id, seen)
            if waited is not None:
                return waited
        try:
            if locked:  # another worker may have finished its mint just before we took the lock
                current = self.breaker.call(lambda: self.store.get(uid, device_id), None)
                if current is not None and current != seen:
                    token = self._usable(uid, current)
                    if token is not None:
                        return self._reuse(uid, current, token)
            return self._mint(client, uid, device_id, name=name, avatar=avatar)
        finally:
            if locked:
                self.breaker.call(lambda: self.store.release(uid, device_id, owner), None)

    def _wait_for_other(self, uid: str, device_id: str, seen: StoredSession | None) -> DeviceLogin | None:
        """Another login of this device is minting: take its token when it lands (bounded)."""
        deadline = time.monotonic() + self.lock_wait
        while time.monotonic() < deadline and self.breaker.available():
            self._sleep(LOCK_POLL)
            current = self.breaker.call(lambda: self.store.get(uid, device_id), None)
            if current is not None and current != seen:
                token = self._usable(uid, current)
                if token is not None:
                    return self._reuse(uid, current, token)
        return None

    def _mint(
        self, client: CometChatClient, uid: str, device_id: str, *, name: str | None, avatar: str | None
    ) -> DeviceLogin:
        token, created = client.mint_token(uid, name=name, avatar=avatar)
        now = int(self.clock())
        created_at = token.created_at or now
        new = StoredSession(device_id, self.cipher.seal(token.auth_token), created_at, now)
        previous = self.breaker.call(lambda: self.store.swap(uid, new), None)
        if previous is not None:
            old = self.cipher.open(previous.sealed)
            if old and old != token.auth_token:
                self.revoke_upstream(client, uid, old)
        return DeviceLogin(token, created_at, reused=False, user_created=created)

    # ---- revoke and forget ---------------------------------------------------------------

    @staticmethod
    def revoke_upstream(client: CometChatClient, uid: str, token: str) -> bool:
        """Revoke one token; a token (or user) CometChat no longer holds counts as revoked.
        Other failures are logged and reported (False): the new token is handed out anyway."""
        try:
            client.delete_auth_token(uid, token)
        except (AuthTokenNotFoundError, UidNotFoundError):
            return True
        except CometChatError as exc:
            log.warning("could not revoke a replaced device token of %s upstream (%s)", uid, exc.code)
            return False
        return True

    def sessions(self, uid: str) -> list[Session]:
        """The user's devices (never a token); raises StoreUnavailable when the store is down."""
        found = self._required(lambda: self.store.devices(uid))
        return [Session(s.device_id, s.created_at, s.last_used_at) for s in found]

    def revoke_device(self, client: CometChatClient, uid: str, device_id: str) -> None:
        """Revoke the device's token upstream, then forget it; a device already gone is the same success."""
        stored = self._required(lambda: self.store.get(uid, device_id))
        if stored is None:
            return
        token = self.cipher.open(stored.sealed)
        if token is not None:
            try:
                client.delete_auth_token(uid, token)
            except (AuthTokenNotFoundError, UidNotFoundError):
                pass  # gone upstream already: revoked
        self._required(lambda: self.store.delete(uid, device_id))

    def forget_token(self, uid: str, token: str) -> None:
        """After a token was revoked elsewhere: forget the device that held it (best effort)."""
        self.forget_tokens(uid, {token})

    def forget_tokens(self, uid: str, tokens: set[str]) -> None:
        """After tokens were revoked elsewhere (the revoke route, the CLI): forget the devices that held them."""
        empty: list[StoredSession] = []
        stored = self.breaker.call(lambda: self.store.devices(uid), empty)
        for device_id in [s.device_id for s in stored if self.cipher.open(s.sealed) in tokens]:
            self.breaker.call(partial(self.store.delete, uid, device_id), None)

    def forget_all(self, uid: str) -> None:
        """After every token of the user was revoked: forget all its devices (best effort)."""
        self.breaker.call(lambda: self.store.delete_all(uid), None)

    def _required(self, fn: Callable[[], T]) -> T:
        failed: Any = _FAILED
        result = self.breaker.call(fn, failed)
        if result is _FAILED:
            raise StoreUnavailable("the session store is not answering")
        return result
