"""``python -m token_server.serving [gunicorn options]``: production, as the Procfile runs it."""

import sys

from .production import run

run(sys.argv[1:])
