"""Handlers for WEBHOOK_HANDLER in the tests (``tests.webhook_handlers:record``): they write to
the file ``WEBHOOK_TEST_LOG`` names, one line per event, so a test reads what ran, in any process."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def record(event: Any) -> None:
    """One line per handled event: trigger, natural key (or the body's ``data.n``), process id.
    A payload with ``data.block`` writes ``<log>.started`` and sleeps until the process dies."""
    log = Path(os.environ["WEBHOOK_TEST_LOG"])
    data = event.raw.get("data") if isinstance(event.raw.get("data"), dict) else {}
    if data.get("block") and os.environ.get("WEBHOOK_TEST_BLOCK") == "1":
        Path(str(log) + ".started").write_text(str(os.getpid()))
        time.sleep(3600)
    key = event.natural_key() or f"n={data.get('n')}"
    with open(log, "a") as out:  # one short append per line: whole lines across processes
        out.write(f"{event.trigger} {key} {os.getpid()}\n")


def explode(event: Any) -> None:
    raise RuntimeError("this handler always fails")
