"""``cometchat_router(client, identify, ...)``: the routes of the contract on a FastAPI
``APIRouter``, mounted by the host under the prefix it chooses (the server's is
``/api/cometchat``). Each route runs the steps of the server's pipeline in its order, then the
core's rule with the async driver:

1. its request id (the caller's ``X-Request-ID`` if plain, else a new one): on the answer, on
   the log lines, on every CometChat call;
2. the cross-site rule: another site's page gets 403 ``ERR_CROSS_SITE``;
3. the caller (:mod:`.identify`); a 401 is counted by the failed-authentication limit (429 past it);
4. the per-user and per-address limits (429 with ``Retry-After``);
5. the body, capped (413), and the rule (:mod:`token_server.core`), whose every failure the one
   mapping answers (:func:`token_server.core.errors.answer_for`).

Every answer carries ``Cache-Control: no-store``; the metrics count it as the server does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import time
from typing import Any, Callable, Iterable, TypeVar

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from cometchat.async_client import AsyncCometChatClient
from cometchat.wire import current_request_id

from .. import codes
from ..auth import Caller
from ..core import devices as device_rules
from ..core import tokens, users
from ..core.answers import Answer
from ..core.drive import Rule, run_async
from ..core.errors import ApiError, answer_for
from ..core.inputs import DEFAULT_MAX_BODY, Body, body_too_large
from ..core.inputs import Request as CoreRequest
from ..deprovisioned import Deprovisioned
from ..devices import DeviceTokens
from ..limits import RateLimits
from ..ops import metrics
from ..requestid import REQUEST_ID_HEADER, accept_request_id
from ..sameorigin import is_cross_site
from ..webhooks.fastapi_route import mount_webhooks
from ..webhooks.service import WebhookService
from .answers import response_of
from .identify import Identify, NotYet, Raised, as_api_error, check_caller, is_async, outcome_dependency

T = TypeVar("T")
# Threads for the blocking stores (device tokens in SQLite or Redis, rate limits) and a blocking
# identify function. A device login holds one while its upstream calls run on the loop.
STORE_THREADS = 64

MakeRule = Callable[[CoreRequest], Rule[Answer]]


class Door:
    """What every route of one router shares, and the steps they run."""

    def __init__(
        self,
        client: AsyncCometChatClient,
        identify: Identify,
        device_tokens: DeviceTokens,
        deprovisioned: Deprovisioned,
        limits: RateLimits | None,
        allowed_origins: frozenset[str],
        trusted_proxies: int,
        max_body: int,
        secrets: tuple[str, ...],
        executor: concurrent.futures.Executor,
    ) -> None:
        self.client = client
        self.identify = identify
        self.device_tokens = device_tokens
        self.deprovisioned = deprovisioned
        self.limits = limits
        self.allowed_origins = allowed_origins
        self.trusted_proxies = trusted_proxies
        self.max_body = max_body
        self.secrets = secrets
        self.executor = executor

    async def off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the router's threads, with this request's context (its request id)."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(context.run, fn, *args))

    async def answer(self, request: Request, outcome: Any, make_rule: MakeRule) -> Response:
        started = time.perf_counter()
        request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER), self.secrets)
        token = current_request_id.set(request_id)
        try:
            try:
                answer = await self._steps(request, outcome, make_rule)
            except Exception as exc:  # noqa: BLE001 - every failure becomes the contract's answer
                answer = answer_for(exc)
        finally:
            current_request_id.reset(token)
        _count(request, answer, time.perf_counter() - started)
        return response_of(answer, request_id)

    async def _steps(self, request: Request, outcome: Any, make_rule: MakeRule) -> Answer:
        self._refuse_cross_site(request)
        address = self.address(request)
        caller = await self._caller(request, outcome, address)
        if self.limits is not None and not self.limits.exempt(caller):  # a thread only when a store counts
            await self.off_loop(self.limits.check, caller, address)
        body = await self._body(request)
        rule = make_rule(CoreRequest(caller, body, dict(request.query_params)))
        return await run_async(
            rule, self.client, self.device_tokens, deprovisioned=self.deprovisioned, executor=self.executor
        )

    def _refuse_cross_site(self, request: Request) -> None:
        own = f"{self._scheme(request)}://{request.headers.get('host', '')}"
        origin, fetch_site = request.headers.get("origin"), request.headers.get("sec-fetch-site")
        if is_cross_site(origin, fetch_site, own, self.allowed_origins):
            raise ApiError(403, codes.ERR_CROSS_SITE, "Requests from another site's pages are refused.")

    async def _caller(self, request: Request, outcome: Any, address: str) -> Caller:
        try:
            if isinstance(outcome, Raised):
                raise outcome.error
            if not isinstance(outcome, NotYet):
                return check_caller(outcome)
            identify: Any = self.identify
            if is_async(identify):
                return check_caller(await identify(request))
            return check_caller(await self.off_loop(identify, request))
        except Exception as exc:
            refusal = as_api_error(exc)
            if refusal is None:
                raise
        if refusal.status == 401 and self.limits is not None:
            refusal = await self.off_loop(self.limits.judge_failure, refusal, address)
        raise refusal

    async def _body(self, request: Request) -> Body:
        """The body, read whole from the loop (at most one byte past the cap); a 413 only when a
        rule reads it, so a stranger's uid is refused (403) before the size of what it sent."""
        mimetype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return Body(_too_large, mimetype, None)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_body:
                    break
        except ClientDisconnect:  # the caller left mid-body: nobody hears this 400, but it is no 500
            raise ApiError(400, codes.ERR_BAD_REQUEST, "The request body did not arrive whole.") from None
        return Body.of(b"".join(chunks), mimetype, limit=self.max_body)

    def address(self, request: Request) -> str:
        """The client's address: the peer, or with ``trusted_proxies`` the one the proxies name."""
        peer = request.client.host if request.client else "unknown"
        return _forwarded(request.headers.get("x-forwarded-for"), self.trusted_proxies) or peer

    def _scheme(self, request: Request) -> str:
        return _forwarded(request.headers.get("x-forwarded-proto"), self.trusted_proxies) or request.url.scheme


def _too_large() -> bytes:
    raise body_too_large()


def _forwarded(header: str | None, trusted: int) -> str | None:
    """The value the outermost trusted proxy saw, as werkzeug's ProxyFix takes it."""
    if not trusted or not header:
        return None
    values = [value.strip() for value in header.split(",")]
    return values[-trusted] if len(values) >= trusted else None


def _count(request: Request, answer: Answer, seconds: float) -> None:
    route = getattr(request.scope.get("route"), "path", None) or metrics.UNMATCHED_ROUTE
    error = (answer.body or {}).get("error")
    code = error.get("code") if isinstance(error, dict) else None
    metrics.count_answer(route, request.method, answer.status, seconds, code)


def cometchat_router(
    client: AsyncCometChatClient,
    identify: Identify,
    *,
    device_tokens: DeviceTokens | None = None,
    deprovisioned: Deprovisioned | None = None,
    limits: RateLimits | None = None,
    allowed_origins: Iterable[str] = (),
    trusted_proxies: int = 0,
    max_body: int = DEFAULT_MAX_BODY,
    secrets: Iterable[str] = (),
    store_threads: int = STORE_THREADS,
    webhooks: WebhookService | None = None,
) -> APIRouter:
    """The routes, answering with ``client``; mount with ``app.include_router(router,
    prefix="/api/cometchat")``.

    ``identify``: ``identify(request) -> Caller`` (sync or async) or ``Depends(dependency)``
    (:mod:`.identify`). ``device_tokens``: where each device's token is kept; None, the
    stand-alone server's default from the environment (``SESSION_STORE_URI``, else the
    rate-limit store's Redis, else the SQLite file the workers of one host share:
    :func:`token_server.wiring.host_device_tokens`). ``deprovisioned``: the deleted users'
    tombstones; None, beside the device tokens (:func:`token_server.wiring.host_deprovisioned`).
    ``limits``: the server's rate limits
    (:func:`token_server.wiring.build_rate_limits`); None, no limits. ``allowed_origins``: the
    other sites whose pages may call (``CORS_ORIGINS``; add the host's own CORS middleware for
    them). ``trusted_proxies``: ``TRUSTED_PROXIES``. ``secrets``: values never taken as a
    request id (the server passes its configured secrets). ``webhooks``: CometChat's webhook
    receiver (:func:`token_server.webhooks.build`; None while ``WEBHOOK_CREDENTIALS`` is unset):
    ``POST /webhooks`` and the presence it keeps (:mod:`token_server.webhooks.fastapi_route`:
    the host's startup starts its worker); without it ``GET /users/<uid>/presence`` answers 404."""
    from ..wiring import host_deprovisioned, host_device_tokens

    if device_tokens is None:
        device_tokens = host_device_tokens()
    if deprovisioned is None:
        deprovisioned = host_deprovisioned()
    executor = concurrent.futures.ThreadPoolExecutor(store_threads, thread_name_prefix="cometchat-router")
    door = Door(
        client,
        identify,
        device_tokens,
        deprovisioned,
        limits,
        frozenset(allowed_origins),
        trusted_proxies,
        max_body,
        tuple(secrets),
        executor,
    )
    outcome = outcome_dependency(identify)
    router = APIRouter()
    events = webhooks.store if webhooks is not None else None

    def get_presence(request: CoreRequest, uid: Any) -> Rule[Answer]:
        return users.get_presence(request, uid, events)

    def route(method: str, path: str, make: Callable[..., Rule[Answer]], *names: str) -> None:
        async def endpoint(request: Request, caller: Any = outcome) -> Response:
            values = [request.path_params[name] for name in names]
            return await door.answer(request, caller, lambda core: make(core, *values))

        endpoint.__name__ = make.__name__
        router.add_api_route(path, endpoint, methods=[method], include_in_schema=True, name=make.__name__)

    # The longer paths first: "{uid:path}" would take ".../revoke" and ".../sessions" too.
    route("POST", "/token/{uid:path}/revoke", tokens.revoke, "uid")
    route("POST", "/token/{uid:path}", tokens.mint_for_uid, "uid")
    route("POST", "/token", tokens.mint_for_caller)
    route("POST", "/users", users.create_user)
    route("DELETE", "/users/{uid:path}/sessions/{device_id}", device_rules.delete_session, "uid", "device_id")
    route("GET", "/users/{uid:path}/sessions", device_rules.list_sessions, "uid")
    route("GET", "/users/{uid:path}/presence", get_presence, "uid")
    route("GET", "/users/{uid:path}", users.get_user, "uid")
    route("PATCH", "/users/{uid:path}", users.update_user, "uid")
    route("DELETE", "/users/{uid:path}", users.delete_user, "uid")
    # CometChat's deliveries: none of the callers' steps, the failed-authentication limit only.
    mount_webhooks(router, webhooks, limits=limits, address=door.address)
    return router
