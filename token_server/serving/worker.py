"""The Procfile's worker class (gunicorn.conf.py): uvicorn's gunicorn worker with our protocol
(:mod:`.protocol`) and the app behind :class:`.asgi.BodyFirst`. Only settings and the two
public hooks gunicorn and uvicorn-worker document: ``CONFIG_KWARGS`` and ``load_wsgi``."""

from __future__ import annotations

from uvicorn_worker import UvicornWorker

from ..ops.gc_freeze import freeze_loaded_objects
from ..webhooks.flask_route import WEBHOOK_PATH
from ..webhooks.receiver import MAX_BODY as WEBHOOK_MAX_BODY
from .access import with_access_log
from .asgi import BodyFirst
from .bounds import Bounds
from .protocol import BoundedH11Protocol

# h11 answers 400 to a head past this; ours answers 431 past Bounds.max_head_bytes, checked after
# each read (at most 256 KiB), so h11's own limit is set beyond any one read.
H11_INCOMPLETE_LIMIT = 1024 * 1024


class TokenServerWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "asyncio",
        "http": BoundedH11Protocol,
        "lifespan": "off",
        "access_log": False,  # gunicorn's own line, written by .access
        "proxy_headers": False,  # the app trusts forwarded headers itself (TRUSTED_PROXIES)
        "h11_max_incomplete_event_size": H11_INCOMPLETE_LIMIT,
    }

    def init_process(self) -> None:
        bounds = Bounds.from_env()
        BoundedH11Protocol.bounds = bounds
        BoundedH11Protocol.max_open = bounds.max_waiting + self.cfg.worker_connections
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # The read cap is the app's MAX_CONTENT_LENGTH (callers' bodies, 64 KB), except on the
        # webhook receiver's path, which takes up to its own 1 MiB (its own 413 past it): a
        # waiting connection elsewhere never holds more than the app would accept.
        app_cap = (getattr(self.wsgi, "config", None) or {}).get("MAX_CONTENT_LENGTH") or WEBHOOK_MAX_BODY
        self.wsgi = BodyFirst(
            with_access_log(self.wsgi, self.log),
            threads=self.cfg.threads,
            bounds=BoundedH11Protocol.bounds,
            max_body=app_cap,
            path_caps={WEBHOOK_PATH: max(app_cap, WEBHOOK_MAX_BODY)},
        )
        freeze_loaded_objects()
