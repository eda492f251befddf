"""The emulator's data: users and their tokens, with CometChat's rules for both."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import rules
from .faults import IMPORT_ONLY_KINDS, Fault
from .push import PushRegistry, check_registration
from .quota import CORE, IMPORT, OTHER, Quota, Verdict
from .webhooks import CONNECTION_TRIGGER, WebhookConfig, WebhookSender, connection_event

TEST_USERS = tuple(
    (f"cometchat-uid-{n}", name, f"https://data-us.cometchat.io/assets/images/avatars/{avatar}.png")
    for n, name, avatar in (
        (1, "Andrew Joseph", "andrewjoseph"),
        (2, "George Alan", "georgealan"),
        (3, "Nancy Grace", "nancygrace"),
        (4, "Susan Marie", "susanmarie"),
        (5, "John Paul", "johnpaul"),
    )
)
MAX_VALID_TOKENS = 100
MAX_IMPORT_USERS = 50
MAX_REACTIVATE_UIDS = 25
REQUEST_IDS_KEPT = 100
PROFILE_KEYS = ("avatar", "link", "metadata", "tags", "statusMessage")


def _now() -> int:
    return int(time.time())


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class _UserRecord:
    data: dict[str, Any]
    tokens: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_VALID_TOKENS))  # newest last
    deactivated_at: int | None = None
    order: int = 0  # creation order: lists are newest first


class EmulatorState:
    """All the emulator's data, behind one lock: concurrent creates of one uid make one user."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        rate_limit_per_minute: int | None = None,
        core_per_minute: int | None = None,
        other_per_minute: int | None = None,
        import_per_minute: int | None = None,
        minute_seconds: float = 60.0,
        latency: float = 0.0,
        connect_delay: float = 0.0,
        webhooks: WebhookConfig | None = None,
    ) -> None:
        # None: any non-empty key is accepted; a missing key is always refused.
        self.api_keys = frozenset(api_keys) if api_keys else None
        self.connect_delay = connect_delay
        self.lock = threading.RLock()
        self.users: dict[str, _UserRecord] = {}
        self.tokens: dict[str, str] = {}  # token -> uid, for /me
        self.push = PushRegistry()
        # Each open SDK connection: auth token -> (uid, when it connected, in ms).
        self.sessions: dict[str, tuple[str, int]] = {}
        self.webhooks = WebhookSender(webhooks) if webhooks is not None else None
        self.faults: deque[Fault] = deque()
        self.quota = Quota(minute_seconds=minute_seconds)
        self.set_limits(
            rate_limit_per_minute=rate_limit_per_minute,
            core=core_per_minute,
            other=other_per_minute,
            imports=import_per_minute,
        )
        self._settings = (dict(self.quota.limits), minute_seconds, latency)
        self.latency = latency
        self.requests = 0
        self.rate_limited = 0  # 429 answers sent, injected or earned
        self.connections = 0
        # The last X-Request-IDs received, newest last, so a test can follow a request here.
        self.request_ids: deque[str] = deque(maxlen=REQUEST_IDS_KEPT)
        self.peers: set[tuple[Any, Any]] = set()
        # Seconds added to the clock that stamps new tokens' createdAt (a test ages tokens with it).
        self.clock_offset = 0
        self._order = itertools.count()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.users.clear()
            self.tokens.clear()
            self.push.clear()
            self.sessions.clear()
            self.faults.clear()
            if self.webhooks is not None:
                self.webhooks.add_faults([], clear=True)
            limits, self.quota.minute_seconds, self.latency = self._settings
            self.quota.limits = dict(limits)
            self.quota.reset_counts()
            self.requests = 0
            self.rate_limited = 0
            self.request_ids.clear()
            self.clock_offset = 0
            for uid, name, avatar in TEST_USERS:
                self._insert(uid, {"name": name, "avatar": avatar})

    def set_webhooks(self, sender: WebhookSender | None) -> None:
        """Deliver the events from now on through ``sender`` (None: no webhook); the previous
        sender, if any, is closed. For an embedding app that builds its receiver after the
        emulator (the token server's own, in-process)."""
        with self.lock:
            previous, self.webhooks = self.webhooks, sender
        if previous is not None and previous is not sender:
            previous.close()

    # ---- bookkeeping -----------------------------------------------------------------

    def set_limits(
        self,
        *,
        rate_limit_per_minute: int | None = None,
        core: int | None = None,
        other: int | None = None,
        imports: int | None = None,
    ) -> None:
        """``rate_limit_per_minute`` sets the core and the other bucket at once."""
        for bucket, value in ((CORE, rate_limit_per_minute), (OTHER, rate_limit_per_minute)):
            if value is not None:
                self.quota.limits[bucket] = int(value)
        for bucket, value in ((CORE, core), (OTHER, other), (IMPORT, imports)):
            if value is not None:
                self.quota.limits[bucket] = int(value)

    def count_request(self, bucket: str) -> Verdict:
        """Count one REST call in its quota bucket."""
        with self.lock:
            self.requests += 1
        return self.quota.take(bucket)

    def note_request_id(self, request_id: str | None) -> None:
        if request_id:
            with self.lock:
                self.request_ids.append(request_id)

    def note_answer(self, status: int) -> None:
        if status == 429:
            with self.lock:
                self.rate_limited += 1

    def next_fault(self, *, for_import: bool = False) -> Fault | None:
        """The first queued fault this request can take; import faults wait for an import."""
        with self.lock:
            for fault in self.faults:
                if for_import or fault.kind not in IMPORT_ONLY_KINDS:
                    self.faults.remove(fault)
                    return fault
            return None

    # ---- users -----------------------------------------------------------------------

    def _insert(self, uid: str, fields: dict[str, Any], *, created_at: int | None = None) -> _UserRecord:
        data: dict[str, Any] = {"uid": uid, "name": fields["name"]}
        for key in PROFILE_KEYS:
            if fields.get(key) is not None:
                data[key] = fields[key]
        data["role"] = fields.get("role") or "default"
        data["status"] = "offline"
        if fields.get("lastActiveAt") is not None:
            data["lastActiveAt"] = fields["lastActiveAt"]
        data["createdAt"] = created_at if created_at is not None else _now()
        record = _UserRecord(data=data, order=next(self._order))
        self.users[uid] = record
        return record

    def _active(self, uid: str) -> _UserRecord:
        record = self.users.get(uid.lower())
        if record is None or record.deactivated_at is not None:
            raise rules.uid_not_found(uid.lower())
        return record

    def create_user(self, body: dict[str, Any]) -> dict[str, Any]:
        uid = rules.check_uid(body.get("uid"))
        fields = rules.check_profile(body, require_name=True)
        with self.lock:
            if uid in self.users:  # a deactivated uid cannot be created again either
                raise rules.uid_exists(uid)
            record = self._insert(uid, fields)
            user = dict(record.data)
            if body.get("withAuthToken") is True:
                user["authToken"] = self._mint(record)["authToken"]
            return user

    def get_user(self, uid: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._active(uid).data)

    def update_user(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        fields = rules.check_profile(body, require_name=False)
        unset = rules.check_unset(body["unset"]) if body.get("unset") is not None else []
        with self.lock:
            record = self._active(uid)
            record.data.update(fields)
            for key in unset:
                record.data.pop(key, None)
            record.data["updatedAt"] = _now()
            return dict(record.data)

    def delete_user(self, uid: str, permanent: bool) -> dict[str, Any]:
        uid = uid.lower()
        with self.lock:
            record = self.users.get(uid)
            if record is None or (record.deactivated_at is not None and not permanent):
                raise rules.uid_not_found(uid)
            if permanent:
                del self.users[uid]
                for token in record.tokens:
                    self.tokens.pop(token["authToken"], None)
                return {"success": True, "message": f"User with UID {uid} has been deleted successfully."}
            record.deactivated_at = _now()
            return {"deactivatedUids": [uid]}

    def reactivate_users(self, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /users`` with ``uidsToActivate``: deactivated users become active again,
        their stored tokens valid again (documented). Unknown or active uids are skipped
        (unconfirmed); the answer lists the uids reactivated."""
        uids = body.get("uidsToActivate")
        if not isinstance(uids, list) or not uids or any(not isinstance(u, str) for u in uids):
            raise rules.bad_request("uidsToActivate", "The uidsToActivate field must be a list of uids.")
        if len(uids) > MAX_REACTIVATE_UIDS:
            raise rules.bad_request("uidsToActivate", f"At most {MAX_REACTIVATE_UIDS} uids in one request.")
        reactivated = []
        with self.lock:
            for uid in dict.fromkeys(u.lower() for u in uids):
                record = self.users.get(uid)
                if record is not None and record.deactivated_at is not None:
                    record.deactivated_at = None
                    reactivated.append(uid)
        return {"nonDeactivatedUids": reactivated}

    def list_users(self, search_key: str | None, status: str | None) -> list[dict[str, Any]]:
        with self.lock:
            records = [r for r in self.users.values() if r.deactivated_at is None]
            records.sort(key=lambda r: r.order, reverse=True)
            users = [dict(r.data) for r in records]
        if search_key:
            needle = search_key.lower()
            users = [u for u in users if needle in u["uid"] or needle in u["name"].lower()]
        if status:
            users = [u for u in users if u.get("status") == status]
        return users

    # ---- data import -----------------------------------------------------------------

    def check_import(self, body: dict[str, Any]) -> dict[str, Any]:
        """The ``users`` map of an import body, or the whole request refused."""
        users = body.get("users")
        if not isinstance(users, dict) or not users or any(not isinstance(row, dict) for row in users.values()):
            raise rules.EmulatorError(
                400, "ERR_IMPORT_INVALID_USER_FORMAT", "The value for users property should be a map of user objects."
            )
        if len(users) > MAX_IMPORT_USERS:
            raise rules.bad_request("users", f"At most {MAX_IMPORT_USERS} users can be imported in one request.")
        return users

    def import_users(self, users: dict[str, Any], *, limit: int | None = None) -> dict[str, Any]:
        """Create each row on its own; the answer maps every key sent to its outcome.

        ``limit`` stops after that many rows (a fault: the rest never land)."""
        answer: dict[str, Any] = {}
        for n, (key, row) in enumerate(users.items()):
            if limit is not None and n >= limit:
                break
            try:
                answer[key] = {"success": True, "data": self._import_row(key, row)}
            except rules.EmulatorError as exc:
                answer[key] = {"success": False, "error": exc.body()["error"]}
        return answer

    def _import_row(self, key: str, row: dict[str, Any]) -> dict[str, Any]:
        if row.get("uid") is not None and str(row["uid"]).lower() != key.lower():
            raise rules.bad_request("uid", "The uid must equal the key it is sent under.")
        uid = rules.check_uid(key)
        fields = rules.check_profile(row, require_name=True)
        for stamp in ("createdAt", "lastActiveAt"):
            if row.get(stamp) is not None:
                fields[stamp] = rules.check_timestamp(stamp, row[stamp])
        with self.lock:
            if uid in self.users:
                raise rules.uid_exists(uid)
            return dict(self._insert(uid, fields, created_at=fields.get("createdAt")).data)

    # ---- tokens ----------------------------------------------------------------------

    def _mint(self, record: _UserRecord) -> dict[str, Any]:
        created = _now() + self.clock_offset
        token = {
            "uid": record.data["uid"],
            "authToken": f"{record.data['uid']}_{created:010d}{secrets.token_hex(15)}",
            "createdAt": created,
        }
        if len(record.tokens) == MAX_VALID_TOKENS:  # the 101st silently archives the oldest: no longer listed or valid
            self.tokens.pop(record.tokens[0]["authToken"], None)
        record.tokens.append(token)
        self.tokens[token["authToken"]] = record.data["uid"]
        return dict(token)

    def create_token(self, uid: str, force: bool) -> dict[str, Any]:
        with self.lock:
            record = self._active(uid)
            # Without force CometChat may hand back an existing token (unconfirmed): we do.
            if not force and record.tokens:
                return dict(record.tokens[-1])
            return self._mint(record)

    def _find_token(self, record: _UserRecord, token: str) -> dict[str, Any]:
        for item in record.tokens:
            if item["authToken"] == token:
                return item
        raise rules.token_not_found()

    def get_token(self, uid: str, token: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._find_token(self._active(uid), token))

    def update_token(self, uid: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            item = self._find_token(self._active(uid), token)
            for key in ("platform", "userAgent", "appInfo"):
                if key in body:
                    item[key] = body[key]
            item["updatedAt"] = _now()
            return dict(item)

    def list_tokens(self, uid: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(t) for t in reversed(self._active(uid).tokens)]

    def delete_token(self, uid: str, token: str) -> dict[str, Any]:
        with self.lock:
            record = self._active(uid)
            item = self._find_token(record, token)
            record.tokens.remove(item)
            self.tokens.pop(token, None)
            return {"success": True, "message": f"Auth token {token} deleted successfully."}

    def flush_tokens(self, uid: str) -> dict[str, Any]:
        with self.lock:
            record = self._active(uid)
            for item in record.tokens:
                self.tokens.pop(item["authToken"], None)
            record.tokens.clear()
            return {"success": True, "message": f"Cleared Auth Tokens successfully for uid {record.data['uid']}."}

    def login(self, token: str) -> dict[str, Any]:
        """What the SDK's ``PUT /v3.0/me`` does with an auth token: the user, now online.

        Only a token still among its user's newest 100, of a user still active, logs in."""
        with self.lock:
            record = self._record_for(token)
            record.data["status"] = "available"
            record.data["lastActiveAt"] = _now()
            return dict(record.data)

    def logout(self, token: str) -> None:
        """The SDK's ``DELETE /v3.0/me``: the user goes offline; the token stays valid
        (revoking is the REST API's job)."""
        with self.lock:
            self._record_for(token).data["status"] = "offline"

    def _record_for(self, token: str) -> _UserRecord:
        uid = self.tokens.get(token) if token else None
        record = self.users.get(uid) if uid is not None else None
        if record is None or record.deactivated_at is not None:
            raise rules.EmulatorError(401, "AUTH_ERR_AUTH_TOKEN_NOT_FOUND", "The auth token does not exist.")
        return record

    # ---- SDK connections (the chat SDK's WebSocket) ----------------------------------------

    def connect(self, token: str, *, platform: str) -> dict[str, Any]:
        """A signed-in SDK opened its connection: the user is online, and a webhook says so."""
        with self.lock:
            record = self._record_for(token)
            uid = record.data["uid"]
            changed = not any(owner == uid for owner, _ in self.sessions.values())
            now = _now_ms()
            self.sessions[token] = (uid, now)
            record.data["status"] = "available"
            record.data["lastActiveAt"] = _now()
            self._connection_event(record, True, True, platform, now, now, changed)
            return dict(record.data)

    def disconnect(self, token: str, *, platform: str) -> bool:
        """The connection of this token closed (even if the token was revoked meanwhile, as a
        socket closes regardless); False when it had none."""
        with self.lock:
            session = self.sessions.pop(token, None)
            if session is None:
                return False
            uid, since = session
            record = self.users.get(uid)
            if record is None:
                return True
            online = any(owner == uid for owner, _ in self.sessions.values())
            if not online:
                record.data["status"] = "offline"
            self._connection_event(record, False, online, platform, since, _now_ms(), not online)
            return True

    def _connection_event(
        self, record: _UserRecord, connected: bool, online: bool, platform: str, since: int, now: int, changed: bool
    ) -> None:
        if self.webhooks is not None:
            data = connection_event(
                record.data,
                connected=connected,
                online=online,
                platform=platform,
                connected_at_ms=since,
                now_ms=now,
                changed=changed,
            )
            self.webhooks.send(CONNECTION_TRIGGER, data)

    # ---- push tokens -------------------------------------------------------------------

    def register_push_token(self, body: dict[str, Any]) -> dict[str, Any]:
        """A push token registered against a valid auth token (see ``push.py`` for the limits)."""
        auth_token, push_token, platform, provider = check_registration(body)
        with self.lock:
            uid = self.tokens.get(auth_token)
            record = self.users.get(uid) if uid is not None else None
            if record is None or record.deactivated_at is not None:
                raise rules.token_not_found()
            self.push.register(record.data["uid"], auth_token, push_token, platform, provider)
            return {"pushTokens": self.push.listed(auth_token)}

    def list_push_tokens(self, auth_token: str | None) -> dict[str, Any]:
        with self.lock:
            return {"pushTokens": self.push.listed(auth_token or None)}

    def delete_push_token(self, push_token: str, body: dict[str, Any]) -> dict[str, Any]:
        auth_token = body.get("authToken")
        if not isinstance(auth_token, str) or not auth_token:
            raise rules.bad_request("authToken", "The authToken field is required.")
        with self.lock:
            return {"pushTokens": self.push.delete(push_token, auth_token)}
