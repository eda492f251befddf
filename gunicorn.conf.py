"""gunicorn settings for the token server (read automatically from the working directory).

The server is an I/O-bound proxy: each request mostly waits on CometChat, holding a worker
thread meanwhile. So: threaded workers (gthread) with many threads, enough that a slow
CometChat (500 ms) with hundreds of callers never runs the server out of places to wait and
/healthz still finds a free thread. Chosen by measurement against gevent workers (still
available: ``--worker-class gevent``): see "Benchmarks" in the README.
"""

import os
import shlex
import sys


def _worker_class() -> str:
    """gthread unless ``-k``/``--worker-class`` on the command line or in GUNICORN_CMD_ARGS
    asks for another (to compare: ``token_server.worker.LingeringGeventWorker``, gevent with
    a lingering close; a plain ``gevent`` may reset a connection before its 413 is read)."""
    args = shlex.split(os.environ.get("GUNICORN_CMD_ARGS", "")) + sys.argv[1:]
    chosen = "gthread"
    for i, arg in enumerate(args):
        if arg in ("-k", "--worker-class") and i + 1 < len(args):
            chosen = args[i + 1]
        elif arg.startswith("--worker-class="):
            chosen = arg.split("=", 1)[1]
    return chosen


_chosen = _worker_class()
# gunicorn patches in each worker after the fork, but this file imports the app (requests,
# urllib3, ssl) in the master first: patch before that, or urllib3 keeps blocking ssl
# objects and the deadline code's threading primitives would block every greenlet. Only
# when gunicorn itself loads this file (as "__config__"), never in a test that reads it.
if __name__ == "__config__" and "gevent" in _chosen.lower():
    from gevent import monkey

    monkey.patch_all()
# gunicorn's gevent worker with the lingering close of its gthread worker (token_server/worker.py).
worker_class = "token_server.worker.LingeringGeventWorker" if _chosen == "gevent" else _chosen

from gunicorn.glogging import Logger  # noqa: E402

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

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Callers one worker serves at once. A waiting caller holds a thread (its stack is mostly
# untouched virtual memory: RSS grows by tens of KB per thread) and, while it waits
# upstream, one pooled upstream connection. 2 x 256 per host: 256 callers on a 500 ms
# CometChat still leave threads free for /healthz (see README, "Benchmarks").
threads = int(os.environ.get("GUNICORN_THREADS", "256"))
# Connections one worker keeps (open keep-alive ones included); under gevent, the callers
# it serves at once. Each may hold a pooled upstream socket too: 2 x 500 stays inside the
# usual limit of 1024 open files per process.
worker_connections = 500
# One worker per core: the GIL lets one thread of a worker run Python at a time, so
# more workers than cores only add context switches. WEB_CONCURRENCY overrides.
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
    # In memory, each worker counts alone: N workers let a user through N times the limit.
    if workers > 1 and _settings.ratelimit_storage_uri.startswith("memory://"):
        server.log.warning(
            "RATELIMIT_STORAGE_URI is %s with %d workers: rate limits are counted per worker, so a "
            "caller gets up to %d times each limit; set RATELIMIT_STORAGE_URI=redis://... to share them",
            _settings.ratelimit_storage_uri,
            workers,
            workers,
        )
