"""The FastAPI door: ``POST {prefix}/webhooks`` on a router or an app, answered by the same
:class:`~.receiver.Receiver` as the Flask door (:mod:`.flask_route`), with the same statuses and
headers. None of the callers' steps run for it (their authentication, the cross-site rule, the
per-user limits: CometChat is none of those callers); its Basic Auth failures still meet the
failed-authentication limit per address, as callers' 401s do.

Nothing blocking runs on the event loop: the body is read from the loop, streamed and cut one
byte past ``MAX_BODY`` (413, the rest never read); the store write and the limit's count run in
a worker thread. The app's startup starts this process's webhook worker; its shutdown stops it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from .. import codes
from ..core.answers import NO_STORE_HEADERS
from ..core.errors import ApiError, answer_for
from ..limits import RateLimits
from ..ops import metrics
from .receiver import MAX_BODY, Answer, too_large, unauthorized
from .service import WebhookService

WEBHOOK_ROUTE = "/webhooks"

Address = Callable[[Request], str]


def peer_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def mount_webhooks(
    target: APIRouter | FastAPI,
    service: WebhookService | None,
    *,
    limits: RateLimits | None = None,
    address: Address = peer_address,
    path: str = WEBHOOK_ROUTE,
    start_worker: bool = True,
) -> None:
    """Serve the receiver at ``path`` on ``target`` (mounted under the host's prefix: the
    server's is ``/api/cometchat``); nothing while ``service`` is None (``WEBHOOK_CREDENTIALS``
    unset: the path is the app's 404). ``limits``: the failed-authentication limit (None: none);
    ``address``: the client's address as the host sees it (behind trusted proxies, the one they
    name). With ``start_worker``, the app's startup starts the worker and its shutdown stops it."""
    if service is None:
        return

    async def receive_webhook(request: Request) -> Response:
        started = time.perf_counter()
        try:
            answer: Any = await webhook_answer(request, service, limits, address(request))
        except Exception as exc:  # noqa: BLE001 - every failure becomes the contract's answer
            answer = answer_for(exc)
        _count(request, answer, time.perf_counter() - started)
        return response_of(answer.status, answer.body, answer.headers)

    router = target.router if isinstance(target, FastAPI) else target
    router.add_api_route(path, receive_webhook, methods=["POST"], name="cometchat_webhooks", include_in_schema=False)
    if start_worker:

        async def start() -> None:
            service.worker.start()  # a thread: returns at once

        async def stop() -> None:
            await run_in_threadpool(service.worker.stop)  # joins the thread, bounded

        router.add_event_handler("startup", start)
        router.add_event_handler("shutdown", stop)


async def webhook_answer(
    request: Request, service: WebhookService, limits: RateLimits | None, address: str
) -> Answer:
    """One delivery's answer: credentials (401, counted), size (413), then the receiver (off the loop)."""
    service.worker.ensure_running()  # a no-op, unless this process was forked after the start
    headers = dict(request.headers.items())
    if not service.receiver.authorized(headers):
        return await _judged(unauthorized(), limits, address)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return too_large()
    body = await read_capped(request, MAX_BODY)
    if body is None:
        return too_large()
    return await run_in_threadpool(service.receiver.receive, headers, body, address)


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None as soon as it passes ``cap`` bytes (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _judged(answer: Answer, limits: RateLimits | None, address: str) -> Answer:
    """A 401, through the failed-authentication limit (429 once this address is past it)."""
    if limits is None:
        return answer
    refusal = ApiError(401, codes.ERR_UNAUTHORIZED, "unauthorized")
    verdict = await run_in_threadpool(limits.judge_failure, refusal, address)
    if verdict.status == 401:
        return answer
    return Answer(verdict.status, {"error": {"code": verdict.code, "message": verdict.message}}, verdict.headers)


def response_of(status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str]) -> Response:
    merged = {**NO_STORE_HEADERS, **headers}
    if body is None:
        return Response(status_code=status, headers=merged)
    return JSONResponse(dict(body), status_code=status, headers=merged)


def _count(request: Request, answer: Any, seconds: float) -> None:
    route = getattr(request.scope.get("route"), "path", None) or metrics.UNMATCHED_ROUTE
    error = (answer.body or {}).get("error")
    code = error.get("code") if isinstance(error, dict) else None
    metrics.count_answer(route, request.method, answer.status, seconds, code)
