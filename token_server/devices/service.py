"""One CometChat token per device: reuse it, replace it, revoke it, forget it.

A device that comes back gets the token it holds (no upstream call) while that token is
younger than ``max_age`` and was not revoked. Otherwise a new token is minted, stored for
the device by compare-and-set ("only if the device's record is still the one this login
judged unusable"), and the token it replaced is revoked upstream (CometChat's 404 for it
counts as revoked). Concurrent first logins of one device: one takes the device's mint lock
and mints; the others wait a bounded time for its token and reuse it, or take the lock over
when its holder lets go without a token. A waiter whose wait runs out mints on its own; if
its compare-and-set then loses to another login of the device, it revokes the token it just
minted and answers the stored one: no caller is handed a token that is then revoked for the
device, and the device keeps one live token.

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

from cometchat import (
    AuthTokenNotFoundError,
    CometChatClient,
    CometChatError,
    UidNotFoundError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from cometchat.models import AuthToken

from ..ops import metrics
from ..stores.breaker import StoreBreaker
from .base import SessionStore, StoredSession
from .crypto import TokenCipher

log = logging.getLogger("token_server.devices")

# How long a login waits for another worker minting the same device's token, polling every
# LOCK_POLL seconds; past it, it mints on its own (fails open).
LOCK_WAIT = 3.0
LOCK_POLL = 0.02
# While waiting, try to take over the lock every this many polls: a holder whose mint failed
# lets go of it without a token, and a waiter then mints at once instead of at the wait's end.
TAKEOVER_EVERY = 5
# How many times a mint's compare-and-set is tried against records that are not usable (expired,
# removed) before the login gives up with a retryable 503 (DeviceBusy).
CAS_ATTEMPTS = 3
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


def _sealed(stored: StoredSession | None) -> str | None:
    return stored.sealed if stored is not None else None


class DeviceBusy(Exception):
    """Concurrent logins of one device kept replacing its token; the caller may retry shortly."""


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
            waited = self._wait_for_other(uid, device_id, seen, owner)
            if isinstance(waited, DeviceLogin):
                return waited
            locked = waited
        try:
            expected = seen
            if locked:  # another worker may have finished its mint just before we took the lock
                current = self.breaker.call(lambda: self.store.get(uid, device_id), seen)
                landed = self._landed(uid, seen, current)
                if landed is not None:
                    return landed
                expected = current
            return self._mint(client, uid, device_id, expected, name=name, avatar=avatar)
        finally:
            if locked:
                self.breaker.call(lambda: self.store.release(uid, device_id, owner), None)

    def _landed(self, uid: str, seen: StoredSession | None, current: StoredSession | None) -> DeviceLogin | None:
        """``current`` when another login stored it since we saw ``seen`` and it is usable (reused)."""
        if current is None or _sealed(current) == _sealed(seen):
            return None
        token = self._usable(uid, current)
        return self._reuse(uid, current, token) if token is not None else None

    def _wait_for_other(self, uid: str, device_id: str, seen: StoredSession | None, owner: str) -> DeviceLogin | bool:
        """Another login of this device is minting: take its token when it lands, or its lock
        when it lets go of it without one (True: ours now). Bounded by ``lock_wait``; False when
        the wait ran out with the lock still held (the caller then mints, storing by compare-and-set)."""
        deadline = time.monotonic() + self.lock_wait
        polls = 0
        while time.monotonic() < deadline and self.breaker.available():
            self._sleep(LOCK_POLL)
            current = self.breaker.call(lambda: self.store.get(uid, device_id), None)
            landed = self._landed(uid, seen, current)
            if landed is not None:
                return landed
            polls += 1
            if polls % TAKEOVER_EVERY == 0 and self._acquire(uid, device_id, owner):
                return True
        return self._acquire(uid, device_id, owner)

    def _acquire(self, uid: str, device_id: str, owner: str) -> bool:
        return bool(self.breaker.call(lambda: self.store.acquire(uid, device_id, owner), False))

    def _mint(
        self,
        client: CometChatClient,
        uid: str,
        device_id: str,
        expected: StoredSession | None,
        *,
        name: str | None,
        avatar: str | None,
    ) -> DeviceLogin:
        """Mint, then store by compare-and-set against ``expected`` (the record this login judged
        unusable). Losing the set to another login of the device: revoke our token, answer theirs."""
        try:
            token, created = client.mint_token(uid, name=name, avatar=avatar)
        except (UpstreamTimeoutError, UpstreamUnavailableError) as exc:
            if exc.maybe_applied:
                log.warning(
                    "a token mint for %s broke after it was sent: CometChat may hold a token no device "
                    "tracks (`tokens prune --older-than` revokes it)",
                    uid,
                )
            # Meanwhile another login of this device may have stored a token CometChat accepted.
            current = self.breaker.call(lambda: self.store.get(uid, device_id), None)
            landed = self._landed(uid, expected, current)
            if landed is not None:
                return landed
            raise
        now = int(self.clock())
        created_at = token.created_at or now
        new = StoredSession(device_id, self.cipher.seal(token.auth_token), created_at, now)
        for _ in range(CAS_ATTEMPTS):
            outcome = self.breaker.call(partial(self.store.replace_if, uid, new, _sealed(expected)), None)
            if outcome is None:  # the store is down: answer the token, as without a store
                return DeviceLogin(token, created_at, reused=False, user_created=created)
            stored, there = outcome
            if stored:
                old = self.cipher.open(there.sealed) if there is not None else None
                if old and old != token.auth_token:
                    self.revoke_upstream(client, uid, old)
                return DeviceLogin(token, created_at, reused=False, user_created=created)
            theirs = self._usable(uid, there)
            if theirs is not None:  # another login of this device won: its token, ours revoked
                self.revoke_upstream(client, uid, token.auth_token, "a token that lost its device to another login")
                return self._reuse(uid, there, theirs)  # type: ignore[arg-type]  # theirs implies there
            expected = there  # what won is expired or gone: replace it in turn
        self.revoke_upstream(client, uid, token.auth_token, "a token that lost its device to another login")
        raise DeviceBusy("other logins of this device kept replacing its token")

    # ---- revoke and forget ---------------------------------------------------------------

    @staticmethod
    def revoke_upstream(client: CometChatClient, uid: str, token: str, what: str = "a replaced device token") -> bool:
        """Revoke one token; a token (or user) CometChat no longer holds counts as revoked.
        Other failures are logged and reported (False): the new token is handed out anyway."""
        try:
            client.delete_auth_token(uid, token)
        except (AuthTokenNotFoundError, UidNotFoundError):
            return True
        except CometChatError as exc:
            log.warning("could not revoke %s of %s upstream (%s)", what, uid, exc.code)
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
