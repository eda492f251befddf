"""The import journal: one JSON object a line, appended as each row's outcome lands; it is what
makes an import resumable (nothing lost, nothing imported twice)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

from .files import open_no_follow

Status = Literal["created", "exists", "failed", "invalid"]
DONE: frozenset[str] = frozenset({"created", "exists"})


@dataclass(frozen=True)
class Entry:
    uid: str | None
    status: Status
    line: int
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"uid": self.uid, "status": self.status, "line": self.line, "at": int(time.time())}
        if self.reason:
            record["reason"] = self.reason
        return record


class Journal:
    """The outcomes recorded so far (the last word per uid wins) and the file they go to.

    A row sent but never confirmed (the batch in flight at a crash) is not in it: the rerun
    sends it again, and a row that had landed answers "already exists", which counts as done.
    A torn last line is ignored on reading and fenced off before the next append; a symbolic
    link at the path is refused, never followed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last: dict[str, str] = {}
        self._needs_newline = False
        if path.exists() or path.is_symlink():  # a link is refused, dangling or not
            self._load()

    def _load(self) -> None:
        descriptor = open_no_follow(self.path, os.O_RDONLY)
        with os.fdopen(descriptor, "rb") as handle:
            data = handle.read()
        self._needs_newline = bool(data) and not data.endswith(b"\n")
        for raw in data.splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                continue  # a torn line from a crash: that outcome was never confirmed
            if isinstance(record, dict) and isinstance(record.get("uid"), str):
                self.last[record["uid"]] = str(record.get("status"))

    def is_done(self, uid: str) -> bool:
        return self.last.get(uid) in DONE

    def record(self, entries: Iterable[Entry]) -> None:
        """Append ``entries`` and force them to disk before returning (the runner records each
        batch before sending the next, so after Ctrl-C, a crash or a power cut the journal
        holds every outcome CometChat confirmed)."""
        entries = list(entries)
        if not entries:
            return
        text = "".join(json.dumps(entry.to_json(), ensure_ascii=False) + "\n" for entry in entries)
        if self._needs_newline:
            text = "\n" + text
        descriptor = open_no_follow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        self._needs_newline = False
        for entry in entries:
            if entry.uid is not None:
                self.last[entry.uid] = entry.status
