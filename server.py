"""The CometChat token server's entry point.

Three ways to start it:

* ``python server.py``: the embedded default. Without CometChat credentials it runs on
  the built-in emulator, in dev mode, on ``$PORT`` or 3000, bound to 127.0.0.1.
* ``python server.py --production [gunicorn options]`` (the Procfile): production, gunicorn
  with ``gunicorn.conf.py``. It refuses to start without CometChat credentials (or
  ``COMETCHAT_EMULATOR=1``) and a caller-auth method (or ``TOKEN_SERVER_DEV=1``).
* ``gunicorn server:app``: the same, except that gunicorn itself reads ``WEB_CONCURRENCY``
  before any of this project's code runs, and dies with a traceback on a non-number there;
  ``--production`` checks it first and refuses with the one configuration message instead.

The app itself is built by :func:`token_server.create_app`. Nothing heavy is imported at the
top of this file: under ``--production`` gunicorn's config sets up the metrics folder, which
must happen before the app's modules (prometheus_client) are imported.
"""

from __future__ import annotations

import os
import sys

DEFAULT_PORT = 3000
HOST = "127.0.0.1"  # local only: dev mode must not be reachable from the network


def main() -> None:
    import werkzeug.serving
    from werkzeug.serving import make_server

    from token_server import configure_logging, create_app
    from token_server.config import ConfigError, load_dotenv_file, load_settings
    from token_server.ops.banner import startup_block

    load_dotenv_file()
    configure_logging()
    try:
        settings = load_settings(os.environ, mode="embedded")
    except ConfigError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        sys.exit(2)
    port = settings.port or DEFAULT_PORT  # PORT, checked by load_settings
    application = create_app(settings, announce=False)  # the block below says it all
    # werkzeug's server without run_simple's banner and development-server warning: the block
    # printed below is the only start-up output. A port in use: werkzeug says so and exits 1.
    # werkzeug colours 4xx/5xx request lines with ANSI codes; our log filter escapes control
    # characters, which would print them as literal "\x1b[31m": plain lines instead.
    werkzeug.serving._log_add_style = False
    server = make_server(HOST, port, application, threaded=True)
    print(startup_block(settings, f"http://{HOST}:{port}"), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def production(gunicorn_args: list[str]) -> None:
    """gunicorn on ``server:app`` with ``gunicorn.conf.py``, after the one check gunicorn would
    otherwise make first, and badly: ``WEB_CONCURRENCY`` as a whole number."""
    try:
        int(os.environ.get("WEB_CONCURRENCY") or "1")  # exactly what gunicorn's own default does
    except ValueError:
        _refuse()
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "server:app", *gunicorn_args]
    run()


def _refuse() -> None:
    """Print the one configuration message (every problem, not only this one) and exit 3,
    as gunicorn.conf.py does; importing the app is harmless here, nothing will be served."""
    from token_server.config import ConfigError, load_dotenv_file, load_settings

    load_dotenv_file()
    try:
        load_settings(os.environ, mode="production")
    except ConfigError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(3) from None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--production"]:
        production(sys.argv[2:])
    else:
        main()
else:
    # Imported by gunicorn (``server:app``): the production app, from the environment.
    from token_server import create_app

    app = create_app()
