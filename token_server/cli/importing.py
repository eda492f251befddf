"""``users import``: a CSV or JSON Lines file of existing users into CometChat."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from cometchat.client import MAX_IMPORT_USERS

from ..user_import import BadRow, Importer, Journal, Row, read_rows
from ..user_import.files import check_writable
from ..user_import.pacing import MINUTE_SECONDS, PACE_FRACTION
from ..user_import.report import summary_dict, summary_text, write_failures
from ..user_import.runner import CORE_OPERATIONS_PER_MINUTE, IMPORT_REQUESTS_PER_MINUTE, Summary
from . import Context, Failed, pass_context
from .output import dumps, echo, escape_controls, json_option
from .users import users

JOURNAL_SUFFIX = ".journal.jsonl"
REPORT_SUFFIX = ".failures.json"


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="Default: from the extension (.jsonl/.ndjson, else CSV).",
)
@click.option(
    "--map-ids",
    is_flag=True,
    help="Map each uid/id with CometChat's toCometChatId (cometchat.to_cometchat_uid), "
    "as logins with AUTH_JWT_UID_MAPPING=cometchat do.",
)
@click.option("--dry-run", is_flag=True, help="Check every row locally and say what would be sent; no CometChat call.")
@click.option(
    "--via",
    type=click.Choice(["data-import", "users-api"]),
    default="data-import",
    show_default=True,
    help="data-import: POST /data_import/users, 50 users a request, 60 requests a minute. "
    "users-api: POST /users one by one, under 10,000 a minute (for plans without the import API).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Default: FILE{JOURNAL_SUFFIX}. Rerunning with the same journal resumes.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The failures as JSON. Default: FILE{REPORT_SUFFIX}.",
)
@click.option(
    "--per-minute",
    type=click.FloatRange(min=0, min_open=True),
    help="Send fewer requests a minute than the limit (e.g. to leave core operations to logins).",
)
@click.option(
    "--minute-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=MINUTE_SECONDS,
    show_default=True,
    help="Length of a rate-limit minute: only for an emulator run with a shortened minute.",
)
@click.option(
    "--progress/--no-progress", default=True, help="A progress bar on a terminal (never when stderr is not one)."
)
@json_option
@pass_context
def import_users(
    ctx: Context,
    file: Path,
    fmt: str | None,
    map_ids: bool,
    dry_run: bool,
    via: str,
    journal: Path | None,
    report: Path | None,
    per_minute: float | None,
    minute_seconds: float,
    progress: bool,
    as_json: bool,
) -> None:
    """Import existing users from FILE, resumably.

    CSV: a header row, then columns uid (or id), name, avatar, link, role, metadata (a JSON
    object), tags (separated by |). JSON Lines: one object a line with the same keys (tags a
    list). Each row's outcome is appended to the journal as it lands; run the same command
    again after an interruption and it sends only what is not done. A uid that already
    exists counts as done. Bad rows are reported with their line and never sent.
    """
    rows = list(read_rows(file, fmt=fmt, map_ids=map_ids))  # type: ignore[arg-type]
    journal = Journal(journal or file.with_name(file.name + JOURNAL_SUFFIX))
    if dry_run:
        _dry_run(rows, journal, via, per_minute, as_json)
        return
    report = report or file.with_name(file.name + REPORT_SUFFIX)
    for target in (journal.path, report):  # fail now, not after rows have landed; never through a link
        check_writable(target)
    ceiling = per_minute or (IMPORT_REQUESTS_PER_MINUTE if via == "data-import" else CORE_OPERATIONS_PER_MINUTE)
    try:
        importer = Importer(ctx.client, journal, via=via, per_minute=ceiling, minute_seconds=minute_seconds)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    pending = importer.pending(rows)
    # Rows done, rate and time left, on a terminal only (stderr: stdout stays parseable).
    with tqdm(total=len(pending), unit="user", file=sys.stderr, disable=not (progress and sys.stderr.isatty())) as bar:
        importer.progress = bar.update
        summary = importer.run(pending)
    write_failures(report, summary)
    _print_summary(summary, report, as_json)
    if not summary.ok:
        raise Failed()


def _print_summary(summary: Summary, report: Path, as_json: bool) -> None:
    if as_json:
        echo(dumps({**summary_dict(summary), "report": str(report)}))
    else:
        echo(summary_text(summary, report=report, escape=escape_controls))


def _dry_run(rows: list[Row | BadRow], journal: Journal, via: str, per_minute: float | None, as_json: bool) -> None:
    good = [row for row in rows if isinstance(row, Row)]
    bad = [row for row in rows if isinstance(row, BadRow)]
    todo = [row for row in good if not journal.is_done(row.uid)]
    if via == "data-import":
        requests = math.ceil(len(todo) / MAX_IMPORT_USERS)
        rate = per_minute or IMPORT_REQUESTS_PER_MINUTE
    else:
        requests = len(todo)
        rate = per_minute or CORE_OPERATIONS_PER_MINUTE
    minutes = requests / (rate * PACE_FRACTION)
    result: dict[str, Any] = {
        "rows": len(rows),
        "valid": len(good),
        "invalid": len(bad),
        "done_earlier": len(good) - len(todo),
        "to_send": len(todo),
        "requests": requests,
        "minutes_at_least": round(minutes, 1),
        "invalid_rows": [{"line": row.line, "uid": row.uid, "reason": row.reason} for row in bad],
    }
    if as_json:
        echo(dumps(result))
    else:
        echo(
            f"{len(rows)} rows: {len(good)} valid, {len(bad)} invalid; "
            f"{result['done_earlier']} done in an earlier run.\n"
            f"Would send {len(todo)} users in {requests} request(s) via {via}, "
            f"about {minutes:.1f} minute(s) at the paced rate."
        )
        for row in bad:
            echo(f"  line {row.line}{f' ({row.uid})' if row.uid else ''}: {escape_controls(row.reason)}")
    if bad:
        raise Failed()
