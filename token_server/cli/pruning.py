"""``tokens prune --older-than 30d (UID... | --all)``: revoke old tokens, paced and resumable."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from cometchat import validation

from ..config.sessions import parse_duration
from ..devices.prune import DEFAULT_PER_MINUTE, PruneJournal, Pruner, PruneStopped
from . import Context, Failed, pass_context
from .output import emit, json_option
from .tokens import tokens

DEFAULT_JOURNAL = Path("tokens-prune.journal.jsonl")


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter("a duration like 30d, 12h, 90m or seconds") from None


@tokens.command("prune")
@click.argument("uids", nargs=-1)
@click.option("--older-than", required=True, callback=_duration, help="Revoke tokens older than this (30d, 12h, s).")
@click.option("--all", "all_users", is_flag=True, help="Every user of the app (CometChat's user list).")
@click.option(
    "--per-minute",
    type=click.FloatRange(min=1, max=20_000),
    default=DEFAULT_PER_MINUTE,
    show_default=True,
    help="CometChat calls a minute (listings and revokes share the 20,000 a minute of non-core operations).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_JOURNAL,
    show_default=True,
    help="Finished uids; rerunning with the same journal resumes. Delete it to start over.",
)
@click.option("--dry-run", is_flag=True, help="List and count what would be revoked; revoke nothing.")
@json_option
@pass_context
def prune(
    ctx: Context,
    uids: tuple[str, ...],
    older_than: float,
    all_users: bool,
    per_minute: float,
    journal: Path,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Revoke tokens older than --older-than, read from CometChat's own token list (createdAt),
    for the UIDS given or --all users; the devices that held them are forgotten too."""
    if bool(uids) == all_users:
        raise click.UsageError("give UIDs or --all (not both)")
    checked = [validation.normalize_uid(uid) for uid in uids]  # a bad uid is refused before any call
    client = ctx.client
    if all_users:
        checked = [user.uid for user in client.iter_users(per_page=1000)]
    pruner = Pruner(
        client,
        PruneJournal(journal),
        older_than=older_than,
        sessions=ctx.sessions,
        per_minute=per_minute,
        dry_run=dry_run,
    )
    with tqdm(total=len(checked), unit="user", disable=as_json, file=click.get_text_stream("stderr")) as bar:
        try:
            summary = pruner.run(checked, bar.update)
        except PruneStopped as exc:
            click.echo(f"stopped: {exc}", err=True)
            raise Failed() from exc
    result = {
        "users": summary.users,
        "skipped": summary.skipped,
        ("wouldRevoke" if dry_run else "revoked"): summary.revoked,
        "kept": summary.kept,
        "missing": summary.missing,
    }
    emit(result, as_json=as_json)
    if summary.missing:
        raise Failed()
