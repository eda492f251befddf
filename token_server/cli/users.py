"""``users get / list / create / update / deactivate / reactivate / delete``."""

from __future__ import annotations

import itertools
import json
from typing import Any, Callable, Sequence

import click

from cometchat import CometChatError
from cometchat.client import MAX_REACTIVATE_UIDS
from cometchat.validation import UNSETTABLE, uid_or_none

from .. import lifecycle
from . import Context, Failed, _error_text, cli, pass_context
from .output import emit, json_option

USER_COLUMNS = ("uid", "name", "role", "status", "tags", "createdAt")
DETAIL_COLUMNS = ("uid", "name", "avatar", "link", "role", "status", "tags", "metadata", "createdAt", "updatedAt")
RESULT_COLUMNS = ("uid", "result")


@cli.group()
def users() -> None:
    """Read, create, change and remove users; import existing users."""


def _metadata(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        raise click.BadParameter('must be a JSON object, e.g. \'{"plan": "pro"}\'') from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object")
    return parsed


def _profile_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option("--avatar", help="Avatar URL (http or https)."),
            click.option("--link", help="Profile URL (http or https)."),
            click.option("--role", help="The user's role."),
            click.option("--metadata", callback=_metadata, help="A JSON object."),
            click.option("--tag", "tags", multiple=True, help="A tag (repeat for several)."),
        )
    ):
        function = option(function)
    return function


@users.command("get")
@click.argument("uid")
@json_option
@pass_context
def get_user(ctx: Context, uid: str, as_json: bool) -> None:
    """Show one user."""
    emit(ctx.client.get_user(uid).to_dict(), as_json=as_json, columns=DETAIL_COLUMNS)


@users.command("list")
@click.option("--search", help="Only users whose uid or name holds this text.")
@click.option("--status", type=click.Choice(["available", "offline"]))
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many users.")
@json_option
@pass_context
def list_users(ctx: Context, search: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List users, newest first (deactivated users are not listed)."""
    found = ctx.client.iter_users(per_page=min(limit, 1000), search_key=search, status=status)
    emit([user.to_dict() for user in itertools.islice(found, limit)], as_json=as_json, columns=USER_COLUMNS)


@users.command("create")
@click.argument("uid")
@click.option("--name", required=True, help="The display name.")
@_profile_options
@click.option("--with-token", is_flag=True, help="Also mint the user's first auth token (same call).")
@json_option
@pass_context
def create_user(
    ctx: Context, uid: str, name: str, tags: tuple[str, ...], with_token: bool, as_json: bool, **profile: Any
) -> None:
    """Create a user."""
    user = ctx.client.create_user(uid, name, tags=list(tags) or None, with_auth_token=with_token, **profile)
    ctx.deprovisioned.clear(user.uid)  # created again on purpose: logins may create it from now on
    emit(
        user.to_dict(include_token=with_token),
        as_json=as_json,
        columns=DETAIL_COLUMNS + (("authToken",) if with_token else ()),
    )


@users.command("update")
@click.argument("uid")
@click.option("--name", help="The display name.")
@_profile_options
@click.option("--clear-tags", is_flag=True, help="Remove every tag.")
@click.option("--unset", multiple=True, type=click.Choice(UNSETTABLE), help="Remove this field (repeat for several).")
@json_option
@pass_context
def update_user(
    ctx: Context,
    uid: str,
    name: str | None,
    tags: tuple[str, ...],
    clear_tags: bool,
    unset: tuple[str, ...],
    as_json: bool,
    **profile: Any,
) -> None:
    """Change some fields of a user's profile."""
    if clear_tags and tags:
        raise click.UsageError("--clear-tags and --tag exclude each other")
    new_tags = [] if clear_tags else (list(tags) or None)
    if name is None and new_tags is None and not unset and all(value is None for value in profile.values()):
        raise click.UsageError("nothing to change: give at least one option")
    user = ctx.client.update_user(uid, name=name, tags=new_tags, unset=unset, **profile)
    emit(user.to_dict(), as_json=as_json, columns=DETAIL_COLUMNS)


def _shown(uid: str) -> str:
    """The uid as CometChat stores it; an invalid one as given (its row reports why)."""
    return uid_or_none(uid) or uid
def _deprovisioned(ctx: Context, uid: str, *, permanent: bool) -> str:
    """Deprovision ``uid`` (:func:`_deprovision`), then forget the devices its records held
    before (read first: a login that stores a token meanwhile keeps its record)."""
    before = ctx.sessions.snapshot(_shown(uid))
    outcome = _deprovision(ctx, uid, permanent=permanent)
    ctx.sessions.forget_all(_shown(uid), before)
    return outcome


def _deprovision(ctx: Context, uid: str, *, permanent: bool) -> str:
    """The route's steps: the tombstone first (token_server/deprovisioned.py), then upstream."""
    if uid_or_none(uid) is not None:
        ctx.deprovisioned.mark(_shown(uid), "permanent" if permanent else "deactivated")
    return lifecycle.deprovision(ctx.client, uid, permanent=permanent)


def _each(uids: Sequence[str], action: Callable[[str], str], *, as_json: bool) -> None:
    """Run ``action`` for every uid, report each outcome, exit 1 if any failed."""
    results: list[dict[str, Any]] = []
    for uid in uids:
        try:
            results.append({"uid": _shown(uid), "ok": True, "result": action(uid)})
        except CometChatError as exc:
            results.append({"uid": _shown(uid), "ok": False, "result": f"failed: {_error_text(exc)}"})
    emit(results, as_json=as_json, columns=RESULT_COLUMNS)
    if not all(result["ok"] for result in results):
        raise Failed()


@users.command("deactivate")
@click.argument("uids", nargs=-1, required=True)
@json_option
@pass_context
def deactivate(ctx: Context, uids: tuple[str, ...], as_json: bool) -> None:
    """Sign users out everywhere (revoke every token), then deactivate them.

    The same steps, in the same order, as DELETE /api/cometchat/users/<uid>; a uid that is
    already deactivated or unknown counts as done."""
    _each(uids, lambda uid: _deprovisioned(ctx, uid, permanent=False), as_json=as_json)


@users.command("reactivate")
@click.argument("uids", nargs=-1, required=True)
@click.option(
    "--keep-tokens",
    is_flag=True,
    help="Let the tokens the users held before work again (by default they are revoked after reactivating).",
)
@json_option
@pass_context
def reactivate(ctx: Context, uids: tuple[str, ...], keep_tokens: bool, as_json: bool) -> None:
    """Reactivate deactivated users (CometChat's PUT /users), then revoke their old tokens.

    A uid that was not deactivated (or does not exist) is reported as not reactivated."""
    results: list[dict[str, Any]] = []
    for start in range(0, len(uids), MAX_REACTIVATE_UIDS):
        chunk = [_shown(uid) for uid in uids[start : start + MAX_REACTIVATE_UIDS]]
        try:
            done = set(lifecycle.reactivate(ctx.client, chunk, keep_tokens=keep_tokens))
        except CometChatError as exc:
            results += [{"uid": uid, "ok": False, "result": f"failed: {_error_text(exc)}"} for uid in chunk]
            continue
        for uid in chunk:
            ok = uid in done
            if ok:
                ctx.deprovisioned.clear(uid)  # reactivated on purpose: its tombstone ends
            results.append(
                {"uid": uid, "ok": ok, "result": "reactivated" if ok else "not reactivated (not deactivated?)"}
            )
    emit(results, as_json=as_json, columns=RESULT_COLUMNS)
    if not all(result["ok"] for result in results):
        raise Failed()


@users.command("delete")
@click.argument("uids", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_context
def delete(ctx: Context, uids: tuple[str, ...], yes: bool, as_json: bool) -> None:
    """Delete users FOR GOOD: revoke every token, then delete permanently.

    Their messages and memberships go too, and each uid becomes free again. Same steps as
    DELETE /api/cometchat/users/<uid>?permanent=true; an unknown uid counts as done."""
    if not yes:
        if not click.get_text_stream("stdin").isatty():
            raise click.UsageError("deleting for good needs --yes when not run from a terminal")
        click.confirm(f"Delete {len(uids)} user(s) permanently?", abort=True)
    _each(uids, lambda uid: _deprovisioned(ctx, uid, permanent=True), as_json=as_json)
