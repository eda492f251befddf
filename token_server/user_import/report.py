"""The end of an import: a summary for people and a failure report for programs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from .files import replace_atomically
from .runner import Summary

REASONS_SHOWN = 10


def summary_dict(summary: Summary) -> dict[str, Any]:
    return {
        "created": summary.created,
        "already_existed": summary.existed,
        "skipped_done_earlier": summary.skipped,
        "failed": len(summary.failed),
        "unsent": summary.unsent,
        "requests": summary.requests,
        "rate_limited": summary.rate_limited,
        "stopped": summary.stopped,
    }


def write_failures(path: Path, summary: Summary) -> None:
    """``{"summary": {...}, "failures": [{"line", "uid", "status", "reason"}]}``, replaced
    atomically (a reader never sees half a report; a symbolic link there is replaced, never
    followed)."""
    failures = [
        {"line": entry.line, "uid": entry.uid, "status": entry.status, "reason": entry.reason}
        for entry in sorted(summary.failed, key=lambda entry: entry.line)
    ]
    body = json.dumps({"summary": summary_dict(summary), "failures": failures}, indent=2, ensure_ascii=False)
    replace_atomically(path, body + "\n")


def summary_text(summary: Summary, *, report: Path | None, escape: Callable[[str], str] = str) -> str:
    """The summary for people; ``escape`` makes a row's reason safe to print (one line, no
    terminal escapes: the reason may quote what CometChat or the file said)."""
    lines = [
        f"created: {summary.created}",
        f"already existed: {summary.existed}",
        f"done in an earlier run: {summary.skipped}",
        f"failed: {len(summary.failed)}",
    ]
    for entry in sorted(summary.failed, key=lambda entry: entry.line)[:REASONS_SHOWN]:
        lines.append(f"  line {entry.line}{f' ({entry.uid})' if entry.uid else ''}: {escape(entry.reason or '')}")
    if len(summary.failed) > REASONS_SHOWN:
        lines.append(f"  ... {len(summary.failed) - REASONS_SHOWN} more")
    if summary.unsent:
        lines.append(f"not sent: {summary.unsent}")
    if summary.stopped:
        lines.append(f"stopped: {summary.stopped}. Run the same command again to resume.")
    if report is not None and summary.failed:
        lines.append(f"failures written to {report}")
    return "\n".join(lines)
