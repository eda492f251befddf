"""``tokens mint / list / revoke / flush``."""

from __future__ import annotations

import click

from cometchat.validation import normalize_uid

from . import Context, cli, pass_context
from .output import emit, json_option

TOKEN_COLUMNS = ("uid", "authToken", "createdAt")


@cli.group()
def tokens() -> None:
    """Mint, list and revoke users' auth tokens (the credentials CometChat.login takes)."""


@tokens.command("mint")
@click.argument("uid")
@json_option
@pass_context
def mint(ctx: Context, uid: str, as_json: bool) -> None:
    """Mint a fresh auth token for an existing user (one token per device)."""
    token = ctx.client.create_auth_token(uid, force=True)
    emit(
        {"uid": token.uid, "authToken": token.auth_token, "createdAt": token.created_at},
        as_json=as_json,
        columns=TOKEN_COLUMNS,
    )


@tokens.command("list")
@click.argument("uid")
@json_option
@pass_context
def list_tokens(ctx: Context, uid: str, as_json: bool) -> None:
    """List a user's tokens, newest first (only the newest 100 stay valid)."""
    found = [
        {"uid": t.uid, "authToken": t.auth_token, "createdAt": t.created_at} for t in ctx.client.iter_auth_tokens(uid)
    ]
    emit(found, as_json=as_json, columns=TOKEN_COLUMNS)


@tokens.command("revoke")
@click.argument("uid")
@click.argument("auth_token")
@json_option
@pass_context
def revoke(ctx: Context, uid: str, auth_token: str, as_json: bool) -> None:
    """Revoke one token (log one device out)."""
    ctx.client.delete_auth_token(uid, auth_token)
    ctx.sessions.forget_token(normalize_uid(uid), auth_token)
    emit({"uid": normalize_uid(uid), "revoked": "token"}, as_json=as_json, columns=("uid", "revoked"))


@tokens.command("flush")
@click.argument("uid")
@json_option
@pass_context
def flush(ctx: Context, uid: str, as_json: bool) -> None:
    """Revoke every token of a user (sign out everywhere)."""
    before = ctx.sessions.snapshot(normalize_uid(uid))
    ctx.client.flush_auth_tokens(uid)
    ctx.sessions.forget_all(normalize_uid(uid), before)
    emit({"uid": normalize_uid(uid), "revoked": "all"}, as_json=as_json, columns=("uid", "revoked"))
