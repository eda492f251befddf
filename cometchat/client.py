"""CometChatClient: the v3 ``users`` and ``auth_tokens`` endpoints, one method each.

How a call travels (session, timeouts, deadline, retries) is ``transport.py``'s job.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any, Callable, Iterator, Mapping, Sequence

from requests.adapters import BaseAdapter

from . import validation
from .egress import proxy_mapping
from .errors import (
    AuthTokenNotFoundError,
    CometChatError,
    UidAlreadyExistsError,
    UidNotFoundError,
    UpstreamBadResponseError,
    ValidationError,
)
from .models import AuthToken, ImportOutcome, RateLimitInfo, User
from .transport import (
    DEFAULT_BACKOFF,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TOTAL_DEADLINE,
    Transport,
    path,
)

__all__ = [
    "APP_ID",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TOTAL_DEADLINE",
    "REGIONS",
    "CometChatClient",
    "default_base_url",
]

REGIONS = ("us", "eu", "in")
# CometChat app ids are letters and digits; the id becomes the first label of the host name,
# so anything else ("evil.example/#") could point the REST key at another host.
APP_ID = re.compile(r"[A-Za-z0-9]{1,63}")
# CometChat's caps: users a data-import request carries, uids a reactivate call takes.
MAX_IMPORT_USERS = 50
MAX_REACTIVATE_UIDS = 25


def default_base_url(app_id: str, region: str) -> str:
    if not APP_ID.fullmatch(app_id):
        raise ValueError("app_id must be 1 to 63 letters and digits")
    return f"https://{app_id}.api-{region}.cometchat.io/v3"


class CometChatClient:
    """The endpoints, validated locally first (a bad request costs no upstream call).

    The keyword arguments tune the transport: (connect, read) timeouts on every call,
    bounded retries with backoff honouring ``Retry-After`` but never past
    ``total_deadline``, which also bounds an answer that trickles in. 4xx answers are never
    retried. Proxies and CAs come from the environment as in any requests program
    (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``...), or from
    ``proxy`` (one URL for every call, ``http://[user:pass@]host:port``) or ``proxies``, and
    ``ca_bundle`` (a PEM file of the CAs to trust); ``.netrc`` is never read.
    """

    def __init__(
        self,
        app_id: str | None = None,
        region: str | None = None,
        api_key: str = "",
        *,
        base_url: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        total_deadline: float = DEFAULT_TOTAL_DEADLINE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        proxies: Mapping[str, str] | None = None,
        proxy: str | None = None,
        ca_bundle: str | None = None,
        adapter_factory: Callable[[], BaseAdapter] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if proxy and proxies:
            raise ValueError("give proxy or proxies, not both")
        if base_url is None:
            if not app_id or not region:
                raise ValueError("app_id and region are required unless base_url is given")
            if region not in REGIONS:
                raise ValueError(f"region must be one of {', '.join(REGIONS)}")
            base_url = default_base_url(app_id, region)
        self.transport = Transport(
            base_url,
            api_key,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            total_deadline=total_deadline,
            max_retries=max_retries,
            backoff=backoff,
            max_response_bytes=max_response_bytes,
            proxies=proxies or proxy_mapping(proxy),
            ca_bundle=ca_bundle,
            adapter_factory=adapter_factory,
            sleep=sleep,
        )

    def __repr__(self) -> str:  # never show the key
        return f"CometChatClient(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The last ``X-RateLimit-*`` figures CometChat sent."""
        return self.transport.rate_limit

    def close(self) -> None:
        self.transport.close()

    def _request(
        self,
        method: str,
        url_path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.transport.request(method, url_path, body=body, params=params)

    @staticmethod
    def _data_object(body: Mapping[str, Any]) -> dict[str, Any]:
        data = body.get("data")
        if not isinstance(data, dict):
            raise UpstreamBadResponseError("CometChat answered with an unexpected data shape")
        return data

    @classmethod
    def _data_for(cls, uid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """The data object of an answer about ``uid`` (normalised): an answer about any other
        user (a confused proxy, a cache, a bug upstream) must never reach this uid's caller."""
        data = cls._data_object(body)
        if str(data.get("uid", "")).lower() != uid:
            raise UpstreamBadResponseError("CometChat answered about another uid than the one asked for")
        return data

    # ---- users -----------------------------------------------------------------------

    def create_user(
        self,
        uid: str,
        name: str,
        *,
        avatar: str | None = None,
        link: str | None = None,
        role: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        status_message: str | None = None,
        with_auth_token: bool = False,
    ) -> User:
        """Create a user; with ``with_auth_token`` the same round trip mints its first token.

        If a retry of our own attempt meets ``ERR_UID_ALREADY_EXISTS``, the first attempt
        did create the user: we read it back (and mint its token) instead of reporting a
        conflict, so a retry never surfaces as a duplicate nor leaves a user without a token.
        """
        uid = validation.normalize_uid(uid)
        body = validation.check_user_fields(
            {
                "name": name,
                "avatar": avatar,
                "link": link,
                "role": role,
                "metadata": metadata,
                "tags": tags,
                "statusMessage": status_message,
            }
        )
        body["uid"] = uid
        if with_auth_token:
            body["withAuthToken"] = True
        try:
            answer = self._request("POST", path("users"), body=body)
        except UidAlreadyExistsError as exc:
            if not exc.maybe_applied:
                raise
            existing = self.get_user(uid)
            if existing.name != body["name"]:
                raise  # someone else's user took the uid meanwhile: a real conflict
            if not with_auth_token:
                return existing
            token = self.create_auth_token(uid, force=True)
            return _with_token(existing, token.auth_token)
        return User.from_api(self._data_for(uid, answer))

    def get_user(self, uid: str) -> User:
        uid = validation.normalize_uid(uid)
        answer = self._request("GET", path("users", uid))
        return User.from_api(self._data_for(uid, answer))

    def update_user(
        self,
        uid: str,
        *,
        name: str | None = None,
        avatar: str | None = None,
        link: str | None = None,
        role: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        status_message: str | None = None,
        unset: Sequence[str] = (),
    ) -> User:
        uid = validation.normalize_uid(uid)
        fields = {
            "avatar": avatar,
            "link": link,
            "role": role,
            "metadata": metadata,
            "tags": tags,
            "statusMessage": status_message,
        }
        if name is not None:
            fields["name"] = name
        body = validation.check_user_fields(fields, require_name=False)
        if unset:
            body["unset"] = validation.check_unset(unset)
        answer = self._request("PUT", path("users", uid), body=body)
        return User.from_api(self._data_for(uid, answer))

    def delete_user(self, uid: str, *, permanent: bool = False) -> None:
        """Deactivate a user, or delete it for good with ``permanent=True``."""
        uid = validation.normalize_uid(uid)
        try:
            self._request("DELETE", path("users", uid), body={"permanent": True} if permanent else None)
        except UidNotFoundError as exc:
            if not exc.maybe_applied:  # else our own earlier attempt did it
                raise

    def reactivate_users(self, uids: Sequence[str]) -> list[str]:
        """Reactivate deactivated users (``PUT /users``, at most 25 uids). Their old tokens
        work again: flush them first if they must not (see ``token_server.lifecycle``).
        Returns the uids CometChat lists in its answer (``nonDeactivatedUids``)."""
        checked = [validation.normalize_uid(uid) for uid in uids]
        if not 1 <= len(checked) <= MAX_REACTIVATE_UIDS:
            raise validation.invalid("uidsToActivate", f"Send 1 to {MAX_REACTIVATE_UIDS} uids.")
        answer = self._request("PUT", path("users"), body={"uidsToActivate": checked})
        listed = self._data_object(answer).get("nonDeactivatedUids", [])
        if not isinstance(listed, list):
            raise UpstreamBadResponseError("CometChat answered a reactivation with an unexpected shape")
        return [str(uid) for uid in listed]

    def iter_users(
        self,
        *,
        per_page: int = 100,
        search_key: str | None = None,
        status: str | None = None,
    ) -> Iterator[User]:
        """Every user, newest first, walking the pages lazily."""
        params: dict[str, Any] = {"perPage": validation.check_per_page(per_page)}
        if search_key:
            params["searchKey"] = search_key
        if status:
            params["status"] = validation.check_user_status(status)
        for item in self._walk(path("users"), params):
            yield User.from_api(item)

    # ---- auth tokens -----------------------------------------------------------------

    def create_auth_token(self, uid: str, *, force: bool = True) -> AuthToken:
        """Mint a token. ``force`` (the default) always mints a fresh one: one token per device."""
        uid = validation.normalize_uid(uid)
        answer = self._request("POST", path("users", uid, "auth_tokens"), body={"force": True} if force else {})
        return AuthToken.from_api(self._data_for(uid, answer))

    def get_auth_token(self, uid: str, auth_token: str) -> AuthToken:
        uid = validation.normalize_uid(uid)
        auth_token = validation.check_auth_token(auth_token)
        answer = self._request("GET", path("users", uid, "auth_tokens", auth_token))
        return AuthToken.from_api(self._data_for(uid, answer))

    def iter_auth_tokens(self, uid: str, *, per_page: int = 100) -> Iterator[AuthToken]:
        uid = validation.normalize_uid(uid)
        for item in self._walk(path("users", uid, "auth_tokens"), {"perPage": validation.check_per_page(per_page)}):
            yield AuthToken.from_api(item)

    def delete_auth_token(self, uid: str, auth_token: str) -> None:
        """Revoke one token: this device's logout."""
        uid = validation.normalize_uid(uid)
        auth_token = validation.check_auth_token(auth_token)
        try:
            self._request("DELETE", path("users", uid, "auth_tokens", auth_token))
        except AuthTokenNotFoundError as exc:
            if not exc.maybe_applied:  # else our own earlier attempt revoked it
                raise

    def flush_auth_tokens(self, uid: str) -> None:
        """Revoke every token of a user: sign out everywhere."""
        uid = validation.normalize_uid(uid)
        self._request("DELETE", path("users", uid, "auth_tokens"))

    def mint_token(self, uid: str, *, name: str | None = None, avatar: str | None = None) -> tuple[AuthToken, bool]:
        """Mint a fresh token, creating the user first if it does not exist.

        A returning user costs one round trip; a first-time user one more (the create mints
        the token too). Returns the token and whether the user was created by this call.
        Concurrent first logins of one uid all succeed: the loser of the create race mints.
        """
        uid = validation.normalize_uid(uid)
        profile = validation.check_user_fields({"name": name or uid, "avatar": avatar})
        try:
            return self.create_auth_token(uid, force=True), False
        except UidNotFoundError:
            pass
        try:
            user = self.create_user(uid, profile["name"], avatar=profile.get("avatar"), with_auth_token=True)
        except UidAlreadyExistsError:
            return self.create_auth_token(uid, force=True), False
        if not user.auth_token:
            raise UpstreamBadResponseError("CometChat created the user but returned no authToken")
        return AuthToken(uid=user.uid, auth_token=user.auth_token, created_at=user.created_at), True

    # ---- data import -----------------------------------------------------------------

    def import_users(self, users: Mapping[str, Mapping[str, Any]]) -> dict[str, ImportOutcome]:
        """One ``POST /data_import/users`` of at most 50 users (uid -> profile fields).

        Returns each uid's own outcome: read those, not the HTTP status alone. A uid missing
        from the answer is absent from the result too (its fate is unknown: resend it). A
        failure of the whole request raises as any call does; some rows may have landed
        (CometChat documents a 500 after part of a batch was imported).
        """
        rows: dict[str, dict[str, Any]] = {}
        for raw_uid, fields in users.items():
            uid = validation.normalize_uid(raw_uid)
            rows[uid] = {"uid": uid, **validation.check_user_fields(fields)}
        if not 1 <= len(rows) <= MAX_IMPORT_USERS or len(rows) != len(users):
            raise validation.invalid("users", f"Send 1 to {MAX_IMPORT_USERS} distinct uids.")
        answer = self._data_object(self._request("POST", path("data_import", "users"), body={"users": rows}))
        outcomes: dict[str, ImportOutcome] = {}
        for key, row in answer.items():
            uid = str(key).lower()
            if uid not in rows:
                continue  # not ours: never trust an answer about a uid we did not send
            if not isinstance(row, dict):
                raise UpstreamBadResponseError("CometChat answered an import row with an unexpected shape")
            if row.get("success") is True and isinstance(row.get("data"), dict):
                outcomes[uid] = ImportOutcome(uid, user=User.from_api(row["data"]))
            else:
                outcomes[uid] = ImportOutcome(uid, error=_row_error(row.get("error")))
        return outcomes

    # ---- helpers ---------------------------------------------------------------------

    def _walk(self, url_path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            answer = self._request("GET", url_path, params={**params, "page": page})
            items = answer.get("data")
            if not isinstance(items, list):
                raise UpstreamBadResponseError("CometChat answered a list call without a list")
            yield from items
            pagination = (answer.get("meta") or {}).get("pagination") or {}
            total_pages = pagination.get("total_pages")
            if not items or not isinstance(total_pages, int) or page >= total_pages:
                return
            page += 1


def _with_token(user: User, token: str) -> User:
    return replace(user, auth_token=token)


def _row_error(envelope: Any) -> CometChatError:
    """The error of one failed import row, from its ``error`` object."""
    envelope = envelope if isinstance(envelope, dict) else {}
    code = str(envelope.get("code") or "") or None
    message = str(envelope.get("message") or "") or "CometChat did not import this row"
    details = envelope.get("details") if isinstance(envelope.get("details"), dict) else None
    kind = {"ERR_UID_ALREADY_EXISTS": UidAlreadyExistsError, "ERR_BAD_REQUEST": ValidationError}
    return kind.get(code or "", CometChatError)(message, code=code, details=details)
