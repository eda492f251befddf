"""Deprovisioning is final: the rules that consult the deleted users' tombstones
(:mod:`token_server.deprovisioned` keeps them and says why) on the token and user routes."""

from __future__ import annotations

import logging

from .. import codes, lifecycle
from .drive import Devices, Rule, Tombstones
from .errors import ApiError, tombstones_unavailable, user_deleted

log = logging.getLogger("token_server.deprovisioned")


def refuse_if_gone(uid: str) -> Rule[None]:
    """Before a mint that may create ``uid``: 404 while it has a tombstone, no upstream call."""
    if (yield Tombstones("gone", (uid,))) is not None:
        raise user_deleted()


def settle_mint(uid: str, *, forget_devices: bool = False) -> Rule[None]:
    """After a mint: if ``uid`` was deprovisioned meanwhile (a login that raced the delete),
    deprovision it again (its tokens, the one just minted included, are flushed; a re-created
    user deleted again), forget its devices when the login stored one, and answer 404."""
    mode = yield Tombstones("gone", (uid,))
    if mode is None:
        return
    log.warning("a login of %s raced its deprovisioning: deprovisioned again, its token revoked", uid)
    yield from lifecycle.deprovision_steps(uid, permanent=mode == "permanent")
    if forget_devices:
        yield Devices("forget_all", (uid,))
    raise user_deleted()


def allow_recreation(uid: str, is_trusted: bool) -> Rule[None]:
    """Before ``POST /users``: a uid with a tombstone is created again only by a service caller
    (the user's own JWT: 403), and only once its tombstone is gone (the store out: 503, no
    upstream call; else the re-created user would be refused its logins when the store is back)."""
    if (yield Tombstones("gone", (uid,))) is None:
        return
    if not is_trusted:
        raise ApiError(403, codes.ERR_FORBIDDEN, "This user was deleted; only a service caller can create it again.")
    if not (yield Tombstones("clear", (uid,))):
        raise tombstones_unavailable()


def mark(uid: str, mode: str) -> Rule[None]:
    """Before a delete goes upstream: a login racing it sees the tombstone."""
    yield Tombstones("mark", (uid, mode))
