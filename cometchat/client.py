"""CometChatClient: the v3 ``users`` and ``auth_tokens`` endpoints, one blocking method each.

What each method does is ``operations.py``'s (shared with ``AsyncCometChatClient``); how a
call travels (pool, timeouts, deadline, retries) is ``transport.py``'s.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar, Unpack

from requests.adapters import BaseAdapter

from . import endpoints, operations
from .budget import UpstreamBudget
from .client_state import ClientState
from .endpoints import APP_ID, MAX_IMPORT_USERS, MAX_REACTIVATE_UIDS, REGIONS, default_base_url, resolve_base_url
from .errors import CometChatError
from .models import AuthToken, ImportOutcome, PushToken, User
from .operations import Op
from .options import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TOTAL_DEADLINE,
    ClientOptions,
    Tuning,
    options_from,
)
from .policy import UpstreamObserver
from .transport import Transport

__all__ = [
    "APP_ID",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TOTAL_DEADLINE",
    "MAX_IMPORT_USERS",
    "MAX_REACTIVATE_UIDS",
    "REGIONS",
    "CometChatClient",
    "default_base_url",
]

T = TypeVar("T")


class CometChatClient(ClientState):
    """The endpoints, validated locally first (a bad request costs no upstream call).

    ``options`` (or the same fields as keyword arguments: ``connect_timeout``,
    ``read_timeout``, ``total_deadline``, ``max_retries``, ``backoff``,
    ``max_response_bytes``, ``pool_size``, ``proxies``, ``ca_bundle``) tune the transport:
    (connect, read) timeouts on every call, bounded retries with backoff honouring
    ``Retry-After`` but never past ``total_deadline``, which also bounds an answer that
    trickles in. 4xx answers are never retried. Proxies and CAs: ``proxy`` (one URL for every
    call) or ``proxies``, and ``ca_bundle``; without them, the environment's as in any requests
    program (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``);
    ``.netrc`` is never read. ``budget`` (the app's shared upstream quota) and ``observers`` (told about every
    attempt) are optional; more observers may be added to ``client.observers`` later.
    """

    transport: Transport

    def __init__(
        self,
        app_id: str | None = None,
        region: str | None = None,
        api_key: str = "",
        *,
        base_url: str | None = None,
        options: ClientOptions | None = None,
        budget: UpstreamBudget | None = None,
        observers: Iterable[UpstreamObserver] = (),
        adapter_factory: Callable[[], BaseAdapter] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        proxy: str | None = None,
        **tuning: Unpack[Tuning],
    ) -> None:
        self.transport = Transport(
            resolve_base_url(app_id, region, base_url),
            api_key,
            options_from(options, tuning, proxy),
            budget=budget,
            observers=observers,
            adapter_factory=adapter_factory,
            sleep=sleep,
        )

    def __repr__(self) -> str:  # never show the key
        return f"CometChatClient(base_url={self.base_url!r})"

    def __enter__(self) -> CometChatClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def _run(self, op: Op[T]) -> T:
        """Drive one operation: each call it yields is sent, its answer or error handed back."""
        try:
            call = next(op)
            while True:
                try:
                    answer = self.transport.request(call.endpoint, call.params, body=call.body, query=call.query)
                except CometChatError as exc:
                    call = op.throw(exc)
                else:
                    call = op.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result

    def _walk(self, endpoint: endpoints.Endpoint, params: Mapping[str, str], query: Mapping[str, Any]) -> Iterator[Any]:
        number = 1
        while True:
            page = self._run(operations.page(endpoint, params, query, number))
            yield from page.items
            if not page.more:
                return
            number += 1

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
        return self._run(
            operations.create_user(
                uid,
                name,
                avatar=avatar,
                link=link,
                role=role,
                metadata=metadata,
                tags=tags,
                status_message=status_message,
                with_auth_token=with_auth_token,
            )
        )

    def get_user(self, uid: str) -> User:
        return self._run(operations.get_user(uid))

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
        return self._run(
            operations.update_user(
                uid,
                name=name,
                avatar=avatar,
                link=link,
                role=role,
                metadata=metadata,
                tags=tags,
                status_message=status_message,
                unset=unset,
            )
        )

    def delete_user(self, uid: str, *, permanent: bool = False) -> None:
        """Deactivate a user, or delete it for good with ``permanent=True``."""
        self._run(operations.delete_user(uid, permanent=permanent))

    def reactivate_users(self, uids: Sequence[str]) -> list[str]:
        """Reactivate deactivated users (``PUT /users``, at most 25 uids). Their old tokens
        work again: flush them first if they must not (see ``token_server.lifecycle``).
        Returns the uids CometChat lists in its answer (``nonDeactivatedUids``)."""
        return self._run(operations.reactivate_users(uids))

    def iter_users(
        self,
        *,
        per_page: int = 100,
        search_key: str | None = None,
        status: str | None = None,
    ) -> Iterator[User]:
        """Every user, newest first, walking the pages lazily."""
        query = operations.users_query(per_page, search_key, status)
        for item in self._walk(endpoints.LIST_USERS, {}, query):
            yield User.from_api(item)

    # ---- auth tokens -----------------------------------------------------------------

    def create_auth_token(self, uid: str, *, force: bool = True) -> AuthToken:
        """Mint a token. ``force`` (the default) always mints a fresh one: one token per device."""
        return self._run(operations.create_auth_token(uid, force=force))

    def get_auth_token(self, uid: str, auth_token: str) -> AuthToken:
        return self._run(operations.get_auth_token(uid, auth_token))

    def iter_auth_tokens(self, uid: str, *, per_page: int = 100) -> Iterator[AuthToken]:
        params, query = operations.tokens_walk(uid, per_page)
        for item in self._walk(endpoints.LIST_TOKENS, params, query):
            yield AuthToken.from_api(item)

    def delete_auth_token(self, uid: str, auth_token: str) -> None:
        """Revoke one token: this device's logout."""
        self._run(operations.delete_auth_token(uid, auth_token))

    def flush_auth_tokens(self, uid: str) -> None:
        """Revoke every token of a user: sign out everywhere."""
        self._run(operations.flush_auth_tokens(uid))

    def mint_token(self, uid: str, *, name: str | None = None, avatar: str | None = None) -> tuple[AuthToken, bool]:
        """Mint a fresh token, creating the user first if it does not exist.

        A returning user costs one round trip; a first-time user one more (the create mints
        the token too). Returns the token and whether the user was created by this call.
        Concurrent first logins of one uid all succeed: the loser of the create race mints.
        """
        return self._run(operations.mint_token(uid, name=name, avatar=avatar))

    # ---- push tokens -----------------------------------------------------------------

    def register_push_token(
        self, auth_token: str, push_token: str, platform: str, *, provider_id: str | None = None
    ) -> None:
        """Register a device's push token against its auth token, as the SDK does after login."""
        self._run(operations.register_push_token(auth_token, push_token, platform, provider_id=provider_id))

    def list_push_tokens(self, auth_token: str) -> list[PushToken]:
        """The push registrations of one auth token (CometChat keeps at most one)."""
        return self._run(operations.list_push_tokens(auth_token))

    def delete_push_token(self, push_token: str, auth_token: str) -> None:
        """Drop a push registration: do it before revoking its auth token (whether CometChat
        drops it with the token is not documented)."""
        self._run(operations.delete_push_token(push_token, auth_token))

    # ---- data import -----------------------------------------------------------------

    def import_users(self, users: Mapping[str, Mapping[str, Any]]) -> dict[str, ImportOutcome]:
        """One ``POST /data_import/users`` of at most 50 users (uid -> profile fields).

        Returns each uid's own outcome: read those, not the HTTP status alone. A uid missing
        from the answer is absent from the result too (its fate is unknown: resend it). A
        failure of the whole request raises as any call does; some rows may have landed
        (CometChat documents a 500 after part of a batch was imported).
        """
        return self._run(operations.import_users(users))
