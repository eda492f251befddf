"""How one CometChat call travels with httpx, for ``AsyncCometChatClient``: one
``httpx.AsyncClient`` pooling up to ``options.pool_size`` keep-alive connections, the total
deadline as an ``asyncio.timeout`` around the whole attempt (an answer that trickles in is
cut), the budget's store calls kept off the event loop. Every rule (which failure means
what, when to retry, the rate-limit headers) is ``policy.py``'s, shared with ``transport.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Mapping

from .extras import missing_extra

try:
    import httpx
except ModuleNotFoundError as exc:
    raise missing_extra("cometchat.AsyncCometChatClient", "async", exc) from exc

from . import egress, policy
from .budget import MemoryBudgetStore, Ticket, UpstreamBudget
from .endpoints import Endpoint
from .errors import CometChatError
from .models import RateLimitInfo
from .options import ClientOptions
from .policy import UpstreamObserver
from .wire import ASYNC_USER_AGENT, JSON_HEADERS, request_headers

# httpcore's pool does work in proportion to its connections times its waiting requests on
# every request and every release: one pool of 200 busy connections spent 6-16 ms of CPU a
# call and stalled the loop. A few smaller pools ("lanes"), each call taking the least busy,
# cut that by 3-6x (bench/async_client.py).
LANES = 8


@dataclass(frozen=True)
class _Answer:
    """An answer read in full (within the cap), as ``policy`` reads answers."""

    status_code: int
    headers: httpx.Headers
    content: bytes


class _BodyTooLarge(Exception):
    pass


def _failure_kind(exc: httpx.RequestError) -> policy.FailureKind:
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return policy.FailureKind.CONNECT_TIMEOUT
    if isinstance(exc, httpx.TimeoutException):  # read or write: the request may be out
        return policy.FailureKind.READ_TIMEOUT
    if isinstance(exc, (httpx.ConnectError, httpx.ProxyError)):
        return policy.FailureKind.NOT_SENT
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return policy.FailureKind.BROKEN
    return policy.FailureKind.PROTOCOL


async def _read_body(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """The CAs to trust: a bundle file or folder (``egress.resolve``'s ``verify``), else
    httpx's default (certifi's bundle)."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(trust_env=False)


def build_http_client(
    proxies: Mapping[str, str], transport: httpx.AsyncBaseTransport | None, pool_size: int, verify: ssl.SSLContext
) -> httpx.AsyncClient:
    """A pooled ``httpx.AsyncClient``: httpx's own reading of the environment off (``.netrc``
    never), no redirects; ``proxies`` and ``verify`` come from ``egress.resolve``. ``pool_size``:
    the keep-alive connections it keeps (more calls in flight open more, closed when done)."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=pool_size)
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        f"{scheme}://": httpx.AsyncHTTPTransport(proxy=url, verify=verify, limits=limits, trust_env=False)
        for scheme, url in proxies.items()
    }
    return httpx.AsyncClient(
        verify=verify,
        limits=limits,
        mounts=mounts or None,
        transport=transport,
        trust_env=False,
        follow_redirects=False,
    )


class AsyncTransport:
    """Sends CometChat calls from an event loop; the same attempts, retries and reports as
    ``transport.Transport``. ``transport`` (an ``httpx.AsyncBaseTransport``, e.g.
    ``httpx.MockTransport``) replaces the network."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        options: ClientOptions | None = None,
        *,
        budget: UpstreamBudget | None = None,
        observers: Iterable[UpstreamObserver] = (),
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        self.base_url = base_url.rstrip("/")
        self.options = options or ClientOptions()
        self._api_key = api_key
        self._sleep = sleep
        self.rate_limit = RateLimitInfo()
        self.budget = budget
        self.observers: list[UpstreamObserver] = list(observers)
        lane_size = -(-self.options.pool_size // LANES)  # the pool size, split over the lanes
        found = egress.resolve(self.base_url, proxies=self.options.proxies or None, ca_bundle=self.options.ca_bundle)
        verify = tls_context(found.verify)  # made once: loading the CAs takes tens of milliseconds
        self.lanes = [build_http_client(found.proxies, transport, lane_size, verify) for _ in range(LANES)]
        self._busy = [0] * LANES  # calls in flight per lane

    def __repr__(self) -> str:  # never show the key
        return f"AsyncTransport(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        for lane in self.lanes:
            await lane.aclose()

    async def request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, str] | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call of ``endpoint``, retried as the policy allows; the decoded ``{"data": ...}``."""
        request = self._build(endpoint.method, endpoint.path(params), body, query)
        call = policy.CallState(
            self.options,
            clock=time.monotonic,
            endpoint=endpoint,
            params=params,
            observers=self.observers,
            budget=self.budget,
        )
        while True:
            call.begin()
            ticket = None
            try:
                # A budget refusal (QuotaSpentError) ends the call like a failed attempt.
                ticket = await self._spend(endpoint)
                result, status, heard = await self._attempt(request, call, ticket)
            except CometChatError as exc:
                exc.maybe_applied = call.ended(exc)
                raise
            finally:
                if ticket is not None:
                    await self._settle(ticket)
            if not isinstance(result, policy.Failure):
                call.answered(status, heard)
                return result
            verdict = call.after_failure(result, heard)
            if verdict.delay is None:  # no retry left: the error tells what the policy concluded
                result.error.maybe_applied, result.error.retry_after = verdict.maybe_applied, verdict.retry_after
                raise result.error
            await self._sleep(verdict.delay)

    def _build(
        self, method: str, url_path: str, body: Mapping[str, Any] | None, query: Mapping[str, Any] | None
    ) -> httpx.Request:
        headers = request_headers(self._api_key, ASYNC_USER_AGENT)
        content = None
        if body is not None:
            content = json.dumps(body).encode("utf-8")
            headers.update(JSON_HEADERS)
        elif method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"
        return self.lanes[0].build_request(
            method, self.base_url + url_path, params=dict(query) if query else None, content=content, headers=headers
        )

    # The budget's store may be Redis: its calls run in a thread, never on the loop.
    async def _spend(self, endpoint: Endpoint) -> Ticket | None:
        budget = self.budget
        if budget is None:
            return None
        spend = budget.spend
        args = (endpoint.method, endpoint.template)
        if isinstance(budget.store, MemoryBudgetStore):  # a lock held for an instant: no I/O
            return spend(*args, bucket=endpoint.bucket)
        spending = asyncio.ensure_future(asyncio.to_thread(spend, *args, bucket=endpoint.bucket))
        try:
            return await asyncio.shield(spending)
        except asyncio.CancelledError:
            # The caller is gone, the thread is not: the store may count this attempt in
            # flight, so settle it when it lands, or the window's allowance stays short.
            spending.add_done_callback(self._settle_orphan)
            raise

    def _settle_orphan(self, spending: asyncio.Future[Ticket]) -> None:
        budget = self.budget
        if budget is None or spending.cancelled() or spending.exception() is not None:
            return
        ticket = spending.result()
        try:
            asyncio.get_running_loop().run_in_executor(None, budget.settle, ticket)
        except RuntimeError:  # the loop is closing: settle here, once
            budget.settle(ticket)

    async def _settle(self, ticket: Ticket) -> None:
        budget = self.budget
        if budget is None:
            return
        if isinstance(budget.store, MemoryBudgetStore):
            budget.settle(ticket)
        else:
            await asyncio.to_thread(budget.settle, ticket)

    async def _attempt(
        self, request: httpx.Request, call: policy.CallState, ticket: Ticket | None
    ) -> tuple[dict[str, Any] | policy.Failure, int | None, RateLimitInfo | None]:
        """Send once (see ``Transport._attempt``): the same results, the same raises."""
        connect, read = call.timeouts()
        request.extensions["timeout"] = httpx.Timeout(connect=connect, read=read, write=read, pool=connect).as_dict()
        limit = self.options.max_response_bytes
        lane = min(range(LANES), key=self._busy.__getitem__)
        self._busy[lane] += 1
        try:
            async with asyncio.timeout(call.remaining()):
                response = await self.lanes[lane].send(request, stream=True)
                try:
                    answer = _Answer(response.status_code, response.headers, await _read_body(response, limit))
                finally:
                    await response.aclose()
        except TimeoutError:  # asyncio's: the deadline, whatever the answer was doing
            raise call.timed_out(True) from None
        except _BodyTooLarge:
            raise policy.bad_answer(f"CometChat answered more than {limit} bytes", response.status_code) from None
        except httpx.RequestError as exc:  # the transport's, or an answer it cannot decode
            return policy.failure_from_kind(_failure_kind(exc), type(exc).__name__, read), None, None
        finally:
            self._busy[lane] -= 1
        figures, heard = policy.rate_limit_of(answer.headers)
        if ticket is not None:  # the budget hears CometChat's own figures, a 429's wait included
            ticket.hear(figures, rate_limited=answer.status_code == 429)
        if heard is not None:
            self.rate_limit = heard
        if not 200 <= answer.status_code < 400:
            return policy.failure_from_answer(answer), answer.status_code, heard
        return policy.decode(answer.status_code, answer.content), answer.status_code, heard

