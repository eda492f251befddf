"""The CometChat token server's entry point.

Two ways to start it:

* ``python server.py``: the embedded default. Without CometChat credentials it runs on
  the built-in emulator, in dev mode, on ``$PORT`` or 3000, bound to 127.0.0.1.
* ``gunicorn server:app`` (the Procfile): production. It refuses to start without
  CometChat credentials (or ``COMETCHAT_EMULATOR=1``) and a caller-auth method (or
  ``TOKEN_SERVER_DEV=1``).

The app itself is built by :func:`token_server.create_app`.
"""

from __future__ import annotations

import os
import sys

import werkzeug.serving
from werkzeug.serving import make_server

from token_server import configure_logging, create_app
from token_server.banner import startup_block
from token_server.config import ConfigError, load_dotenv_file, load_settings

DEFAULT_PORT = 3000
HOST = "127.0.0.1"  # local only: dev mode must not be reachable from the network


def main() -> None:
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


if __name__ == "__main__":
    main()
else:
    # Imported by gunicorn (``server:app``): the production app, from the environment.
    app = create_app()
