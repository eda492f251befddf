"""Push registrations go with their auth token.

CometChat ties a device's push token to the auth token it was registered with (at most one
per auth token); whether revoking the auth token drops the push token is not documented. So
every revoke this server makes deletes that token's push registrations first: the server's
client is a :class:`PushTokenCleanup`, whose ``delete_auth_token`` and ``flush_auth_tokens``
(used by the revoke routes, a device's revoke and replacement, ``DELETE /users/<uid>``, and
the CLI's ``tokens revoke/flush/prune``) clean up before they revoke.

The cleanup never blocks a revoke: a failure is logged and counted, and the revoke goes on.
Signing out everywhere lists the user's tokens first: one more call per token holding
devices, paid once per sign-out.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from cometchat import CometChatClient, CometChatError

from .ops.metrics import REGISTRY

log = logging.getLogger("token_server")

PUSH_CLEANUPS = Counter(
    "token_server_push_token_cleanups",
    "Push registrations handled before a revoke, by outcome: deleted, or failed (the revoke went on).",
    ["outcome"],
    registry=REGISTRY,
)


def drop_push_tokens(client: CometChatClient, uid: str, auth_token: str) -> int:
    """Delete every push registration of ``auth_token``; how many. Never raises."""
    deleted = 0
    try:
        for registration in client.list_push_tokens(auth_token):
            client.delete_push_token(registration.push_token, auth_token)
            deleted += 1
    except CometChatError as exc:
        PUSH_CLEANUPS.labels("failed").inc()
        log.warning("push tokens of a token of %s not deleted before its revoke (%s); revoking anyway", uid, exc)
    if deleted:
        PUSH_CLEANUPS.labels("deleted").inc(deleted)
    return deleted


class PushTokenCleanup(CometChatClient):
    """The server's client: a revoke deletes the token's push registrations first."""

    def delete_auth_token(self, uid: str, auth_token: str) -> None:
        drop_push_tokens(self, uid, auth_token)
        super().delete_auth_token(uid, auth_token)

    def flush_auth_tokens(self, uid: str) -> None:
        try:
            tokens = [token.auth_token for token in self.iter_auth_tokens(uid)]
        except CometChatError as exc:  # an unknown uid among them: the flush says so itself
            PUSH_CLEANUPS.labels("failed").inc()
            log.warning("the tokens of %s could not be listed to delete their push tokens (%s)", uid, exc)
            tokens = []
        for token in tokens:
            drop_push_tokens(self, uid, token)
        super().flush_auth_tokens(uid)
