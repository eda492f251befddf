"""A handler for ``bench.webhook_receiver``: sleeps ``BENCH_HANDLER_SECONDS`` per event."""

from __future__ import annotations

import os
import time
from typing import Any


def sleepy(event: Any) -> None:
    time.sleep(float(os.environ.get("BENCH_HANDLER_SECONDS", "10")))
