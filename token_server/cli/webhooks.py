"""``webhooks dead-letters / replay``: the events whose handlers kept failing, kept in the
device store (``SESSION_STORE_URI``) until an operator replays them."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ..config import ConfigError
from ..webhooks import EventStore, QueuedEvent, StoreError, event_store_for
from ..webhooks.store import MEMORY_URI
from . import EXIT_FAILED, Context, Failed, _fail, cli, pass_context
from .output import echo, emit, json_option

DEAD_LETTER_COLUMNS = ("id", "trigger", "receivedAt", "deadAt", "attempts", "error")


def _store(ctx: Context) -> EventStore:
    uri = ctx.settings.session_store_uri
    if uri == MEMORY_URI:
        raise ConfigError(
            ["the webhook events are in the server's memory (SESSION_STORE_URI=memory://): nothing to read from here"]
        )
    return event_store_for(uri)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _row(event: QueuedEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "trigger": event.trigger,
        "receivedAt": _iso(event.received_at),
        "deadAt": _iso(event.dead_at),
        "attempts": event.attempts,
        "error": event.error,
    }


@cli.group()
def webhooks() -> None:
    """The webhook events whose handlers kept failing (dead letters): list them, replay them."""


@webhooks.command("dead-letters")
@json_option
@pass_context
def dead_letters(ctx: Context, as_json: bool) -> None:
    """List the dead letters, oldest first (never their payloads: they may hold messages)."""
    try:
        found = _store(ctx).dead_letters()
    except StoreError as exc:
        _fail(f"the event store did not answer ({exc})", EXIT_FAILED)
        return
    emit([_row(event) for event in found], as_json=as_json, columns=DEAD_LETTER_COLUMNS)


@webhooks.command("replay")
@click.argument("event_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@json_option
@pass_context
def replay(ctx: Context, event_id: str | None, replay_all: bool, as_json: bool) -> None:
    """Put a dead letter (by ID, or every one with --all) back in the queue: a running server's
    worker hands it to the handlers again."""
    if (event_id is None) == (not replay_all):
        raise click.UsageError("name one event ID, or --all")
    store = _store(ctx)
    try:
        ids = [event.id for event in store.dead_letters()] if replay_all else [event_id or ""]
        replayed = [found for found in ids if store.replay(found)]
    except StoreError as exc:
        _fail(f"the event store did not answer ({exc})", EXIT_FAILED)
        return
    if as_json:
        emit({"replayed": replayed}, as_json=True)
    else:
        echo(f"replayed {len(replayed)} event(s)" + (f": {', '.join(replayed)}" if replayed else ""))
    if not replay_all and not replayed:
        echo(f"error: no dead letter {event_id}", err=True)
        raise Failed()
