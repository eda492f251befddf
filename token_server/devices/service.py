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
most the stores' bound (``STORE_TIMEOUT``) once, is then skipped (probed again after a second),
and the login goes on without it: availability first. So that an outage never multiplies a
device's tokens, a process reuses the token it minted for the device during the outage
(:mod:`.outage`), and settles what the outage left once the store answers (one token stored by
compare-and-set, the others revoked upstream, paced): in the background, and at the latest on
the device's next login.

Every delete of a record is a compare-and-set against the token it revoked. Tracked devices per
user never exceed CometChat's 100 (the least recently used is revoked and forgotten), and a
record CometChat has archived (100 newer mints for the user) is never handed out.
"""

from __future__ import annotations

import logging
import threading
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
from .base import SessionStore, StoreContention, StoredSession
from .crypto import TokenCipher
from .outage import OUTAGE_CACHE_SIZE, OutageCache

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
_FAILED: Any = object()
_CONTENDED: Any = object()
# Settling what an outage left: at most this many devices a second per process (each may cost
# one upstream revoke: 2 servers x 4 workers stay at 80/s, well under CometChat's ~167 core
# calls a second), and a look at the breaker this often while the store is still down.
SETTLE_PER_SECOND = 10.0
SETTLE_IDLE = 0.25
# The settler gives up after the store stayed down this long (seconds); the next outage login,
# or a login of a device it left, starts it again.
SETTLE_PATIENCE = 30.0


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


class TokenUnreadable(Exception):
    """The device's record was sealed with a key this server does not hold: its token cannot be
    revoked here (the record is kept, so a server holding the key still can)."""


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
        keep_key: bool = False,
        outage_size: int = OUTAGE_CACHE_SIZE,
        settle_per_second: float = SETTLE_PER_SECOND,
        settle_in_background: bool = True,
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.max_age = max_age
        self.clock = clock
        self._sleep = sleep
        self.breaker = breaker or StoreBreaker("session")
        self.lock_wait = lock_wait
        # True: the sealing key is the one kept in the store (created there once), read on first contact.
        self._keep_key = keep_key
        self.outage = OutageCache(outage_size)
        self.settle_per_second = settle_per_second
        # False: only logins (and settle_all) settle what an outage left (deterministic tests).
        self.settle_in_background = settle_in_background
        self._settler: threading.Thread | None = None
        self._settler_lock = threading.Lock()
        self._stop = threading.Event()
        # Per thread: a local store's lock stayed busy during this operation, whose later store
        # calls then go without it (one busy wait per login, never one per call).
        self._contended = threading.local()

    def ping(self) -> None:
        """Raise when the store does not answer (a readiness check's hook); bounded like every store call."""
        self.store.ping()

    def close(self) -> None:
        self._stop.set()

    # ---- store calls -------------------------------------------------------------------

    def _call(self, fn: Callable[[], T], fallback: T) -> T:
        """``fn()`` through the breaker; ``fallback`` when the store is down, and also when a local
        store's lock stayed busy (contention: this call goes without, the breaker stays closed)."""

        if getattr(self._contended, "on", False):
            return fallback

        def guarded() -> Any:
            try:
                return fn()
            except StoreContention:
                log.info("session store busy (local lock contention): this operation goes without it")
                self._contended.on = True
                return _CONTENDED

        result: Any = self.breaker.call(guarded, fallback)
        return fallback if result is _CONTENDED else result

    def _ready(self) -> bool:
        """The sealing key is known: an explicit one, or the store's own (fetched, or created with
        set-if-absent, on first contact). False when the store did not answer."""
        if not self._keep_key:
            return True
        kept = self._call(lambda: self.store.ensure_key(TokenCipher.generate_secret()), None)
        if kept is None:
            return False
        self.cipher = self.cipher.with_primary(kept)
        self._keep_key = False
        return True

    def _look(self, uid: str, device_id: str) -> Any:
        """(record, the user's mint count), or _FAILED when the store did not answer."""
        if not self._ready():
            return _FAILED
        return self._call(lambda: self.store.lookup(uid, device_id), _FAILED)

    def _open(self, uid: str, stored: StoredSession) -> str | None:
        token = self.cipher.open(stored.sealed)
        if token is None:
            metrics.count_unreadable_device_token()
            log.warning(
                "device %s of %s holds a token sealed with a key this server does not hold "
                "(SESSION_STORE_KEY changed?): it cannot be reused or revoked here",
                stored.device_id,
                uid,
            )
        return token

    # ---- the login path ----------------------------------------------------------------

    def _usable(self, uid: str, stored: StoredSession | None, mints: int) -> AuthToken | None:
        if stored is None:
            return None
        if self.max_age is not None and self.clock() - stored.created_at >= self.max_age:
            return None
        if mints - stored.seq >= TOKEN_LIMIT:  # 100 newer tokens: CometChat archived this one
            return None
        token = self._open(uid, stored)
        return AuthToken(uid=uid, auth_token=token, created_at=stored.created_at) if token else None

    def _reuse(self, uid: str, stored: StoredSession, token: AuthToken) -> DeviceLogin:
        now = int(self.clock())
        if self.cipher.is_current(stored.sealed):
            self._call(lambda: self.store.touch(uid, stored.device_id, now), None)
        else:  # sealed with an older key: re-seal it with the current one (compare-and-set)
            resealed = StoredSession(
                stored.device_id, self.cipher.seal(token.auth_token), stored.created_at, now, stored.seq
            )
            self._call(partial(self.store.replace_if, uid, resealed, stored.sealed), None)
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
        self._contended.on = False
        if self.outage.get(uid, device_id) is not None and self.breaker.available():
            self._settle(uid, device_id)
        if len(self.outage):
            self._start_settler()
        looked = self._look(uid, device_id)
        if looked is _FAILED or self.outage.get(uid, device_id) is not None:
            return self._outage_login(client, uid, device_id, fresh=fresh, name=name, avatar=avatar)
        seen, mints = looked
        token = self._usable(uid, seen, mints)
        if token is not None and not fresh:
            return self._reuse(uid, seen, token)
        owner = uuid.uuid4().hex
        locked = self._call(lambda: self.store.acquire(uid, device_id, owner), True)
        if not locked:
            waited = self._wait_for_other(uid, device_id, seen, owner)
            if isinstance(waited, DeviceLogin):
                return waited
            locked = waited
        try:
            expected = seen
            if locked:  # another worker may have finished its mint just before we took the lock
                now_seen = self._look(uid, device_id)
                current, mints = (seen, mints) if now_seen is _FAILED else now_seen
                landed = self._landed(uid, seen, current, mints)
                if landed is not None:
                    return landed
                expected = current
            return self._mint(client, uid, device_id, expected, name=name, avatar=avatar)
        finally:
            if locked:
                self._call(lambda: self.store.release(uid, device_id, owner), None)

    def _landed(
        self, uid: str, seen: StoredSession | None, current: StoredSession | None, mints: int
    ) -> DeviceLogin | None:
        """``current`` when another login stored it since we saw ``seen`` and it is usable (reused)."""
        if current is None or _sealed(current) == _sealed(seen):
            return None
        token = self._usable(uid, current, mints)
        return self._reuse(uid, current, token) if token is not None else None

    def _wait_for_other(self, uid: str, device_id: str, seen: StoredSession | None, owner: str) -> DeviceLogin | bool:
        """Another login of this device is minting: take its token when it lands, or its lock
        when it lets go of it without one (True: ours now). Bounded by ``lock_wait``; False when
        the wait ran out with the lock still held (the caller then mints, storing by compare-and-set)."""
        deadline = time.monotonic() + self.lock_wait
        polls = 0
        while time.monotonic() < deadline and self.breaker.available():
            self._sleep(LOCK_POLL)
            looked = self._look(uid, device_id)
            if looked is not _FAILED:
                landed = self._landed(uid, seen, *looked)
                if landed is not None:
                    return landed
            polls += 1
            if polls % TAKEOVER_EVERY == 0 and self._acquire(uid, device_id, owner):
                return True
        return self._acquire(uid, device_id, owner)

    def _acquire(self, uid: str, device_id: str, owner: str) -> bool:
        return bool(self._call(lambda: self.store.acquire(uid, device_id, owner), False))

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
        unusable). Losing the set to another login of the device: revoke our token, answer theirs.
        The store failing in between: the token is kept for the device as an outage token."""
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
            looked = self._look(uid, device_id)
            landed = None if looked is _FAILED else self._landed(uid, expected, *looked)
            if landed is not None:
                return landed
            raise
        now = int(self.clock())
        created_at = token.created_at or now
        seq = self._call(lambda: self.store.count_mints(uid), None)
        if seq is None:
            self._keep_outage_token(client, uid, device_id, token.auth_token, created_at, now)
            return DeviceLogin(token, created_at, reused=False, user_created=created)
        new = StoredSession(device_id, self.cipher.seal(token.auth_token), created_at, now, seq)
        for _ in range(CAS_ATTEMPTS):
            outcome = self._call(partial(self.store.replace_if, uid, new, _sealed(expected)), None)
            if outcome is None:  # the store failed: the token is the device's until it answers again
                self._keep_outage_token(client, uid, device_id, token.auth_token, created_at, now)
                return DeviceLogin(token, created_at, reused=False, user_created=created)
            stored, there = outcome
            if stored:
                self._retire(client, uid, there, token.auth_token)
                return DeviceLogin(token, created_at, reused=False, user_created=created)
            theirs = self._usable(uid, there, seq)
            if theirs is not None:  # another login of this device won: its token, ours revoked
                self.revoke_upstream(client, uid, token.auth_token, "a token that lost its device to another login")
                return self._reuse(uid, there, theirs)  # type: ignore[arg-type]  # theirs implies there
            expected = there  # what won is expired or gone: replace it in turn
        self.revoke_upstream(client, uid, token.auth_token, "a token that lost its device to another login")
        raise DeviceBusy("other logins of this device kept replacing its token")

    def _retire(self, client: CometChatClient, uid: str, replaced: StoredSession | None, kept: str) -> None:
        """After a new record was stored: revoke the token it replaced; a new device may push the
        user past CometChat's 100 tracked devices."""
        if replaced is None:
            self._cap(client, uid)
            return
        old = self._open(uid, replaced)
        if old is None:
            log.warning(
                "device %s of %s: its previous token could not be revoked (unreadable)", replaced.device_id, uid
            )
        elif old != kept:
            self.revoke_upstream(client, uid, old)

    def _cap(self, client: CometChatClient, uid: str) -> None:
        """Tracked devices past CometChat's 100: revoke and forget the least recently used."""
        found = self._call(lambda: self.store.devices(uid), None)
        if found is None or len(found) <= TOKEN_LIMIT:
            return
        for victim in sorted(found, key=lambda s: (s.last_used_at, s.created_at))[: len(found) - TOKEN_LIMIT]:
            if self._call(partial(self.store.delete_if, uid, victim.device_id, victim.sealed), False):
                token = self._open(uid, victim)
                if token is not None:
                    self.revoke_upstream(client, uid, token, "the least recently used device past the 100")
                metrics.count_device_evicted()
                log.info(
                    "user %s: device %s forgotten (least recently used past %d)", uid, victim.device_id, TOKEN_LIMIT
                )

    def note_mint(self, uid: str) -> None:
        """A token minted for the user outside any device (best effort): it counts toward the 100."""
        self._contended.on = False
        if self._ready():
            self._call(lambda: self.store.count_mints(uid), None)

    # ---- store outages -------------------------------------------------------------------

    def _outage_login(
        self,
        client: CometChatClient,
        uid: str,
        device_id: str,
        *,
        fresh: bool,
        name: str | None,
        avatar: str | None,
    ) -> DeviceLogin:
        """The store does not answer: the token this process minted for the device during the
        outage, else a new one kept for it (availability first, never one token per login)."""
        with self.outage.device_lock(uid, device_id):
            entry = self.outage.get(uid, device_id)
            now = int(self.clock())
            if entry is not None and not fresh and not self._expired(entry.created_at):
                self.outage.handed(uid, device_id, entry, now)
                token = AuthToken(uid=uid, auth_token=self.outage.token_of(entry), created_at=entry.created_at)
                return DeviceLogin(token, entry.created_at, reused=True)
            minted, created = client.mint_token(uid, name=name, avatar=avatar)
            created_at = minted.created_at or now
            self._keep_outage_token(client, uid, device_id, minted.auth_token, created_at, now)
            return DeviceLogin(minted, created_at, reused=False, user_created=created)

    def _expired(self, created_at: int) -> bool:
        return self.max_age is not None and self.clock() - created_at >= self.max_age

    def _keep_outage_token(
        self, client: CometChatClient, uid: str, device_id: str, token: str, created_at: int, now: int
    ) -> None:
        metrics.count_outage_token("minted")
        for owner, device, out in self.outage.put(uid, device_id, token, created_at, now, client):
            if (owner, device) == (uid, device_id):  # the device's previous outage token: replaced
                self.revoke_upstream(
                    out.client, uid, self.outage.token_of(out), "a device token replaced during a store outage"
                )
                metrics.count_outage_token("revoked")
            else:
                metrics.count_outage_token("dropped")
                log.warning(
                    "outage cache full: device %s of %s: its token minted during the store outage is not tracked",
                    device,
                    owner,
                )
        self._start_settler()

    def _settle(self, uid: str, device_id: str) -> bool:
        """Settle the device's outage token against the store: the token handed out last wins the
        device (stored by compare-and-set), the other is revoked. True when nothing is left."""
        self._contended.on = False
        with self.outage.device_lock(uid, device_id):
            entry = self.outage.get(uid, device_id)
            if entry is None:
                return True
            looked = self._look(uid, device_id)
            if looked is _FAILED:
                return False
            current, mints = looked
            mine = self.outage.token_of(entry)
            client: CometChatClient = entry.client
            theirs = self.cipher.open(current.sealed) if current is not None else None
            if theirs == mine:
                self.outage.drop(uid, device_id, entry)
                return True
            usable = self._usable(uid, current, mints)
            if usable is not None and current is not None and current.last_used_at > entry.handed_at:
                # Counted although revoked: its mint pushed the user's oldest token out all the same.
                self._call(lambda: self.store.count_mints(uid), None)
                self.revoke_upstream(client, uid, mine, "a device token minted during a store outage")
                metrics.count_outage_token("revoked")
                self.outage.drop(uid, device_id, entry)
                return True
            seq = self._call(lambda: self.store.count_mints(uid), None)
            if seq is None:
                return False
            new = StoredSession(device_id, self.cipher.seal(mine), entry.created_at, entry.handed_at, seq)
            outcome = self._call(partial(self.store.replace_if, uid, new, _sealed(current)), None)
            if outcome is None or not outcome[0]:
                return False  # the store failed, or the record changed: next round
            self._retire(client, uid, outcome[1], mine)
            metrics.count_outage_token("kept")
            self.outage.drop(uid, device_id, entry)
            return True

    def settle_all(self) -> int:
        """One pass over the outage cache, paced; how many devices are left unsettled."""
        for uid, device_id, _ in self.outage.snapshot():
            if self._stop.is_set() or not self.breaker.available():
                break
            try:
                self._settle(uid, device_id)
            except Exception:  # an upstream revoke that failed: the entry is settled, the next one waits
                log.exception("settling device %s of %s after a store outage failed", device_id, uid)
            self._stop.wait(1.0 / self.settle_per_second)
        return len(self.outage)

    def _start_settler(self) -> None:
        if not self.settle_in_background:
            return
        with self._settler_lock:
            if self._settler is not None and self._settler.is_alive():
                return
            self._settler = threading.Thread(target=self._settle_loop, name="device-token-settler", daemon=True)
            self._settler.start()

    def _settle_loop(self) -> None:
        left = len(self.outage)
        since = time.monotonic()
        while not self._stop.is_set() and left:
            if self.breaker.available():
                now_left = self.settle_all()
                if now_left < left:
                    since = time.monotonic()
                left = now_left
            if time.monotonic() - since > SETTLE_PATIENCE:
                log.warning("%d device tokens from a store outage wait for their devices' next logins", left)
                return
            self._stop.wait(SETTLE_IDLE)

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
        self._contended.on = False
        found = self._required(lambda: self.store.devices(uid))
        return [Session(s.device_id, s.created_at, s.last_used_at) for s in found]

    def revoke_device(self, client: CometChatClient, uid: str, device_id: str) -> None:
        """Revoke the device's token upstream, then forget it only if its record still holds that
        token (compare-and-set); a login that replaced it meanwhile has its token revoked too.
        A device already gone is the same success; a token this server cannot open raises
        TokenUnreadable (nothing is revoked, the record is kept)."""
        self._contended.on = False
        if not self._ready():
            raise StoreUnavailable("the session store is not answering")
        with self.outage.device_lock(uid, device_id):
            entry = self.outage.get(uid, device_id)
            if entry is not None:  # what this process handed the device during an outage goes too
                self._revoke(client, uid, self.outage.token_of(entry))
                self.outage.drop(uid, device_id, entry)
        for _ in range(CAS_ATTEMPTS):
            stored = self._required(lambda: self.store.get(uid, device_id))
            if stored is None:
                return
            token = self._open(uid, stored)
            if token is None:
                raise TokenUnreadable(device_id)
            self._revoke(client, uid, token)
            if self._required(partial(self.store.delete_if, uid, device_id, stored.sealed)):
                return
        raise DeviceBusy("logins of this device kept replacing its token during its sign-out")

    @staticmethod
    def _revoke(client: CometChatClient, uid: str, token: str) -> None:
        try:
            client.delete_auth_token(uid, token)
        except (AuthTokenNotFoundError, UidNotFoundError):
            pass  # gone upstream already: revoked

    def forget_token(self, uid: str, token: str) -> None:
        """After a token was revoked elsewhere: forget the device that held it (best effort)."""
        self.forget_tokens(uid, {token})

    def forget_tokens(self, uid: str, tokens: set[str]) -> None:
        """After tokens were revoked elsewhere (the revoke route, the CLI): forget the devices that
        held them, each only if its record still holds that token (compare-and-set)."""
        self._contended.on = False
        for owner, device_id, entry in self.outage.snapshot():
            if owner == uid and self.outage.token_of(entry) in tokens:
                self.outage.drop(uid, device_id, entry)
        if not self._ready():
            return
        empty: list[StoredSession] = []
        for stored in self._call(lambda: self.store.devices(uid), empty):
            if self.cipher.open(stored.sealed) in tokens:
                self._call(partial(self.store.delete_if, uid, stored.device_id, stored.sealed), False)

    def snapshot(self, uid: str) -> list[StoredSession] | None:
        """The user's records before every token of the user is revoked (None: the store is down)."""
        self._contended.on = False
        return self._call(lambda: self.store.devices(uid), None)

    def forget_all(self, uid: str, before: list[StoredSession] | None = None) -> None:
        """After every token of the user was revoked: forget the records ``before`` held (taken
        before the revoke, so a login that stored a new token since keeps it), each by
        compare-and-set; without ``before``, the records there now (best effort)."""
        self._contended.on = False
        self.outage.drop_user(uid)
        records = before if before is not None else self._call(lambda: self.store.devices(uid), None)
        for stored in records or []:
            self._call(partial(self.store.delete_if, uid, stored.device_id, stored.sealed), False)

    def _required(self, fn: Callable[[], T]) -> T:
        result = self._call(fn, _FAILED)
        if result is _FAILED:
            raise StoreUnavailable("the session store is not answering")
        return result  # type: ignore[no-any-return]
