"""How one CometChat call travels with requests: the pooled connections, the deadline on
the socket, the body cap, the attempts. What each failure means and when to retry is
``policy.py``'s (shared with the async transport); which URL, ``endpoints.py``'s.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlencode

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NewConnectionError

from . import egress, policy
from .budget import Ticket, UpstreamBudget
from .deadline import DeadlineAdapter, deadline_scope
from .endpoints import Endpoint
from .errors import CometChatError
from .models import RateLimitInfo
from .options import ClientOptions
from .policy import UpstreamObserver
from .wire import JSON_HEADERS, SESSION_HEADERS, request_headers

__all__ = ["Transport"]


_CHUNK_BYTES = 64 * 1024


def _failure_kind(exc: requests.RequestException) -> policy.FailureKind:
    if isinstance(exc, requests.ConnectTimeout):
        return policy.FailureKind.CONNECT_TIMEOUT
    if isinstance(exc, requests.ReadTimeout):
        return policy.FailureKind.READ_TIMEOUT
    if isinstance(exc, requests.ConnectionError):
        return policy.FailureKind.NOT_SENT if _never_sent(exc) else policy.FailureKind.BROKEN
    return policy.FailureKind.PROTOCOL


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection could not even be opened, so CometChat never saw the request."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # requests wraps urllib3's MaxRetryError
    return isinstance(reason, NewConnectionError)


class _BodyTooLarge(Exception):
    pass


def _read_body(response: requests.Response, limit: int) -> None:
    """Read a streamed body into ``response.content``, refusing more than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    response._content = b"".join(chunks)
    response._content_consumed = True


class Transport:
    """Sends CometChat calls over one ``requests.Session`` whose adapter pools up to
    ``options.pool_size`` keep-alive connections (concurrent calls each take their own).
    (connect, read) timeouts on every attempt, and a total deadline that also bounds an
    answer trickling in. Retries as ``policy.CallState`` allows, never past the deadline.

    Proxies and CAs as in any requests program (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``, ...), unless ``options.proxies`` / ``options.ca_bundle`` say
    otherwise; ``.netrc`` is never read (see ``egress.py``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        options: ClientOptions | None = None,
        *,
        budget: UpstreamBudget | None = None,
        observers: Iterable[UpstreamObserver] = (),
        adapter_factory: Callable[[], BaseAdapter] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        self.base_url = base_url.rstrip("/")
        self.options = options or ClientOptions()
        self._api_key = api_key
        self._adapter_factory = adapter_factory
        self._sleep = sleep
        self.rate_limit = RateLimitInfo()
        # The app's upstream quota, shared with other workers and hosts; None: not kept.
        self.budget = budget
        # Told about every attempt (metrics, dev-mode traces); an observer's own failure is
        # logged and never breaks the call.
        self.observers: list[UpstreamObserver] = list(observers)
        self.session = self._new_session()

    def __repr__(self) -> str:  # never show the key
        return f"Transport(base_url={self.base_url!r})"

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # never .netrc; the environment's proxies and CAs are resolved here
        found = egress.resolve(self.base_url, proxies=self.options.proxies or None, ca_bundle=self.options.ca_bundle)
        session.proxies = dict(found.proxies)
        session.verify = found.verify
        session.headers.update(SESSION_HEADERS)
        size = self.options.pool_size
        adapter = self._adapter_factory() if self._adapter_factory else DeadlineAdapter(1, size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, str] | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call of ``endpoint``, retried as the policy allows; the decoded ``{"data": ...}``."""
        prepared = self._prepare(endpoint.method, endpoint.path(params), body, query)
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
                ticket = self._spend(endpoint)
                result, status, heard = self._attempt(prepared, call, ticket)
            except CometChatError as exc:
                exc.maybe_applied = call.ended(exc)
                raise
            finally:
                if ticket is not None and self.budget is not None:
                    self.budget.settle(ticket)
            if not isinstance(result, policy.Failure):
                call.answered(status, heard)
                return result
            verdict = call.after_failure(result, heard)
            if verdict.delay is None:  # no retry left: the error tells what the policy concluded
                result.error.maybe_applied, result.error.retry_after = verdict.maybe_applied, verdict.retry_after
                raise result.error
            self._sleep(verdict.delay)

    def _spend(self, endpoint: Endpoint) -> Ticket | None:
        if self.budget is None:
            return None
        return self.budget.spend(endpoint.method, endpoint.template, bucket=endpoint.bucket)

    def _prepare(
        self, method: str, url_path: str, body: Mapping[str, Any] | None, query: Mapping[str, Any] | None
    ) -> requests.PreparedRequest:
        """The request, built directly: Session.prepare_request would merge cookies, auth
        and headers per call, and re-quote the URL (turning our %2E back into '.')."""
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = self.base_url + url_path + ("?" + urlencode(query) if query else "")
        prepared.headers = CaseInsensitiveDict(request_headers(self._api_key))
        if body is not None:
            prepared.body = json.dumps(body).encode("utf-8")
            prepared.headers.update(JSON_HEADERS)
            prepared.headers["Content-Length"] = str(len(prepared.body))
        elif method not in ("GET", "HEAD"):
            prepared.headers["Content-Length"] = "0"
        return prepared

    def _attempt(
        self, prepared: requests.PreparedRequest, call: policy.CallState, ticket: Ticket | None
    ) -> tuple[dict[str, Any] | policy.Failure, int | None, RateLimitInfo | None]:
        """Send once: the decoded answer or what went wrong, the status, the rate-limit
        figures heard. Raises at once what no retry can mend: the deadline reached, a body
        over the cap, a successful answer that cannot be read."""
        timeout = call.timeouts()
        session = self.session
        limit = self.options.max_response_bytes
        with deadline_scope(call.deadline) as watch:
            try:
                # The adapter itself: Session.send would also run hooks and parse cookies.
                response = session.get_adapter(prepared.url or "").send(
                    prepared,
                    stream=True,
                    timeout=timeout,
                    verify=session.verify,
                    cert=session.cert,
                    proxies=session.proxies,
                )
                try:
                    _read_body(response, limit)
                finally:
                    response.close()
            except _BodyTooLarge:
                raise policy.bad_answer(f"CometChat answered more than {limit} bytes", response.status_code) from None
            except requests.RequestException as exc:
                if watch.fired:
                    raise call.timed_out(True) from exc
                kind = _failure_kind(exc)
                return policy.failure_from_kind(kind, type(exc).__name__, timeout[1]), None, None
        if watch.fired:  # the answer ended where the watchdog cut it
            raise call.timed_out(True)
        figures, heard = policy.rate_limit_of(response.headers)
        if ticket is not None:  # the budget hears CometChat's own figures, a 429's wait included
            ticket.hear(figures, rate_limited=response.status_code == 429)
        if heard is not None:
            self.rate_limit = heard
        if not response.ok:
            return policy.failure_from_answer(response), response.status_code, heard
        return policy.decode(response.status_code, response.content), response.status_code, heard
