"""Sending checked rows to CometChat and recording each row's outcome as it lands."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence, TypeVar

from cometchat import (
    CometChatClient,
    CometChatError,
    Profile,
    RateLimitedError,
    UidAlreadyExistsError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from cometchat.client import MAX_IMPORT_USERS
from cometchat.policy import UpstreamAttempt

from .journal import Entry, Journal
from .pacing import MINUTE_SECONDS, Pacer
from .rows import BadRow, Row

Via = Literal["data-import", "users-api"]
T = TypeVar("T")
IMPORT_REQUESTS_PER_MINUTE = 60
CORE_OPERATIONS_PER_MINUTE = 10_000
MAX_OUTAGE_ATTEMPTS = 5
MAX_RATE_LIMITED = 20  # 429s in a row for one batch: something else spends the quota
MAX_UNANSWERED_RESENDS = 3
OUTAGE_PAUSE = 2.0  # seconds, doubled on each attempt


class ImportStopped(Exception):
    """The upstream stayed unreachable or kept refusing: the run stops, the journal keeps
    what landed, and the same command resumes."""


@dataclass
class Summary:
    created: int = 0
    existed: int = 0
    skipped: int = 0  # done in an earlier run (the journal says so)
    failed: list[Entry] = field(default_factory=list)
    unsent: int = 0
    requests: int = 0
    rate_limited: int = 0  # 429 answers seen, the client's own retries included
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unsent and self.stopped is None


Progress = Callable[[int], None]


class Importer:
    """Sends rows by one of two transports: the data import API (``POST /data_import/users``,
    50 users a request, 60 requests a minute) or, for plans without it, ``POST /users`` one by
    one (paced under the 10,000 core operations a minute, which logins share: ``per_minute``
    lowers it)."""

    def __init__(
        self,
        client: CometChatClient,
        journal: Journal,
        *,
        via: Via = "data-import",
        per_minute: float | None = None,
        minute_seconds: float = MINUTE_SECONDS,
        progress: Progress = lambda n: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        ceiling = IMPORT_REQUESTS_PER_MINUTE if via == "data-import" else CORE_OPERATIONS_PER_MINUTE
        if per_minute is not None and not 0 < per_minute <= ceiling:
            raise ValueError(f"per_minute must be between 0 and {ceiling} for {via}")
        self.client, self.journal, self.via = client, journal, via
        self.pacer = Pacer(per_minute or ceiling, minute_seconds=minute_seconds, sleep=sleep)
        self.progress = progress
        self._sleep = sleep
        self.summary = Summary()
        self._landed: set[str] = set()

    def pending(self, rows: Sequence[Row | BadRow]) -> list[Row]:
        """The valid rows not done yet; the bad ones go to the summary (not the journal: a
        duplicate row shares its uid with a good one), the done ones are counted."""
        todo: list[Row] = []
        bad: list[Entry] = []
        for row in rows:
            if isinstance(row, BadRow):
                bad.append(Entry(row.uid, "invalid", row.line, row.reason))
            elif self.journal.is_done(row.uid):
                self.summary.skipped += 1
            else:
                todo.append(row)
        self.summary.failed.extend(bad)
        return todo

    def run(self, rows: Sequence[Row]) -> Summary:
        """Send ``rows`` (from :meth:`pending`); the summary says what became of each.

        How a batch's failure is read:
        - per row: created, "already exists" (done: it landed before), or refused (failed);
        - a uid missing from the answer: resent (its fate is unknown);
        - 429 past the client's own retries: wait ``Retry-After``, resend;
        - no answer (connection dropped, timeout, 503): some rows may have landed; resend after
          a pause, and stop the run after ``MAX_OUTAGE_ATTEMPTS`` (rerun to resume);
        - a 5xx or a 400 for the whole request, which one bad row can cause after the good rows
          landed: split the batch in halves and resend each, down to the single bad row."""
        # The client tells its observers about every attempt, its own retries included.
        observers = getattr(self.client, "observers", [])
        observers.append(self._observe)
        try:
            if self.via == "data-import":
                for start in range(0, len(rows), MAX_IMPORT_USERS):
                    self._send_batch(rows[start : start + MAX_IMPORT_USERS])
            else:
                for row in rows:
                    self._send_one(row)
        except ImportStopped as exc:
            self.summary.stopped = str(exc)
        except KeyboardInterrupt:
            self.summary.stopped = "interrupted (Ctrl-C)"
        finally:
            observers.remove(self._observe)
        self.summary.unsent = sum(1 for row in rows if row.uid not in self._landed)
        return self.summary

    def _observe(self, attempt: UpstreamAttempt) -> None:
        if attempt.outcome == "rate_limited":
            self.summary.rate_limited += 1

    # ---- data import ---------------------------------------------------------------------

    def _send_batch(self, batch: Sequence[Row]) -> None:
        unanswered = list(batch)
        for _ in range(MAX_UNANSWERED_RESENDS):
            outcome = self._post(unanswered)
            if outcome is None:  # refused as a whole
                if len(unanswered) == 1:
                    return
                half = len(unanswered) // 2
                self._send_batch(unanswered[:half])
                self._send_batch(unanswered[half:])
                return
            entries = [self._entry(row, outcome[row.uid]) for row in unanswered if row.uid in outcome]
            self._land(entries)
            unanswered = [row for row in unanswered if row.uid not in outcome]
            if not unanswered:
                return
        self._land([Entry(row.uid, "failed", row.line, "CometChat never answered for this row") for row in unanswered])

    def _post(self, rows: Sequence[Row]) -> dict[str, CometChatError | None] | None:
        """One import request; None when the request as a whole was refused (the caller
        splits it), after recording a lone row as failed."""
        outcomes = self._attempt(lambda: self.client.import_users({row.uid: row.fields for row in rows}))
        if isinstance(outcomes, CometChatError):
            if len(rows) == 1:
                self._land([Entry(rows[0].uid, "failed", rows[0].line, _describe(outcomes))])
            return None
        return {uid: outcome.error for uid, outcome in outcomes.items()}

    # ---- users API -----------------------------------------------------------------------

    def _send_one(self, row: Row) -> None:
        answer = self._attempt(lambda: self.client.create_user(row.uid, **Profile.from_api(row.fields).kwargs()))
        self._land([self._entry(row, answer if isinstance(answer, CometChatError) else None)])

    # ---- shared ----------------------------------------------------------------------------

    def _attempt(self, send: Callable[[], T]) -> T | CometChatError:
        """One request, paced and retried through 429s and outages: its answer, or the
        error CometChat refused it with (a rejected REST key stops the run)."""
        outages = limited = 0
        while True:
            self.pacer.wait()
            self.summary.requests += 1
            try:
                return send()
            except RateLimitedError as exc:
                limited = self._rate_limited(exc, limited)
            except (UpstreamUnavailableError, UpstreamTimeoutError) as exc:
                outages = self._outage(exc, outages)
            except UpstreamAuthError:
                raise
            except CometChatError as exc:
                return exc

    def _rate_limited(self, exc: RateLimitedError, count: int) -> int:
        if count + 1 >= MAX_RATE_LIMITED:
            raise ImportStopped("CometChat kept answering 429 (another client may be using the quota)")
        self.pacer.hold(exc.retry_after or 1.0)
        return count + 1

    def _outage(self, exc: CometChatError, count: int) -> int:
        if count + 1 >= MAX_OUTAGE_ATTEMPTS:
            raise ImportStopped(f"CometChat is unreachable ({exc.code}); rerun the same command to resume")
        self._sleep(OUTAGE_PAUSE * 2**count)
        return count + 1

    @staticmethod
    def _entry(row: Row, error: CometChatError | None) -> Entry:
        if error is None:
            return Entry(row.uid, "created", row.line)
        if isinstance(error, UidAlreadyExistsError):
            return Entry(row.uid, "exists", row.line)
        return Entry(row.uid, "failed", row.line, _describe(error))

    def _land(self, entries: list[Entry]) -> None:
        self.journal.record(entries)
        for entry in entries:
            self._landed.add(entry.uid or "")
            if entry.status == "created":
                self.summary.created += 1
            elif entry.status == "exists":
                self.summary.existed += 1
            else:
                self.summary.failed.append(entry)
        self.progress(len(entries))


def _describe(error: CometChatError) -> str:
    details = "; ".join(f"{key}: {' '.join(map(str, msgs))}" for key, msgs in error.details.items())
    return f"{error}" + (f" ({details})" if details else "")

