"""The emulator's webhooks: the events it knows, POSTed to a configured URL as CometChat would.

Delivery never happens on the request that caused the event: events go into a bounded queue
and one background thread sends them, each attempt with a bounded timeout. A 2xx answer is a
delivery; anything else (another status, a timeout, a refused connection) is a failure,
retried only with ``retry_on_failure``: once after ``retry_delays[0]`` (10 s), once more
``retry_delays[1]`` (30 s) after that, as CometChat does. Faults (``WebhookFault``) drop, delay
or duplicate the next delivery.

The emulator knows one event: a user's SDK connection going online (``PUT /me``) and offline
(``DELETE /me``), sent as ``user_connection_status_changed`` with CometChat's payload shape
(times in milliseconds).
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from requests.adapters import BaseAdapter

CONNECTION_TRIGGER = "user_connection_status_changed"
KNOWN_TRIGGERS = frozenset({CONNECTION_TRIGGER})
RETRY_DELAYS = (10.0, 30.0)  # CometChat's schedule with retryOnFailure on
ATTEMPT_TIMEOUT = 2.0  # CometChat wants the 200 within 2 seconds
QUEUE_SIZE = 1000
WEBHOOK_FAULT_KINDS = ("drop", "delay", "duplicate")
MAX_COPIES = 10
ENV_URL = "COMETCHAT_EMULATOR_WEBHOOK_URL"
ENV_RETRY = "COMETCHAT_EMULATOR_WEBHOOK_RETRY"
ENV_TRIGGERS = "COMETCHAT_EMULATOR_WEBHOOK_TRIGGERS"


@dataclass(frozen=True)
class WebhookConfig:
    """One webhook, as configured in CometChat's dashboard (``username``/``password``: Basic
    Auth; ``triggers`` None: every event the emulator knows)."""

    url: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    retry_on_failure: bool = False
    triggers: frozenset[str] | None = None
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    timeout: float = ATTEMPT_TIMEOUT
    queue_size: int = QUEUE_SIZE
    webhook_id: str = "emulator-webhook"
    app_id: str = "emulator"
    region: str = "us"

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("the webhook URL must be http:// or https://")
        if (self.username is None) != (self.password is None):
            raise ValueError("Basic Auth needs both a username and a password")
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ValueError("the attempt timeout must be a positive number of seconds")
        if any(not math.isfinite(d) or d < 0 for d in self.retry_delays):
            raise ValueError("retry delays must be finite numbers of seconds, 0 or more")
        if self.queue_size < 1:
            raise ValueError("the queue holds at least one event")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WebhookConfig | None:
        """``COMETCHAT_EMULATOR_WEBHOOK_URL`` (Basic Auth as ``user:password@`` in it),
        ``..._RETRY`` (``1``/``true``: retryOnFailure) and ``..._TRIGGERS`` (comma-separated);
        None when no URL is set."""
        raw = environ.get(ENV_URL, "").strip()
        if not raw:
            return None
        parts = urlsplit(raw)
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        triggers = {t.strip() for t in environ.get(ENV_TRIGGERS, "").split(",") if t.strip()}
        retry = environ.get(ENV_RETRY, "").strip().lower() in ("1", "true", "yes", "on")
        return cls(url, username, password, retry, frozenset(triggers) or None)

    def wants(self, trigger: str) -> bool:
        return self.triggers is None or trigger in self.triggers

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "cometchat-emulator-webhooks"}
        if self.username is not None and self.password is not None:
            pair = f"{self.username}:{self.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return headers


@dataclass(frozen=True)
class WebhookFault:
    """Taken by the next delivery: ``drop`` (never sent), ``delay`` (first attempt ``seconds``
    late), ``duplicate`` (sent ``copies`` times, each with its own retries)."""

    kind: str
    seconds: float = 5.0
    copies: int = 2

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookFault:
        kind = data.get("kind")
        if kind not in WEBHOOK_FAULT_KINDS:
            raise ValueError(f"webhook fault kind must be one of {WEBHOOK_FAULT_KINDS}")
        seconds = float(data.get("seconds", 5.0))
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds must be a finite number, 0 or more")
        copies = data.get("copies", 2)
        if isinstance(copies, bool) or not isinstance(copies, int) or not 2 <= copies <= MAX_COPIES:
            raise ValueError(f"copies must be a whole number from 2 to {MAX_COPIES}")
        return cls(kind, seconds, copies)


@dataclass
class _Job:
    body: bytes
    trigger: str
    attempt: int = 0


@dataclass
class WebhookStats:
    queued: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0  # events whose every attempt failed
    dropped: int = 0  # by a fault
    overflowed: int = 0  # refused: the queue was full

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class WebhookSender:
    """The queue and the one thread that delivers it (started on the first event).

    ``transport``: a requests adapter that carries every attempt instead of the network (an
    in-process receiver: :class:`cometchat.inprocess.WSGIAdapter` around the receiving app).
    It takes every ``http://`` and ``https://`` URL, so with one nothing leaves the process."""

    def __init__(self, config: WebhookConfig, *, transport: BaseAdapter | None = None) -> None:
        self.config = config
        self.stats = WebhookStats()
        self.faults: deque[WebhookFault] = deque()
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, _Job]] = []  # a heap by due time
        self._seq = itertools.count()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._session = requests.Session()
        if transport is not None:
            self._session.mount("http://", transport)
            self._session.mount("https://", transport)

    # ---- what the emulator calls -------------------------------------------------------

    def send(self, trigger: str, data: Mapping[str, Any]) -> bool:
        """Queue one event (in CometChat's envelope); False when not wanted or the queue is full."""
        if not self.config.wants(trigger):
            return False
        body = json.dumps(
            {
                "trigger": trigger,
                "data": data,
                "appId": self.config.app_id,
                "region": self.config.region,
                "webhook": self.config.webhook_id,
            }
        ).encode()
        with self._cond:
            if self._closed:
                return False
            fault = self.faults.popleft() if self.faults else None
            if fault is not None and fault.kind == "drop":
                self.stats.dropped += 1
                return True
            if len(self._due) + self._busy >= self.config.queue_size:
                self.stats.overflowed += 1
                return False
            delay = fault.seconds if fault is not None and fault.kind == "delay" else 0.0
            copies = fault.copies if fault is not None and fault.kind == "duplicate" else 1
            for _ in range(copies):
                self._push(time.monotonic() + delay, _Job(body, trigger))
                self.stats.queued += 1
            self._start()
            self._cond.notify_all()
        return True

    def add_faults(self, faults: list[WebhookFault], *, clear: bool = False) -> None:
        with self._cond:
            if clear:
                self.faults.clear()
            self.faults.extend(faults)

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued, scheduled or in flight (tests); False at ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._due or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._due.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout + 1.0)
        self._session.close()

    # ---- the delivery thread -----------------------------------------------------------

    def _push(self, due: float, job: _Job) -> None:
        heapq.heappush(self._due, (due, next(self._seq), job))

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
            self._thread.start()

    def _next(self) -> _Job | None:
        with self._cond:
            while not self._closed:
                if self._due:
                    wait = self._due[0][0] - time.monotonic()
                    if wait <= 0:
                        job = heapq.heappop(self._due)[2]
                        self._busy += 1
                        return job
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            ok = self._attempt(job)
            with self._cond:
                self._busy -= 1
                if ok:
                    self.stats.delivered += 1
                else:
                    self.stats.failed_attempts += 1
                    delays = self.config.retry_delays if self.config.retry_on_failure else ()
                    if job.attempt < len(delays) and not self._closed:
                        self._push(time.monotonic() + delays[job.attempt], _Job(job.body, job.trigger, job.attempt + 1))
                    else:
                        self.stats.given_up += 1
                self._cond.notify_all()

    def _attempt(self, job: _Job) -> bool:
        try:
            # stream: only the status line and headers are waited for, each read bounded.
            with self._session.post(
                self.config.url,
                data=job.body,
                headers=self.config.headers(),
                timeout=(self.config.timeout, self.config.timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                return 200 <= response.status_code < 300
        except requests.RequestException:
            return False


def connection_event(
    user: Mapping[str, Any],
    *,
    connected: bool,
    online: bool,
    platform: str,
    connected_at_ms: int,
    now_ms: int,
    changed: bool,
) -> dict[str, Any]:
    """The ``data`` of ``user_connection_status_changed`` (CometChat's shape, times in ms):
    ``action`` is this connection's, ``status`` the user's once it happened (a user with
    another connection open stays online)."""
    shown = {k: user[k] for k in ("uid", "name", "avatar", "status", "role", "lastActiveAt") if k in user}
    return {
        "timestamp": now_ms,
        "user": shown,
        "status": "online" if online else "offline",
        "currentConnection": {
            "action": "connected" if connected else "disconnected",
            "platform": platform,
            "connectedAt": connected_at_ms,
        },
        "userPresenceChanged": changed,
    }
