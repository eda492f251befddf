"""The end of a user's life in CometChat, in the one order that leaves no working token: used by
``DELETE /api/cometchat/users/<uid>`` and by the operator CLI."""

from __future__ import annotations

from typing import Literal, Sequence

from cometchat import CometChatClient, UidNotFoundError

from .core.drive import Rule, Upstream, run_sync

DeleteMode = Literal["deactivated", "permanent"]


def deprovision(client: CometChatClient, uid: str, *, permanent: bool = False) -> DeleteMode:
    """Revoke every token of ``uid``, then deactivate it (or delete it for good).

    Flush BEFORE deactivating: a deactivated uid cannot be flushed (CometChat answers it as not
    found), yet its stored tokens work again the moment it is reactivated. A failure between the
    two steps leaves an active user with no token, and the same call again finishes the job; a
    uid already gone is the same success, so retries are always safe."""
    return run_sync(deprovision_steps(uid, permanent=permanent), client)


def deprovision_steps(uid: str, *, permanent: bool = False) -> Rule[DeleteMode]:
    """:func:`deprovision` as a rule of :mod:`token_server.core.drive`, for either client."""
    mode: DeleteMode = "permanent" if permanent else "deactivated"
    try:
        yield Upstream("flush_auth_tokens", (uid,))
    except UidNotFoundError:
        if not permanent:  # deactivated already, or never existed: nothing left to do
            return mode
    try:
        yield Upstream("delete_user", (uid,), {"permanent": permanent})
    except UidNotFoundError:
        pass  # deleted meanwhile, or never existed: the same end state
    return mode


def reactivate(client: CometChatClient, uids: Sequence[str], *, keep_tokens: bool = False) -> list[str]:
    """Reactivate deactivated users; unless ``keep_tokens``, flush the tokens they had (one
    minted while a deprovisioning ran would otherwise come back to life). Returns the uids
    CometChat reports reactivated."""
    reactivated = client.reactivate_users(uids)
    if not keep_tokens:
        for uid in reactivated:
            client.flush_auth_tokens(uid)
    return reactivated
