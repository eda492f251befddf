"""The rules of one CometChat call, shared by both clients and free of I/O: what each
failure means, whether another attempt may help, how long to wait for it within the
deadline, what an answer's rate-limit headers say, and what observers are told.

``transport.py`` (requests) and ``async_transport.py`` (httpx) only move bytes: each
maps its library's exceptions to a ``FailureKind`` and drives a ``CallState`` with its
clock. The policy returns what it decides (a ``Verdict``, the figures heard); it never
changes the errors or tickets it is given: the transports apply its answers.
"""

from __future__ import annotations

import enum
import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal, Mapping

from .budget import UpstreamBudget
from .endpoints import Endpoint
from .errors import (
    Answer,
    CometChatError,
    RateLimitedError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_from_response,
)
from .models import RateLimitInfo
from .options import ClientOptions
from .quota_headers import QuotaHeaders, read_quota_headers

log = logging.getLogger("cometchat.transport")

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# Statuses after which CometChat certainly did not act on the request.
NOT_PROCESSED_STATUSES = frozenset({429, 503})

Outcome = Literal["ok", "client_error", "rate_limited", "server_error", "timeout", "connection_error", "bad_response"]


@dataclass(frozen=True)
class UpstreamAttempt:
    """What one attempt of one call did, as told to the transport's observers."""

    endpoint: str  # the endpoint's label, a template: never a uid or a token
    outcome: Outcome
    status: int | None  # the HTTP status, None when no answer came
    code: str | None  # CometChat's error code, when it sent one
    seconds: float
    attempt: int  # 1 for the first try of a call, 2 for its first retry, ...
    rate_limit_remaining: int | None = None  # X-RateLimit-Remaining of this answer, if sent


UpstreamObserver = Callable[[UpstreamAttempt], None]


class FailureKind(enum.Enum):
    """What went wrong below HTTP, whatever the library that saw it."""

    CONNECT_TIMEOUT = "connect_timeout"  # no connection in time: nothing was sent
    NOT_SENT = "not_sent"  # the connection could not be opened: nothing was sent
    READ_TIMEOUT = "read_timeout"  # sent, and no answer in time
    BROKEN = "broken"  # the connection broke, maybe after the request went out
    PROTOCOL = "protocol"  # something answered, but not HTTP we can read


@dataclass(frozen=True)
class Failure:
    error: CometChatError
    retryable: bool
    # This attempt may have been acted on by CometChat although it failed.
    maybe_applied: bool


def failure_from_kind(kind: FailureKind, name: str, read_timeout: float) -> Failure:
    """The failure of an attempt that got no HTTP answer; ``name`` is the exception's type."""
    if kind is FailureKind.CONNECT_TIMEOUT:
        error: CometChatError = UpstreamUnavailableError(f"could not connect to CometChat ({name})")
        return Failure(error, retryable=True, maybe_applied=False)
    if kind is FailureKind.READ_TIMEOUT:
        # A slow upstream rarely gets faster: give the caller its 504 now.
        error = UpstreamTimeoutError(f"CometChat did not answer within {read_timeout:g} s")
        return Failure(error, retryable=False, maybe_applied=True)
    if kind in (FailureKind.NOT_SENT, FailureKind.BROKEN):
        error = UpstreamUnavailableError(f"connection to CometChat failed ({name})")
        return Failure(error, retryable=True, maybe_applied=kind is FailureKind.BROKEN)
    error = UpstreamBadResponseError(f"bad answer from CometChat ({name})")
    return Failure(error, retryable=False, maybe_applied=True)


def failure_from_answer(answer: Answer) -> Failure:
    status = answer.status_code
    return Failure(
        error_from_response(answer),
        retryable=status in RETRIED_STATUSES,
        # A 4xx is CometChat refusing the call; a 502/504 may hide one it did.
        maybe_applied=status in RETRIED_STATUSES and status not in NOT_PROCESSED_STATUSES,
    )


def outcome_of(status: int | None, error: CometChatError | None) -> Outcome:
    if error is None:
        return "ok"
    if isinstance(error, UpstreamTimeoutError):
        return "timeout"
    if isinstance(error, RateLimitedError):  # a 429, or the budget refusing (no status)
        return "rate_limited"
    if status is None:
        return "connection_error" if isinstance(error, UpstreamUnavailableError) else "bad_response"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "bad_response"


def report(
    label: str, attempt: int, seconds: float, status: int | None, error: CometChatError | None, remaining: int | None
) -> UpstreamAttempt:
    """What observers hear about one attempt."""
    return UpstreamAttempt(
        endpoint=label,
        outcome=outcome_of(status, error),
        status=status,
        code=error.code if error is not None and status is not None else None,
        seconds=seconds,
        attempt=attempt,
        rate_limit_remaining=remaining,
    )


def tell(
    observers: Iterable[UpstreamObserver],
    label: str,
    attempt: int,
    seconds: float,
    status: int | None,
    error: CometChatError | None,
    heard: RateLimitInfo | None,
) -> None:
    """Tell every observer about one attempt; an observer's own failure is logged and never
    breaks the call."""
    remaining = heard.remaining if heard is not None else None
    attempt_report: UpstreamAttempt | None = None
    for observer in observers:
        attempt_report = attempt_report or report(label, attempt, seconds, status, error, remaining)
        try:
            observer(attempt_report)
        except Exception:
            log.exception("an upstream observer failed")


@dataclass(frozen=True)
class Verdict:
    """What a failed attempt leaves: wait ``delay`` seconds and try again, or (``delay`` None)
    end the call on the attempt's error, which then carries ``maybe_applied`` (any attempt may
    have been acted on) and ``retry_after`` (the wait to tell the caller)."""

    delay: float | None
    maybe_applied: bool
    retry_after: float | None


def _jitter() -> float:
    return random.uniform(0.5, 1.0)


class CallState:
    """One call's attempts: the deadline, the attempt count, whether any attempt may have
    been acted on, what observers hear of each attempt, and the wait before the next attempt
    (or the end of the call instead). Both transports drive one per call, the same way, with
    their ``clock`` (monotonic seconds)."""

    def __init__(
        self,
        options: ClientOptions,
        *,
        clock: Callable[[], float],
        endpoint: Endpoint | None = None,
        params: Mapping[str, str] | None = None,
        observers: Iterable[UpstreamObserver] = (),
        budget: UpstreamBudget | None = None,
    ) -> None:
        self.options = options
        self._clock = clock
        self.deadline = clock() + options.total_deadline
        self.attempt = 0
        self.maybe_applied = False  # by any attempt so far
        self._endpoint = endpoint
        self._params = params
        self._observers = observers
        self._budget = budget
        self._started = 0.0

    def begin(self) -> None:
        self.attempt += 1
        self._started = self._clock()

    def _tell(self, status: int | None, error: CometChatError | None, heard: RateLimitInfo | None) -> None:
        label = self._endpoint.label if self._endpoint is not None else ""
        tell(self._observers, label, self.attempt, self._clock() - self._started, status, error, heard)

    def answered(self, status: int | None, heard: RateLimitInfo | None) -> None:
        """The attempt succeeded: observers hear it."""
        self._tell(status, None, heard)

    def ended(self, error: CometChatError) -> bool:
        """The call ends on ``error`` (the budget's refusal, the deadline, an unreadable answer):
        observers hear it like any attempt; returns its ``maybe_applied``, which keeps what
        earlier attempts may have done."""
        self._tell(error.status, error, None)
        return error.maybe_applied or self.maybe_applied

    def after_failure(self, failure: Failure, heard: RateLimitInfo | None) -> Verdict:
        """The attempt failed: observers hear it; the verdict says how long to wait before the
        next attempt (logged), or that no retry is left and what the error then tells."""
        error = failure.error
        self._tell(error.status, error, heard)
        retry_after = error.retry_after
        if self._budget is not None and isinstance(error, RateLimitedError) and retry_after is not None:
            retry_after = self._budget.longest_wait(retry_after)  # a 429's wait: never over one quota window
        self.maybe_applied = self.maybe_applied or failure.maybe_applied
        delay = self._delay(retry_after) if failure.retryable else None
        if delay is None:
            if failure.retryable and (isinstance(error, RateLimitedError) or retry_after is not None):
                retry_after = max(retry_after or 1.0, 1.0)
            return Verdict(None, self.maybe_applied, retry_after)
        if self._endpoint is not None:
            log.warning(
                "CometChat %s %s failed (%s); retry %d in %.2f s",
                self._endpoint.method,
                self._endpoint.loggable(self._params),
                error.code,
                self.attempt,
                delay,
            )
        return Verdict(delay, self.maybe_applied, retry_after)

    def timeouts(self) -> tuple[float, float]:
        """This attempt's (connect, read) timeouts, within what is left of the deadline;
        raises ``UpstreamTimeoutError`` once nothing is left."""
        remaining = self.remaining()
        if remaining <= 0:
            raise self.timed_out(self.maybe_applied)
        return min(self.options.connect_timeout, remaining), min(self.options.read_timeout, remaining)

    def remaining(self) -> float:
        return self.deadline - self._clock()

    def timed_out(self, maybe_applied: bool) -> UpstreamTimeoutError:
        error = UpstreamTimeoutError(f"no answer from CometChat within {self.options.total_deadline:g} s")
        error.maybe_applied = maybe_applied
        return error

    def _delay(self, retry_after: float | None) -> float | None:
        """How long to wait before the next attempt, or None to give up now."""
        delay = retry_after
        if delay is None:
            delay = self.options.backoff * (2 ** (self.attempt - 1)) * _jitter()
        if self.attempt > self.options.max_retries or self._clock() + delay >= self.deadline:
            return None
        return delay


def rate_limit_of(headers: Mapping[str, str]) -> tuple[QuotaHeaders, RateLimitInfo | None]:
    """What an answer's rate-limit headers say: every figure (for the budget's ticket:
    CometChat's own ``Retry-After`` / reset decide how long the bucket stays closed), and the
    limit and remaining count for callers (None: the answer named neither)."""
    figures = read_quota_headers(headers)
    if figures.limit is not None or figures.remaining is not None:
        return figures, RateLimitInfo(limit=figures.limit, remaining=figures.remaining)
    return figures, None


def decode(status: int, content: bytes) -> dict[str, Any]:
    """A successful answer's ``{"data": ...}`` envelope, or ``UpstreamBadResponseError``."""
    try:
        body = json.loads(content)
    except ValueError as exc:
        raise bad_answer(
            f"CometChat answered {status} with a body that is not JSON",
            status,
            dev_message=content[:200].decode("utf-8", "replace"),
        ) from exc
    if not isinstance(body, dict) or "data" not in body:
        raise bad_answer("CometChat answered without a data envelope", status)
    return body


def bad_answer(message: str, status: int, *, dev_message: str | None = None) -> CometChatError:
    """CometChat answered, unusably: whatever it was asked may have been done."""
    error = UpstreamBadResponseError(message, status=status, dev_message=dev_message)
    error.maybe_applied = True
    return error
