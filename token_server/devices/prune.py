"""``tokens prune``: revoke a user's tokens older than an age, read from CometChat's own token
list (its ``createdAt``), paced under the per-minute quota and resumable."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from cometchat import AuthTokenNotFoundError, CometChatClient, RateLimitedError, UidNotFoundError

from ..user_import.pacing import Pacer
from .service import DeviceTokens, note_token_count

# Revokes and listings are "other" operations (20,000 a minute): by default a quarter of that,
# leaving the rest to the servers answering logins meanwhile.
DEFAULT_PER_MINUTE = 5000
MAX_RATE_LIMITED = 20  # 429s in a row: something else spends the quota; stop (rerun resumes)
T = TypeVar("T")


class PruneStopped(Exception):
    """CometChat kept refusing: the run stops; the journal keeps the finished uids."""


class PruneJournal:
    """Finished uids, one JSON object a line, appended and fsync'd as each uid is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[str] = set()
        if path.exists():
            for raw in path.read_bytes().splitlines():
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue  # a torn line from a crash: that uid is redone
                if isinstance(record, dict) and isinstance(record.get("uid"), str):
                    self.done.add(record["uid"])

    def record(self, uid: str, revoked: int) -> None:
        line = json.dumps({"uid": uid, "revoked": revoked, "at": int(time.time())}) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self.done.add(uid)


@dataclass
class PruneSummary:
    users: int = 0
    skipped: int = 0  # finished in an earlier run (the journal says so)
    revoked: int = 0
    kept: int = 0
    missing: list[str] = field(default_factory=list)  # uids CometChat does not know


class Pruner:
    """Per uid: one listing (a page per 100 tokens), then one ``DELETE`` per old token (404: gone
    already, counted as revoked), then the devices that held those tokens are forgotten in the
    session store. A uid is journaled (fsync'd) only when all its old tokens are revoked, so a
    rerun with the same journal skips the finished uids and redoes at most one."""
    def __init__(
        self,
        client: CometChatClient,
        journal: PruneJournal,
        *,
        older_than: float,
        sessions: DeviceTokens | None = None,
        per_minute: float = DEFAULT_PER_MINUTE,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
        pacer: Pacer | None = None,
    ) -> None:
        self.client, self.journal, self.sessions = client, journal, sessions
        self.older_than, self.dry_run, self._clock = older_than, dry_run, clock
        self.pacer = pacer or Pacer(per_minute)
        self._rate_limited = 0

    def _paced(self, call: Callable[[], T]) -> T:
        while True:
            self.pacer.wait()
            try:
                result = call()
            except RateLimitedError as exc:  # past the client's own retries: hold, then resend
                self._rate_limited += 1
                if self._rate_limited >= MAX_RATE_LIMITED:
                    raise PruneStopped("CometChat kept answering 429; rerun later to resume") from exc
                self.pacer.hold(exc.retry_after or 15.0)
                continue
            self._rate_limited = 0
            return result

    def prune_user(self, uid: str, summary: PruneSummary) -> None:
        cutoff = self._clock() - self.older_than
        try:
            listed = self._paced(lambda: list(self.client.iter_auth_tokens(uid, per_page=100)))
        except UidNotFoundError:
            summary.missing.append(uid)
            return
        note_token_count(uid, len(listed))
        old = [t for t in listed if t.created_at is not None and t.created_at < cutoff]
        summary.kept += len(listed) - len(old)
        revoked: set[str] = set()
        for token in old:
            if not self.dry_run:
                try:
                    self._paced(partial(self.client.delete_auth_token, uid, token.auth_token))
                except (AuthTokenNotFoundError, UidNotFoundError):
                    pass  # gone already: revoked
            revoked.add(token.auth_token)
        summary.revoked += len(revoked)
        if self.dry_run:
            return
        if self.sessions is not None and revoked:
            self.sessions.forget_tokens(uid, revoked)
        self.journal.record(uid, len(revoked))

    def run(self, uids: Iterable[str], progress: Callable[[int], None] = lambda _: None) -> PruneSummary:
        summary = PruneSummary()
        for uid in uids:
            summary.users += 1
            if uid in self.journal.done:
                summary.skipped += 1
            else:
                self.prune_user(uid, summary)
            progress(1)
        return summary
