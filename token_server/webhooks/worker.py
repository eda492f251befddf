"""The handlers' runner: one background thread per server process, off the request path.

Each turn claims the oldest visible event from the store (a lease of ``LEASE_SECONDS``), parses
its raw body into a typed event, hands it to its handlers, then settles it: done, retried later
with exponential backoff, or, after ``max_attempts`` claims, buried as a dead letter (kept,
listed and replayed by the CLI, never dropped). A process killed mid-handler leaves its lease to
expire: the event is claimed again by any worker within ``LEASE_SECONDS`` (at least once).

The receiver wakes the worker of its own process after storing an event; the other processes
find it at their next poll (``poll`` seconds).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

from . import counters
from .events import parse
from .handlers import Handlers
from .store import LEASE_SECONDS, Claim, EventStore, StoreError

log = logging.getLogger("token_server.webhooks")

MAX_ATTEMPTS = 8
BACKOFF_BASE = 5.0  # seconds before the 2nd attempt; doubled each time
BACKOFF_CAP = 600.0  # 8 attempts: 5, 10, 20, 40, 80, 160, 320 s, then a dead letter (~10 min)
POLL_SECONDS = 1.0
ERROR_TEXT = 500  # characters of a handler's exception kept with its event
NOTE_EVERY = 1.0  # seconds between two looks at the queue's size (for /readyz and /metrics)


@dataclass(frozen=True)
class QueueNote:
    """What the worker last saw of the queue, and when (``time.monotonic()``)."""

    depth: int
    dead: int
    at: float


def backoff(attempts: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return float(min(base * 2 ** max(attempts - 1, 0), cap))


class WebhookWorker:
    def __init__(
        self,
        store: EventStore,
        handlers: Handlers,
        *,
        lease: float = LEASE_SECONDS,
        poll: float = POLL_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: Callable[[int], float] = backoff,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.lease = lease
        self.poll = poll
        self.max_attempts = max_attempts
        self._backoff = backoff
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self.started_at: float | None = None
        self._stopped = False
        self.note: QueueNote | None = None

    def start(self) -> None:
        """Run in a daemon thread of this process (again after a fork: threads do not survive one)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._stop.clear()
            self._stopped = False
            self._pid = os.getpid()
            self.started_at = time.monotonic()
            self._thread = threading.Thread(target=self._loop, name="webhook-worker", daemon=True)
            self._thread.start()

    def ensure_running(self) -> None:
        """Start again in a process forked after :meth:`start` (gunicorn's ``--preload``); a
        worker stopped on purpose stays stopped."""
        if self._pid is not None and self._pid != os.getpid() and not self._stopped:
            self.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped = True
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wake(self) -> None:
        """An event was stored: look now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except StoreError as exc:
                log.warning("webhook worker: the event store did not answer (%s); trying again", exc)
                worked = False
            except Exception:  # never let the thread die: the queue would stall silently
                log.exception("webhook worker: unexpected failure; going on")
                worked = False
            self.look_at_queue()
            if not worked:
                self._wake.wait(self.poll)
                self._wake.clear()

    def look_at_queue(self, *, now: bool = False) -> None:
        """Note the queue's size (at most once a second, unless ``now``)."""
        at = time.monotonic()
        if not now and self.note is not None and at - self.note.at < NOTE_EVERY:
            return
        try:
            note = QueueNote(self.store.depth(), self.store.dead_count(), at)
        except StoreError:
            return
        self.note = note
        counters.QUEUE_DEPTH.set(note.depth)
        counters.DEAD_LETTERS_WAITING.set(note.dead)

    def run_once(self) -> bool:
        """Claim and handle one event; False when none was visible."""
        claim = self.store.claim(self.lease)
        if claim is None:
            return False
        self.handle(claim)
        return True

    def drain(self, limit: int = 1000) -> int:
        """Handle every visible event now, in this thread (the CLI and tests); how many."""
        handled = 0
        while handled < limit and self.run_once():
            handled += 1
        return handled

    def handle(self, claim: Claim) -> None:
        event = claim.event
        label = counters.trigger_label(event.trigger)
        try:
            typed = parse(event.body)
            for handler in self.handlers.for_trigger(typed.trigger):
                handler(typed)
        except Exception as exc:
            counters.HANDLER_FAILURES.labels(label).inc()
            error = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT]
            if event.attempts >= self.max_attempts:
                log.error(
                    "webhook %s (%s): attempt %d failed (%s); kept as a dead letter",
                    event.id, event.trigger, event.attempts, error,
                )  # fmt: skip
                if self.store.bury(claim, error):
                    counters.DEAD_LETTERED.inc()
            else:
                delay = self._backoff(event.attempts)
                log.warning(
                    "webhook %s (%s): attempt %d failed (%s); retrying in %.0f s",
                    event.id, event.trigger, event.attempts, error, delay,
                )  # fmt: skip
                self.store.retry(claim, delay, error)
            return
        if not self.store.complete(claim):
            # The lease ran out while the handlers worked: another worker may be handling it too.
            log.warning("webhook %s (%s): handled after its lease ran out", event.id, event.trigger)
        counters.HANDLED.labels(label).inc()
