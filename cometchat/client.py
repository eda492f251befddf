"""A thin, typed client for CometChat's v3 ``users`` and ``auth_tokens`` REST endpoints."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import quote

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3.exceptions import NewConnectionError

from . import validation
from .errors import (
    AuthTokenNotFoundError,
    CometChatError,
    RateLimitedError,
    UidAlreadyExistsError,
    UidNotFoundError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_from_response,
)
from .models import AuthToken, RateLimitInfo, User

log = logging.getLogger("cometchat.client")

REGIONS = ("us", "eu", "in")
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# Statuses after which CometChat certainly did not act on the request.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})

DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 5.0
# Well under gunicorn's worker timeout (30 s in gunicorn.conf.py), so a worker never dies
# waiting on CometChat.
DEFAULT_TOTAL_DEADLINE = 10.0
DEFAULT_MAX_RETRIES = 2


def default_base_url(app_id: str, region: str) -> str:
    return f"https://{app_id}.api-{region}.cometchat.io/v3"


@dataclass(frozen=True)
class _Answer:
    data: Any
    # True when an earlier attempt of this call may have reached CometChat and been acted on
    # (a broken connection, a 502/504): a later "already exists" may be our own doing.
    maybe_applied_before: bool


class CometChatClient:
    """One pooled ``requests.Session`` per thread, (connect, read) timeouts on every call,
    bounded retries with backoff honouring ``Retry-After`` but never past ``total_deadline``.
    4xx answers are never retried.
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
        backoff: float = 0.2,
        adapter_factory: Callable[[], BaseAdapter] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        if base_url is None:
            if not app_id or not region:
                raise ValueError("app_id and region are required unless base_url is given")
            if region not in REGIONS:
                raise ValueError(f"region must be one of {', '.join(REGIONS)}")
            base_url = default_base_url(app_id, region)
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_deadline = total_deadline
        self.max_retries = max_retries
        self.backoff = backoff
        self._adapter_factory = adapter_factory or (lambda: HTTPAdapter(pool_connections=1, pool_maxsize=1))
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._rate_limit = RateLimitInfo()

    def __repr__(self) -> str:  # never show the key
        return f"CometChatClient(base_url={self.base_url!r})"

    # ---- transport -------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """This thread's pooled session (keep-alive: later calls reuse its connection)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = self._adapter_factory()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(
                {
                    "apikey": self._api_key,
                    "Accept": "application/json",
                    "User-Agent": "cometchat-token-server/1.0 (python-requests)",
                }
            )
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    @property
    def rate_limit(self) -> RateLimitInfo:
        return self._rate_limit

    def _note_rate_limit(self, response: requests.Response) -> None:
        def header(*names: str) -> int | None:
            for name in names:
                value = response.headers.get(name)
                if value is not None:
                    try:
                        return int(value)
                    except ValueError:
                        return None
            return None

        limit = header("X-RateLimit-Limit", "X-Rate-Limit-Limit")
        remaining = header("X-RateLimit-Remaining", "X-Rate-Limit-Remaining")
        if limit is not None or remaining is not None:
            self._rate_limit = RateLimitInfo(limit=limit, remaining=remaining)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> _Answer:
        url = self.base_url + path
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        deadline = time.monotonic() + self.total_deadline
        maybe_applied = False
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeoutError(f"no answer from CometChat within {self.total_deadline:g} s")
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            try:
                response = self.session.request(method, url, data=data, params=params, headers=headers, timeout=timeout)
            except requests.ConnectTimeout as exc:
                error: CometChatError = UpstreamUnavailableError(
                    f"could not connect to CometChat ({type(exc).__name__})"
                )
            except requests.ReadTimeout as exc:
                # A slow upstream rarely gets faster: give the caller its 504 now.
                raise UpstreamTimeoutError(f"CometChat did not answer within {timeout[1]:g} s") from exc
            except requests.ConnectionError as exc:
                error = UpstreamUnavailableError(f"connection to CometChat failed ({type(exc).__name__})")
                maybe_applied = maybe_applied or not _never_sent(exc)
            except requests.RequestException as exc:
                raise UpstreamBadResponseError(f"bad answer from CometChat ({type(exc).__name__})") from exc
            else:
                self._note_rate_limit(response)
                if response.ok:
                    return _Answer(self._decode(response), maybe_applied)
                error = error_from_response(response)
                if response.status_code not in RETRIED_STATUSES:
                    error.after_uncertain_attempt = maybe_applied
                    raise error
                if response.status_code not in _NOT_PROCESSED_STATUSES:
                    maybe_applied = True
            attempt += 1
            delay = error.retry_after
            if delay is None:
                delay = self.backoff * (2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if attempt > self.max_retries or time.monotonic() + delay >= deadline:
                if isinstance(error, RateLimitedError) or error.retry_after is not None:
                    error.retry_after = max(error.retry_after or 1.0, 1.0)
                raise error
            log.warning(
                "CometChat %s %s failed (%s); retry %d in %.2f s", method, _loggable(path), error.code, attempt, delay
            )
            self._sleep(delay)

    @staticmethod
    def _decode(response: requests.Response) -> Any:
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamBadResponseError(
                f"CometChat answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
                dev_message=response.content[:200].decode("utf-8", "replace"),
            ) from exc
        if not isinstance(body, dict) or "data" not in body:
            raise UpstreamBadResponseError("CometChat answered without a data envelope", status=response.status_code)
        return body

    @staticmethod
    def _data_object(body: Any) -> dict[str, Any]:
        data = body.get("data")
        if not isinstance(data, dict):
            raise UpstreamBadResponseError("CometChat answered with an unexpected data shape")
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
            answer = self._request("POST", "/users", body=body)
        except UidAlreadyExistsError as exc:
            if not exc.after_uncertain_attempt:
                raise
            existing = self.get_user(uid)
            if existing.name != body["name"]:
                raise  # someone else's user took the uid meanwhile: a real conflict
            if not with_auth_token:
                return existing
            token = self.create_auth_token(uid, force=True)
            return _with_token(existing, token.auth_token)
        return User.from_api(self._data_object(answer.data))

    def get_user(self, uid: str) -> User:
        uid = validation.normalize_uid(uid)
        answer = self._request("GET", f"/users/{_seg(uid)}")
        return User.from_api(self._data_object(answer.data))

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
        answer = self._request("PUT", f"/users/{_seg(uid)}", body=body)
        return User.from_api(self._data_object(answer.data))

    def delete_user(self, uid: str, *, permanent: bool = False) -> None:
        """Deactivate a user, or delete it for good with ``permanent=True``."""
        uid = validation.normalize_uid(uid)
        try:
            self._request("DELETE", f"/users/{_seg(uid)}", body={"permanent": True} if permanent else None)
        except UidNotFoundError as exc:
            if not exc.after_uncertain_attempt:  # else our own earlier attempt did it
                raise

    def iter_users(
        self,
        *,
        per_page: int = 100,
        search_key: str | None = None,
        status: str | None = None,
    ) -> Iterator[User]:
        """Every user, newest first, walking the pages lazily."""
        params: dict[str, Any] = {"perPage": _per_page(per_page)}
        if search_key:
            params["searchKey"] = search_key
        if status:
            if status not in ("available", "offline"):
                raise validation.invalid("status", "The status must be 'available' or 'offline'.")
            params["status"] = status
        for item in self._walk("/users", params):
            yield User.from_api(item)

    # ---- auth tokens -----------------------------------------------------------------

    def create_auth_token(self, uid: str, *, force: bool = True) -> AuthToken:
        """Mint a token. ``force`` (the default) always mints a fresh one: one token per device."""
        uid = validation.normalize_uid(uid)
        answer = self._request("POST", f"/users/{_seg(uid)}/auth_tokens", body={"force": True} if force else {})
        return AuthToken.from_api(self._data_object(answer.data))

    def get_auth_token(self, uid: str, auth_token: str) -> AuthToken:
        uid = validation.normalize_uid(uid)
        auth_token = validation.check_auth_token(auth_token)
        answer = self._request("GET", f"/users/{_seg(uid)}/auth_tokens/{_seg(auth_token)}")
        return AuthToken.from_api(self._data_object(answer.data))

    def iter_auth_tokens(self, uid: str, *, per_page: int = 100) -> Iterator[AuthToken]:
        uid = validation.normalize_uid(uid)
        for item in self._walk(f"/users/{_seg(uid)}/auth_tokens", {"perPage": _per_page(per_page)}):
            yield AuthToken.from_api(item)

    def delete_auth_token(self, uid: str, auth_token: str) -> None:
        """Revoke one token: this device's logout."""
        uid = validation.normalize_uid(uid)
        auth_token = validation.check_auth_token(auth_token)
        try:
            self._request("DELETE", f"/users/{_seg(uid)}/auth_tokens/{_seg(auth_token)}")
        except AuthTokenNotFoundError as exc:
            if not exc.after_uncertain_attempt:  # else our own earlier attempt revoked it
                raise

    def flush_auth_tokens(self, uid: str) -> None:
        """Revoke every token of a user: sign out everywhere."""
        uid = validation.normalize_uid(uid)
        self._request("DELETE", f"/users/{_seg(uid)}/auth_tokens")

    def get_or_create_token(
        self, uid: str, *, name: str | None = None, avatar: str | None = None
    ) -> tuple[AuthToken, bool]:
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

    # ---- helpers ---------------------------------------------------------------------

    def _walk(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            answer = self._request("GET", path, params={**params, "page": page})
            items = answer.data.get("data")
            if not isinstance(items, list):
                raise UpstreamBadResponseError("CometChat answered a list call without a list")
            yield from items
            pagination = (answer.data.get("meta") or {}).get("pagination") or {}
            total_pages = pagination.get("total_pages")
            if not items or not isinstance(total_pages, int) or page >= total_pages:
                return
            page += 1


def _seg(value: str) -> str:
    """Percent-encode one path segment (nothing is safe: not even '/')."""
    return quote(value, safe="")


def _loggable(path: str) -> str:
    """The path without the auth token a revoke carries in it: tokens never reach the logs."""
    head, sep, _token = path.partition("/auth_tokens/")
    return head + sep + "***" if sep else path


def _per_page(per_page: int) -> int:
    if not isinstance(per_page, int) or not 1 <= per_page <= 1000:
        raise validation.invalid("perPage", "perPage must be between 1 and 1000.")
    return per_page


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection could not even be opened, so CometChat never saw the request."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # requests wraps urllib3's MaxRetryError
    return isinstance(reason, NewConnectionError)


def _with_token(user: User, token: str) -> User:
    return replace(user, auth_token=token)
