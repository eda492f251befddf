"""How one CometChat call travels: its URL, the pooled session, the deadline, the retries,
and what each failure means. ``client.py`` says what to call; this module says how.

Every failure is classified in one place (``_failure_from_exception``,
``_failure_from_answer``): which error the caller gets, whether another attempt may help,
and whether CometChat may have acted on the attempt anyway (``maybe_applied``).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Mapping
from urllib.parse import quote, urlencode

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NewConnectionError

from . import egress
from .budget import Ticket, UpstreamBudget
from .deadline import DeadlineAdapter, deadline_scope
from .errors import (
    CometChatError,
    RateLimitedError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_from_response,
)
from .models import RateLimitInfo

log = logging.getLogger("cometchat.transport")

DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 5.0
# Well under gunicorn's worker timeout, so a worker never dies waiting on CometChat.
DEFAULT_TOTAL_DEADLINE = 10.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF = 0.2
# CometChat answers in kilobytes (a page of 100 users with full profiles stays well under
# this); a bigger body is not CometChat, and reading it would only cost memory.
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# Sessions kept open between calls, one per call in flight at the busiest moment; more
# concurrent calls still run, their sessions close when done.
DEFAULT_MAX_IDLE_SESSIONS = 512

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# Statuses after which CometChat certainly did not act on the request.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})

_JSON_HEADERS = {"Content-Type": "application/json"}
REQUEST_ID_HEADER = "X-Request-ID"
# The id of the request a call serves, sent upstream as X-Request-ID so one login can be followed
# from the caller through our logs to CometChat; a server sets it around each request it answers.
current_request_id: ContextVar[str | None] = ContextVar("cometchat_request_id", default=None)
_SESSION_HEADERS = {
    "Accept": "application/json",
    "User-Agent": "cometchat-token-server/1.0 (python-requests)",
}


def path(*segments: str) -> str:
    """The one way to build a CometChat path: every segment percent-encoded on its own."""
    return "".join("/" + _seg(segment) for segment in segments)


def _seg(value: str) -> str:
    """Percent-encode one path segment so that it stays exactly one segment: nothing is
    safe, not even '/', and '.' becomes %2E (servers drop '.' and '..' segments)."""
    if not value:
        raise ValueError("an empty path segment would change the path's shape")
    return quote(value, safe="").replace(".", "%2E")


def _loggable(url_path: str) -> str:
    """The path without the auth token a revoke carries in it: tokens never reach the logs."""
    head, sep, _token = url_path.partition("/auth_tokens/")
    return head + sep + "***" if sep else url_path


def endpoint_of(method: str, url_path: str) -> str:
    """The call's endpoint as a template, ``POST /users/{uid}/auth_tokens``: the segment after
    ``users`` is a uid and the one after ``auth_tokens`` a token, so neither leaves this module
    through an observer (metrics labels, traces, logs)."""
    parts = url_path.split("?", 1)[0].split("/")
    for i in range(1, len(parts)):
        if parts[i - 1] == "users" and parts[i] not in ("", "reactivate"):
            parts[i] = "{uid}"
        elif parts[i - 1] == "auth_tokens" and parts[i]:
            parts[i] = "{authToken}"
    return f"{method} {'/'.join(parts)}"


Outcome = Literal["ok", "client_error", "rate_limited", "server_error", "timeout", "connection_error", "bad_response"]


@dataclass(frozen=True)
class UpstreamAttempt:
    """What one attempt of one call did, as told to the transport's observers."""

    endpoint: str  # templated: never a uid or a token
    outcome: Outcome
    status: int | None  # the HTTP status, None when no answer came
    code: str | None  # CometChat's error code, when it sent one
    seconds: float
    attempt: int  # 1 for the first try of a call, 2 for its first retry, ...


UpstreamObserver = Callable[[UpstreamAttempt], None]


def _outcome_of(status: int | None, error: CometChatError | None) -> Outcome:
    if error is None:
        return "ok"
    if isinstance(error, UpstreamTimeoutError):
        return "timeout"
    if status is None:
        return "connection_error" if isinstance(error, UpstreamUnavailableError) else "bad_response"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "bad_response"


def _jitter() -> float:
    return random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class _Failure:
    error: CometChatError
    retryable: bool
    # This attempt may have been acted on by CometChat although it failed.
    maybe_applied: bool


def _failure_from_exception(exc: requests.RequestException, read_timeout: float) -> _Failure:
    if isinstance(exc, requests.ConnectTimeout):
        error: CometChatError = UpstreamUnavailableError(f"could not connect to CometChat ({type(exc).__name__})")
        return _Failure(error, retryable=True, maybe_applied=False)
    if isinstance(exc, requests.ReadTimeout):
        # A slow upstream rarely gets faster: give the caller its 504 now.
        return _Failure(
            UpstreamTimeoutError(f"CometChat did not answer within {read_timeout:g} s"),
            retryable=False,
            maybe_applied=True,
        )
    if isinstance(exc, requests.ConnectionError):
        error = UpstreamUnavailableError(f"connection to CometChat failed ({type(exc).__name__})")
        return _Failure(error, retryable=True, maybe_applied=not _never_sent(exc))
    error = UpstreamBadResponseError(f"bad answer from CometChat ({type(exc).__name__})")
    return _Failure(error, retryable=False, maybe_applied=True)


def _failure_from_answer(response: requests.Response) -> _Failure:
    status = response.status_code
    return _Failure(
        error_from_response(response),
        retryable=status in RETRIED_STATUSES,
        # A 4xx is CometChat refusing the call; a 502/504 may hide one it did.
        maybe_applied=status in RETRIED_STATUSES and status not in _NOT_PROCESSED_STATUSES,
    )


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


class _SessionPool:
    """Idle sessions, each with its keep-alive connection; a call borrows one for its whole
    length, so concurrent calls (threads or greenlets) never share one, and a session
    outlives the thread or greenlet that made it. Idle sessions beyond ``max_idle`` close."""

    def __init__(self, make: Callable[[], requests.Session], max_idle: int = DEFAULT_MAX_IDLE_SESSIONS) -> None:
        self._make = make
        self._max_idle = max_idle
        self._idle: list[requests.Session] = []  # last in, first out: the warmest first
        self._lock = threading.Lock()  # never held across I/O or a greenlet switch
        self._generation = 0  # close() ends every session made before it

    def peek(self) -> requests.Session:
        with self._lock:
            if self._idle:
                return self._idle[-1]
        session = self._make()
        self._give_back(session, self._generation)
        return session

    @contextmanager
    def borrowed(self) -> Iterator[requests.Session]:
        with self._lock:
            session = self._idle.pop() if self._idle else None
            generation = self._generation
        if session is None:
            session = self._make()
        try:
            yield session
        finally:
            self._give_back(session, generation)

    def _give_back(self, session: requests.Session, generation: int) -> None:
        with self._lock:
            keep = generation == self._generation and len(self._idle) < self._max_idle
            if keep:
                self._idle.append(session)
        if not keep:
            session.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for session in idle:
            session.close()


class Transport:
    """Sends CometChat calls: pooled ``requests.Session``s, one per call in flight, (connect, read)
    timeouts on every attempt, and a total deadline that also bounds an answer trickling in.
    Bounded retries with exponential backoff (or the upstream's ``Retry-After``) on
    connection failures and 429/502/503/504, never past the deadline; 4xx never retried.

    Proxies and CAs as in any requests program (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``, ...), unless ``proxies`` / ``ca_bundle`` say otherwise; ``.netrc``
    is never read (see ``egress.py``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        total_deadline: float = DEFAULT_TOTAL_DEADLINE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        proxies: Mapping[str, str] | None = None,
        ca_bundle: str | None = None,
        adapter_factory: Callable[[], BaseAdapter] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_deadline = total_deadline
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_response_bytes = max_response_bytes
        self._egress = egress.resolve(self.base_url, proxies=proxies, ca_bundle=ca_bundle)
        self._headers = {**_SESSION_HEADERS, "apikey": api_key}
        self._adapter_factory = adapter_factory or (lambda: DeadlineAdapter(pool_connections=1, pool_maxsize=1))
        self._sleep = sleep
        self._pool = _SessionPool(self._new_session)
        self.rate_limit = RateLimitInfo()
        # The app's upstream quota, shared with other workers and hosts; None: not kept.
        self.budget: UpstreamBudget | None = None
        # Told about every attempt (metrics, dev-mode traces); an observer's own failure is
        # logged and never breaks the call.
        self.observers: list[UpstreamObserver] = []

    def __repr__(self) -> str:  # never show the key
        return f"Transport(base_url={self.base_url!r})"

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # never .netrc; the environment's proxies and CAs are in _egress
        session.proxies = dict(self._egress.proxies)
        session.verify = self._egress.verify
        session.headers.update(self._headers)
        adapter = self._adapter_factory()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    @property
    def session(self) -> requests.Session:
        """The idle session the next call from here takes (to adjust it, e.g. ``verify``)."""
        return self._pool.peek()

    def close(self) -> None:
        self._pool.close()

    def request(
        self,
        method: str,
        url_path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call, retried as the policy allows; the decoded ``{"data": ...}`` envelope."""
        with self._pool.borrowed() as session:
            return self._request(session, method, url_path, body, params)

    def _request(
        self,
        session: requests.Session,
        method: str,
        url_path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        prepared = self._prepare(method, url_path, body, params)
        deadline = time.monotonic() + self.total_deadline
        maybe_applied = False  # by any attempt so far
        attempt = 0
        while True:
            attempt += 1
            # Raises QuotaSpentError, before any attempt and so unheard by observers.
            ticket = self.budget.spend(method, url_path) if self.budget is not None else None
            started = time.monotonic()
            try:
                outcome = self._attempt(session, prepared, deadline, maybe_applied, ticket)
                answer = self._decode(outcome) if isinstance(outcome, requests.Response) else None
            except CometChatError as exc:
                self._tell(method, url_path, started, attempt, exc)
                raise
            finally:
                if ticket is not None:
                    self.budget.settle(ticket)  # type: ignore[union-attr]
            self._tell(method, url_path, started, attempt, outcome)
            if answer is not None:
                return answer
            assert isinstance(outcome, _Failure)
            error = outcome.error
            error.maybe_applied = maybe_applied = maybe_applied or outcome.maybe_applied
            delay = self._retry_delay(error, attempt, deadline) if outcome.retryable else None
            if delay is None:
                raise error
            log.warning(
                "CometChat %s %s failed (%s); retry %d in %.2f s",
                method,
                _loggable(url_path),
                error.code,
                attempt,
                delay,
            )
            self._sleep(delay)

    def _tell(
        self,
        method: str,
        url_path: str,
        started: float,
        attempt: int,
        outcome: requests.Response | _Failure | CometChatError,
    ) -> None:
        if not self.observers:
            return
        if isinstance(outcome, requests.Response):
            status, error = outcome.status_code, None
        else:
            error = outcome.error if isinstance(outcome, _Failure) else outcome
            status = error.status
        report = UpstreamAttempt(
            endpoint=endpoint_of(method, url_path),
            outcome=_outcome_of(status, error),
            status=status,
            code=error.code if error is not None and status is not None else None,
            seconds=time.monotonic() - started,
            attempt=attempt,
        )
        for observer in self.observers:
            try:
                observer(report)
            except Exception:  # an observer must never break a call
                log.exception("an upstream observer failed")

    def _prepare(
        self, method: str, url_path: str, body: Mapping[str, Any] | None, params: Mapping[str, Any] | None
    ) -> requests.PreparedRequest:
        """The request, built directly: Session.prepare_request would merge cookies, auth
        and headers per call, and re-quote the URL (turning our %2E back into '.')."""
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = self.base_url + url_path + ("?" + urlencode(params) if params else "")
        prepared.headers = CaseInsensitiveDict(self._headers)
        request_id = current_request_id.get()
        if request_id:
            prepared.headers[REQUEST_ID_HEADER] = request_id
        if body is not None:
            prepared.body = json.dumps(body).encode("utf-8")
            prepared.headers.update(_JSON_HEADERS)
            prepared.headers["Content-Length"] = str(len(prepared.body))
        elif method not in ("GET", "HEAD"):
            prepared.headers["Content-Length"] = "0"
        return prepared

    def _attempt(
        self,
        session: requests.Session,
        prepared: requests.PreparedRequest,
        deadline: float,
        maybe_applied: bool,
        ticket: Ticket | None = None,
    ) -> requests.Response | _Failure:
        """Send once: a successful answer with its body read, or what went wrong. Raises at
        once what no retry can mend: the deadline reached, a body over the cap."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out(maybe_applied)
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        with deadline_scope(deadline) as watch:
            try:
                # The adapter itself: Session.send would also run hooks and parse cookies.
                response = session.get_adapter(prepared.url).send(
                    prepared,
                    stream=True,
                    timeout=timeout,
                    verify=session.verify,
                    cert=session.cert,
                    proxies=session.proxies,
                )
                try:
                    _read_body(response, self.max_response_bytes)
                finally:
                    response.close()
            except _BodyTooLarge:
                limit = self.max_response_bytes
                raise _bad_answer(f"CometChat answered more than {limit} bytes", response) from None
            except requests.RequestException as exc:
                if watch.fired:
                    raise self._timed_out(True) from exc
                return _failure_from_exception(exc, timeout[1])
        if watch.fired:  # the answer ended where the watchdog cut it
            raise self._timed_out(True)
        self._note_rate_limit(response, ticket)
        return response if response.ok else _failure_from_answer(response)

    def _retry_delay(self, error: CometChatError, attempt: int, deadline: float) -> float | None:
        """How long to wait before the next attempt, or None to give up now."""
        delay = error.retry_after
        if delay is None:
            delay = self.backoff * (2 ** (attempt - 1)) * _jitter()
        if attempt > self.max_retries or time.monotonic() + delay >= deadline:
            if isinstance(error, RateLimitedError) or error.retry_after is not None:
                error.retry_after = max(error.retry_after or 1.0, 1.0)
            return None
        return delay

    def _timed_out(self, maybe_applied: bool) -> UpstreamTimeoutError:
        error = UpstreamTimeoutError(f"no answer from CometChat within {self.total_deadline:g} s")
        error.maybe_applied = maybe_applied
        return error

    def _note_rate_limit(self, response: requests.Response, ticket: Ticket | None) -> None:
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
            self.rate_limit = RateLimitInfo(limit=limit, remaining=remaining)
        if ticket is not None:
            ticket.limit, ticket.remaining = limit, remaining
            if response.status_code == 429:
                reset = header("X-RateLimit-Reset", "X-Rate-Limit-Reset")
                retry_after = header("Retry-After")
                if reset is not None:
                    ticket.blocked_until = float(reset)
                elif retry_after is not None:
                    ticket.blocked_until = time.time() + retry_after

    @staticmethod
    def _decode(response: requests.Response) -> dict[str, Any]:
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise _bad_answer(
                f"CometChat answered {response.status_code} with a body that is not JSON",
                response,
                dev_message=response.content[:200].decode("utf-8", "replace"),
            ) from exc
        if not isinstance(body, dict) or "data" not in body:
            raise _bad_answer("CometChat answered without a data envelope", response)
        return body


def _bad_answer(message: str, response: requests.Response, *, dev_message: str | None = None) -> CometChatError:
    """CometChat answered, unusably: whatever it was asked may have been done."""
    error = UpstreamBadResponseError(message, status=response.status_code, dev_message=dev_message)
    error.maybe_applied = True
    return error
