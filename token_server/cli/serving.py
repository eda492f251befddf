"""``serve [gunicorn options]``: the token server in production, as the Procfile runs it
(:func:`token_server.serving.production.run`, which ``python server.py --production`` calls too)."""

from __future__ import annotations

import click

from ..serving import production
from . import cli


@cli.command(
    "serve",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args: tuple[str, ...]) -> None:
    """Run the token server under gunicorn with its tuned settings (the Procfile's command).

    Reads the server's configuration (environment and ./.env) and refuses to start, naming
    every missing variable, without CometChat credentials (or COMETCHAT_EMULATOR=1) and a
    caller-auth method. Listens on $PORT (8000 by default). Further options go to gunicorn.
    """
    production.run(list(gunicorn_args))
