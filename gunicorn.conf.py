"""gunicorn settings for the token server (read automatically from the working directory).

The server is an I/O-bound proxy: each request mostly waits on CometChat, so threaded
workers (gthread) serve many requests per process cheaply.
"""

import os
import sys

from gunicorn.glogging import Logger

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from token_server.config import (  # noqa: E402
    WORKER_TIMEOUT,
    ConfigError,
    load_dotenv_file,
    load_settings,
)
from token_server.redaction import install_redaction  # noqa: E402

# .env for local runs; it never overrides the real environment.
load_dotenv_file()

# Refuse to start, naming every missing variable, before any worker boots.
try:
    _settings = load_settings(os.environ, mode="production")
except ConfigError as exc:
    print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None

# Production listens on every interface; dev mode mints for anyone who asks: this machine
# only (the app refuses remote clients too).
_host = "127.0.0.1" if _settings.dev else "0.0.0.0"  # noqa: S104
bind = f"{_host}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# The embedded emulator keeps its state in one process: one worker then. For several
# workers, run `python -m cometchat.emulator` alone and point COMETCHAT_BASE_URL at it.
workers = 1 if _settings.emulator else int(os.environ.get("WEB_CONCURRENCY", "2"))
# Above the client's total deadline (COMETCHAT_DEADLINE, 10 s by default, checked against this
# value at start): a slow CometChat answers a 504 long before gunicorn would kill the worker.
timeout = WORKER_TIMEOUT
# On SIGTERM, finish in-flight requests for up to this long, then exit.
graceful_timeout = 20
# Keep connections from a load balancer open between requests.
keepalive = 5
# Access log on stdout: method, path (never the query string), status, size, time.
# Tokens travel only in bodies and the Authorization header, which are never logged.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"


class RedactingLogger(Logger):
    """gunicorn's logger with the app's log filter on its handlers from the first line on
    (the master's too): secrets masked, control characters escaped. The path in an access line
    is percent-decoded, so without it ``/x%0aERROR...`` would write a line of its own."""

    def setup(self, cfg):
        super().setup(cfg)
        install_redaction(_settings.secrets)


logger_class = RedactingLogger
loglevel = os.environ.get("LOG_LEVEL", "info")
# Forwarded headers are trusted only through TRUSTED_PROXIES (ProxyFix in the app).
forwarded_allow_ips = "127.0.0.1"
# No control socket: several servers on one host (tests, benchmarks) would share its path.
control_socket_disable = True


def on_starting(server):
    if _settings.dev:
        server.log.warning("DEV MODE: listening on %s only (this machine); never expose this server", bind)
    # In memory, each worker counts alone: N workers let a user through N times the limit.
    if workers > 1 and _settings.ratelimit_storage_uri.startswith("memory://"):
        server.log.warning(
            "RATELIMIT_STORAGE_URI is %s with %d workers: rate limits are counted per worker, so a "
            "caller gets up to %d times each limit; set RATELIMIT_STORAGE_URI=redis://... to share them",
            _settings.ratelimit_storage_uri,
            workers,
            workers,
        )
