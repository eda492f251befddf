"""The operator's command line: ``python -m token_server.cli users|tokens ...`` (exit codes: 0
done, 1 some rows or calls failed, 2 bad usage or configuration)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from cometchat import CometChatClient, CometChatError, UpstreamAuthError, ValidationError

from ..config import ConfigError, Settings, load_dotenv_file, load_settings
from ..deprovisioned import Deprovisioned
from ..devices import DeviceTokens
from ..user_import import InputError
from .output import echo, escape_controls

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EMBEDDED_NOTE = (
    "Without CometChat credentials this runs against an embedded emulator that lives only as long as the "
    "command: nothing persists between commands. For a persistent one, run `python -m cometchat.emulator` "
    "and set COMETCHAT_BASE_URL=http://127.0.0.1:8787/v3 and COMETCHAT_API_KEY (any non-empty value)."
)


class Failed(Exception):
    """Some rows or calls failed; what failed was printed already (exit code 1)."""


class _Cli(click.Group):
    """Turns the errors every command may meet into a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Failed:
            sys.exit(EXIT_FAILED)
        except (ConfigError, InputError) as exc:
            _fail(str(exc), EXIT_USAGE)
        except OSError as exc:  # a journal or report path that cannot be written
            _fail(f"{exc.filename or 'file'}: {exc.strerror or exc}", EXIT_USAGE)
        except UpstreamAuthError as exc:
            _fail(f"CometChat rejected the REST key ({exc.code}): check COMETCHAT_API_KEY", EXIT_USAGE)
        except CometChatError as exc:
            # Refused by our own checks (no status): bad usage; else the upstream's failure.
            refused_here = isinstance(exc, ValidationError) and exc.status is None
            _fail(_error_text(exc), EXIT_USAGE if refused_here else EXIT_FAILED)


def _fail(message: str, code: int) -> None:
    echo(f"error: {escape_controls(message)}", err=True)
    sys.exit(code)


def _error_text(exc: CometChatError) -> str:
    details = "; ".join(f"{key}: {' '.join(map(str, messages))}" for key, messages in exc.details.items())
    return str(exc) + (f" ({details})" if details else "")


def cli_settings() -> Settings:
    load_dotenv_file()
    return load_settings(os.environ, mode="embedded")


def build_client(settings: Settings | None = None) -> CometChatClient:
    """The client the server would use, from the same environment and ``.env``.

    Why a console program of its own (click, which Flask already brings) and not Flask's
    ``flask --app server`` CLI: that one builds the whole web app first, so it would demand
    caller authentication the CLI never uses, and it looks for ``.env`` in parent folders, where
    this project reads only the working directory's. Here the configuration is exactly the
    server's (the same ``load_settings``), reduced to what the CLI needs: the CometChat client."""
    from .. import wiring  # the server's own wiring, embedded emulator included

    client, emulator = wiring.build_client(settings or cli_settings())
    if emulator is not None:
        echo("note: no CometChat credentials, so an embedded emulator: nothing persists (see --help)", err=True)
    return client


class Context:
    """Holds the client, built on first use (``--dry-run`` and ``--help`` never build it)."""

    def __init__(self) -> None:
        self._client: CometChatClient | None = None
        self._settings: Settings | None = None
        self._sessions: DeviceTokens | None = None
        self._deprovisioned: Deprovisioned | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = cli_settings()
        return self._settings

    @property
    def client(self) -> CometChatClient:
        if self._client is None:
            self._client = build_client(self.settings)
        return self._client

    @property
    def sessions(self) -> DeviceTokens:
        """The server's device sessions (its store and key): what the CLI revokes, it forgets there too."""
        if self._sessions is None:
            from ..wiring import build_device_tokens

            self._sessions = build_device_tokens(self.settings)
        return self._sessions

    @property
    def deprovisioned(self) -> Deprovisioned:
        """The server's tombstones of deleted users: the CLI's deletes write them, its
        re-creations and reactivations end them, as the routes do."""
        if self._deprovisioned is None:
            from ..wiring import build_deprovisioned

            self._deprovisioned = build_deprovisioned(self.settings)
        return self._deprovisioned


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group(cls=_Cli, epilog=EMBEDDED_NOTE)
def cli() -> None:
    """Manage CometChat users and auth tokens, and import existing users.

    Reads the server's configuration: COMETCHAT_APP_ID, COMETCHAT_REGION and COMETCHAT_API_KEY
    (or COMETCHAT_BASE_URL), from the environment or ./.env. The REST key is never printed.
    Exit codes: 0 done, 1 some rows or calls failed, 2 bad usage or configuration.
    """


CONSOLE_SCRIPT = "cometchat-token-server"
MODULE_FORM = "python -m token_server.cli"


def main(prog_name: str = CONSOLE_SCRIPT) -> None:
    """The console script; ``python -m token_server.cli`` passes its own name, so ``--help``
    shows the command the operator actually typed."""
    cli(prog_name=prog_name)


# The command groups register themselves on ``cli``.
from . import importing, pruning, tokens, users, webhooks  # noqa: E402, F401
