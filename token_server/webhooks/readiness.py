"""The queue in ``/readyz``: a degraded check, never a 503. Readiness means "can this instance
mint", and a login never waits on a webhook; so a stalled worker, dead letters or a backlog
show in the body for an operator, while the load balancer keeps sending logins.

The check makes no store call: it reads what the worker last saw (it looks every second while
it runs), so a probe costs nothing and cannot hang on the store.
"""

from __future__ import annotations

import time
from typing import Callable

from .worker import WebhookWorker

STALE_SECONDS = 30.0  # a worker that has not seen its store for this long is stuck or cut off
BACKLOG = 1000  # events waiting, past which the handlers are not keeping up


def queue_check(worker: WebhookWorker, clock: Callable[[], float] = time.monotonic) -> Callable[[], str | None]:
    def check() -> str | None:
        now = clock()
        note = worker.note
        seen_at = note.at if note is not None else worker.started_at
        if seen_at is None:
            return "the webhook worker is not running"
        if now - seen_at > STALE_SECONDS:
            return (
                f"the webhook worker has not seen its store for {int(now - seen_at)} s "
                "(the store out of reach, or a handler still running)"
            )
        if note is None:
            return None
        if note.dead:
            return f"{note.dead} webhook events are dead letters (see `cometchat-token-server webhooks dead-letters`)"
        if note.depth > BACKLOG:
            return f"{note.depth} webhook events are waiting for their handlers"
        return None

    return check
