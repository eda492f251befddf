"""gunicorn reads this file from the working directory when no ``-c`` is given (``gunicorn server:app``
from the checkout). The settings live in the package, so an installed wheel has them too:
``token_server/serving/gunicorn_config.py``, run here by path (importing it as a module would
import the app before the settings run)."""

import os
import runpy

_here = os.path.dirname(os.path.abspath(__file__))
globals().update(
    runpy.run_path(os.path.join(_here, "token_server", "serving", "gunicorn_config.py"), run_name=__name__)
)
