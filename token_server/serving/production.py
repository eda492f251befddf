"""The one production start: gunicorn on the app factory with the package's gunicorn settings.

``python server.py --production`` (the Procfile) and ``cometchat-token-server serve`` both end
here, so a checkout and an installed wheel run the same thing. This process has imported the
package (and with it the app's modules, prometheus_client among them); the gunicorn settings
must run before those (they choose the Prometheus multiprocess folder, which prometheus_client
reads once, when it is imported). So after its check it replaces itself with a fresh
interpreter running gunicorn, which loads the settings by path before anything of the app.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The app factory, called by gunicorn in each worker; importable from an installed wheel.
APP = "token_server:create_app()"
CONFIG = Path(__file__).with_name("gunicorn_config.py")


def gunicorn_argv(gunicorn_args: list[str]) -> list[str]:
    """The fresh interpreter's command line: our settings first, so options given after win."""
    return [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), APP, *gunicorn_args]


def run(gunicorn_args: list[str]) -> None:
    """gunicorn with the package's settings, after the one check gunicorn would otherwise make
    first, and badly: ``WEB_CONCURRENCY`` as a whole number. Never returns."""
    try:
        int(os.environ.get("WEB_CONCURRENCY") or "1")  # exactly what gunicorn's own default does
    except ValueError:
        _refuse()
    argv = gunicorn_argv(gunicorn_args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 - our own interpreter and gunicorn, no shell


def _refuse() -> None:
    """Print the one configuration message (every problem, not only this one) and exit 3, as
    the gunicorn settings do; nothing will be served from this process."""
    from token_server.config import ConfigError, load_dotenv_file, load_settings

    load_dotenv_file()
    try:
        load_settings(os.environ, mode="production")
    except ConfigError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(3) from None
