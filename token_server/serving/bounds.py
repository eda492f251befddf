"""The connection layer's limits (GUNICORN_HEAD_TIMEOUT, GUNICORN_MAX_WAITING and fixed sizes),
read from the environment once per worker; load_settings checked them at start."""

from __future__ import annotations

import os
from dataclasses import dataclass

# Seconds a request's head may take to arrive (from the connection's arrival, or a kept-alive
# one's previous answer), its body may take (from its head), and a stalled write may stay stalled.
HEAD_TIMEOUT = 10.0
# Connections per worker waiting for their request (head or body); past it the oldest is closed
# (a real client sends its head at once, so the oldest waiting one is never one).
MAX_WAITING = 4096
# A request head past this many bytes, or with more header lines, is answered 431.
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADER_COUNT = 100


@dataclass(frozen=True)
class Bounds:
    head_timeout: float = HEAD_TIMEOUT
    max_waiting: int = MAX_WAITING
    max_head_bytes: int = MAX_HEAD_BYTES
    max_header_count: int = MAX_HEADER_COUNT

    @property
    def body_timeout(self) -> float:
        return self.head_timeout

    @property
    def write_timeout(self) -> float:
        return self.head_timeout

    @classmethod
    def from_env(cls) -> Bounds:
        return cls(
            head_timeout=float(os.environ.get("GUNICORN_HEAD_TIMEOUT") or HEAD_TIMEOUT),
            max_waiting=int(os.environ.get("GUNICORN_MAX_WAITING") or MAX_WAITING),
        )
