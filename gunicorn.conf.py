"""gunicorn reads this file from the working directory when no ``-c`` is given (``gunicorn server:app``
from the checkout). The settings live in the package, so an installed wheel has them too:
``token_server/serving/gunicorn_config.py``, run here by path (importing it as a module would
import the app before the settings run).

They are the token server's: another app served from this folder (``gunicorn
examples.flask_host:app``, a host app with its own settings and its own emulator fallback) gets
gunicorn's threaded worker instead, with as many threads as the server (``GUNICORN_THREADS``,
256): a caller waiting on CometChat holds a thread, and gunicorn's default (one request at a
time per worker) would serve two callers at once."""

import os
import runpy
import sys

from gunicorn.config import Config

SERVER_APPS = ("server:app", "token_server:create_app()")

# The app gunicorn serves, read by gunicorn's own parser (only when gunicorn loads this file,
# as "__config__"; a test that reads the settings gets them).
_served = Config().parser().parse_known_args(sys.argv[1:])[0].args if __name__ == "__config__" else []
if not _served or _served[0] in SERVER_APPS:
    _here = os.path.dirname(os.path.abspath(__file__))
    globals().update(
        runpy.run_path(os.path.join(_here, "token_server", "serving", "gunicorn_config.py"), run_name=__name__)
    )
else:
    worker_class = "gthread"
    threads = int(os.environ.get("GUNICORN_THREADS") or 256)
