"""Push registrations go with their auth token.

CometChat ties a device's push token to the auth token it was registered with (at most one
per auth token); whether revoking the auth token drops the push token is not documented. So
every revoke this server makes deletes that token's push registrations first: the server's
client is a :class:`PushTokenCleanup` (a host's async client an
:class:`~token_server.pushtokens_async.AsyncPushTokenCleanup`), whose ``delete_auth_token`` and
``flush_auth_tokens`` (used by the revoke routes, a device's revoke and replacement,
``DELETE /users/<uid>``, and the CLI's ``tokens revoke/flush/prune``) clean up before they revoke.

The cleanup never blocks a revoke: a failure is logged and counted, and the revoke goes on.
Signing out everywhere lists the user's tokens first: one more call per token holding
devices, paid once per sign-out.

The cleanup is written once, as generators yielding the client calls they need (:class:`Ask`),
as ``cometchat.operations`` is: :func:`run_cleanup` drives it with blocking calls, the async
twin with awaited ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Generator

from prometheus_client import Counter

from cometchat import CometChatClient, CometChatError

from .core.drive import drive
from .ops.metrics import REGISTRY

log = logging.getLogger("token_server")

PUSH_CLEANUPS = Counter(
    "token_server_push_token_cleanups",
    "Push registrations handled before a revoke, by outcome: deleted, or failed (the revoke went on).",
    ["outcome"],
    registry=REGISTRY,
)

# The one call that is no client method of its own: the auth tokens of a uid, as strings
# (the sync client iterates them, the async one iterates them asynchronously).
TOKENS_OF = "auth_tokens_of"


@dataclass(frozen=True)
class Ask:
    """One client call the cleanup needs: ``client.<method>(*args)`` (or :data:`TOKENS_OF`)."""

    method: str
    args: tuple[Any, ...]


Cleanup = Generator[Ask, Any, int]


def drop_steps(uid: str, auth_token: str) -> Cleanup:
    """Delete every push registration of ``auth_token``; how many. A CometChat failure is
    logged and counted, never raised."""
    deleted = 0
    try:
        registrations = yield Ask("list_push_tokens", (auth_token,))
        for registration in registrations:
            yield Ask("delete_push_token", (registration.push_token, auth_token))
            deleted += 1
    except CometChatError as exc:
        PUSH_CLEANUPS.labels("failed").inc()
        log.warning("push tokens of a token of %s not deleted before its revoke (%s); revoking anyway", uid, exc)
    if deleted:
        PUSH_CLEANUPS.labels("deleted").inc(deleted)
    return deleted


def flush_steps(uid: str) -> Cleanup:
    """Delete the push registrations of every token of ``uid``; how many. Never raises a
    CometChat failure (an unknown uid: the flush that follows says so itself)."""
    try:
        tokens: list[str] = yield Ask(TOKENS_OF, (uid,))
    except CometChatError as exc:
        PUSH_CLEANUPS.labels("failed").inc()
        log.warning("the tokens of %s could not be listed to delete their push tokens (%s)", uid, exc)
        tokens = []
    deleted = 0
    for token in tokens:
        deleted += yield from drop_steps(uid, token)
    return deleted


def run_cleanup(client: CometChatClient, steps: Cleanup) -> int:
    """Drive the cleanup with blocking calls of ``client`` (a failing call is handed to the
    steps where they asked: they decide)."""

    def perform(ask: Ask) -> Any:
        if ask.method == TOKENS_OF:
            return [token.auth_token for token in client.iter_auth_tokens(*ask.args)]
        return getattr(client, ask.method)(*ask.args)

    return drive(steps, perform)


def drop_push_tokens(client: CometChatClient, uid: str, auth_token: str) -> int:
    """Delete every push registration of ``auth_token``; how many. Never raises a CometChat error."""
    return run_cleanup(client, drop_steps(uid, auth_token))


class PushTokenCleanup(CometChatClient):
    """The server's client: a revoke deletes the token's push registrations first."""

    def delete_auth_token(self, uid: str, auth_token: str) -> None:
        drop_push_tokens(self, uid, auth_token)
        super().delete_auth_token(uid, auth_token)

    def flush_auth_tokens(self, uid: str) -> None:
        run_cleanup(self, flush_steps(uid))
        super().flush_auth_tokens(uid)
