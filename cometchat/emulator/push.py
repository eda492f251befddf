"""Push token registrations (``/notifications/push/v1/tokens``) with CometChat's limits.

A registration ties one push token to one auth token of one user: at most one per auth token
(registering another replaces it), at most 100 per user (the 101st drops the user's oldest,
as the 101st auth token does: unconfirmed), and a push token shared by devices belongs to the
last auth token that registered it (CometChat's FAQ: pushes go to the last device only).

Revoking an auth token here leaves its registration in place: CometChat does not document
whether it drops it, and the pessimistic reading is the one a server must survive (it deletes
push tokens itself before revoking, and a test can see that it did).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from . import rules

MAX_PUSH_TOKENS_PER_USER = 100
MAX_PUSH_TOKEN = 4096
PUSH_TOKEN = re.compile(r"[!-~]{1,4096}")
PUSH_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def push_token_not_found() -> rules.EmulatorError:
    return rules.EmulatorError(404, "ERR_TOKEN_NOT_FOUND", "The specified push token does not exist.")


def check_registration(body: dict[str, Any]) -> tuple[str, str, str, str | None]:
    """``(authToken, pushToken, platform, providerId)`` of a register body, or 400."""
    auth_token, push_token = body.get("authToken"), body.get("pushToken")
    platform, provider = body.get("platform"), body.get("providerId")
    if not isinstance(auth_token, str) or not auth_token:
        raise rules.bad_request("authToken", "The authToken field is required.")
    if not isinstance(push_token, str) or not PUSH_TOKEN.fullmatch(push_token):
        raise rules.bad_request("pushToken", f"The pushToken must be 1 to {MAX_PUSH_TOKEN} printable characters.")
    if not isinstance(platform, str) or not PUSH_NAME.fullmatch(platform):
        raise rules.bad_request("platform", "The platform field is required.")
    if provider is not None and (not isinstance(provider, str) or not PUSH_NAME.fullmatch(provider)):
        raise rules.bad_request("providerId", "The providerId must be an id.")
    return auth_token, push_token, platform, provider


class PushRegistry:
    """Registrations by push token, oldest first. The caller holds the emulator's lock."""

    def __init__(self) -> None:
        self.by_push_token: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def clear(self) -> None:
        self.by_push_token.clear()

    def register(
        self, uid: str, auth_token: str, push_token: str, platform: str, provider: str | None
    ) -> dict[str, Any]:
        now = _iso_now()
        previous = self.by_push_token.pop(push_token, None)
        for token, item in list(self.by_push_token.items()):
            if item["authToken"] == auth_token:  # one registration per auth token
                del self.by_push_token[token]
        item = {
            "authToken": auth_token,
            "pushTokenType": "chat",
            "createdAt": previous["createdAt"] if previous and previous["authToken"] == auth_token else now,
            "platform": platform,
            "pushToken": push_token,
            "uid": uid,
            "updatedAt": now,
        }
        if provider is not None:
            item["providerId"] = provider
        self.by_push_token[push_token] = item
        mine = [token for token, entry in self.by_push_token.items() if entry["uid"] == uid]
        for token in mine[: max(len(mine) - MAX_PUSH_TOKENS_PER_USER, 0)]:
            del self.by_push_token[token]
        return dict(item)

    def listed(self, auth_token: str | None) -> list[dict[str, Any]]:
        return [dict(i) for i in self.by_push_token.values() if auth_token is None or i["authToken"] == auth_token]

    def delete(self, push_token: str, auth_token: str) -> list[dict[str, Any]]:
        item = self.by_push_token.get(push_token)
        if item is None or item["authToken"] != auth_token:
            raise push_token_not_found()
        del self.by_push_token[push_token]
        return self.listed(auth_token)

    def count(self, uid: str | None = None) -> int:
        return sum(1 for item in self.by_push_token.values() if uid is None or item["uid"] == uid)
