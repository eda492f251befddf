"""gunicorn settings for the token server, given to gunicorn by path (``-c .../gunicorn_config.py``:
what ``python server.py --production`` and ``cometchat-token-server serve`` pass; the repository's
``gunicorn.conf.py`` runs this file, for a bare ``gunicorn server:app`` from the checkout), so an
installed wheel has them too.

gunicorn manages the processes; each worker is uvicorn's (``uvicorn-worker``): one event loop
owns every connection, with a time limit on each request's head, its body and each write, and
caps on open and waiting connections; the Flask app runs in a pool of threads once a request
has arrived whole (token_server/serving/). Chosen by measurement against gunicorn's gthread,
its asgi worker and a buffering proxy: see docs/deploying.md, "Connection layer".
"""

import os
import sys

from token_server.serving import gunicorn_setup  # noqa: E402

# Before anything imports prometheus_client (the app's modules below do).
gunicorn_setup.prepare_metrics_dir()

from token_server.config import (  # noqa: E402
    WORKER_TIMEOUT,
    ConfigError,
    load_dotenv_file,
    load_settings,
)
from token_server.ops.metrics import mark_process_dead  # noqa: E402
from token_server.serving.bounds import HEAD_TIMEOUT, MAX_WAITING  # noqa: E402

# .env for local runs; it never overrides the real environment.
load_dotenv_file()

# Refuse to start, naming every missing variable, before any worker boots.
try:
    _settings = load_settings(os.environ, mode="production")
except ConfigError as exc:
    print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None

worker_class = "token_server.serving.worker.TokenServerWorker"
# GUNICORN_HEAD_TIMEOUT and GUNICORN_MAX_WAITING, the connection layer's bounds, are read by each
# worker from the environment (token_server/serving/bounds.py) and checked above with the rest.

# Production listens on every interface; dev mode mints for anyone who asks: this machine
# only (the app refuses remote clients too).
_host = "127.0.0.1" if _settings.dev else "0.0.0.0"  # noqa: S104
bind = f"{_host}:{_settings.port or 8000}"  # PORT, checked at start
# Callers one worker serves at once: the app's thread pool. A waiting caller holds a thread
# (its stack is mostly untouched virtual memory: RSS grows by tens of KB per thread) and, while
# it waits upstream, one pooled upstream connection. 256 callers on a 500 ms CometChat still
# leave threads free for /healthz (see docs/benchmarks.md). Connections waiting for their
# request hold no thread.
threads = _settings.gunicorn_threads or 256  # GUNICORN_THREADS, checked at start
# Connections past the waiting ones a worker keeps open (requests in service, kept-alive
# connections between requests); past GUNICORN_MAX_WAITING + this, a new one is closed.
worker_connections = 1000
# The open-files limit these caps need, raised now (up to the hard limit) or start-up refused.
_max_waiting = _settings.gunicorn_max_waiting or MAX_WAITING
try:
    _open_files = gunicorn_setup.ensure_open_files(
        _max_waiting + worker_connections + threads + gunicorn_setup.SPARE_FILES
    )
except gunicorn_setup.OpenFilesTooLow as exc:
    print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None

# One worker per core: the GIL lets one thread of a worker run Python at a time, so
# more workers than cores only add context switches. WEB_CONCURRENCY overrides.
# The embedded emulator keeps its state in one process: one worker then. For several
# workers, run `python -m cometchat.emulator` alone and point COMETCHAT_BASE_URL at it.
workers = 1 if _settings.emulator else (_settings.web_concurrency or 2)  # WEB_CONCURRENCY, checked
# Above the client's total deadline (COMETCHAT_DEADLINE, 10 s by default, checked against this
# value at start): a slow CometChat answers a 504 long before gunicorn would kill the worker.
timeout = WORKER_TIMEOUT
# On SIGTERM, finish in-flight requests for up to this long, then exit.
graceful_timeout = 20
# Keep connections from a load balancer open between requests.
keepalive = 5
# Access log on stdout: method, path (never the query string), status, size, time, request id.
# Tokens travel only in bodies and the Authorization header, which are never logged.
accesslog = "-"
access_log_format = gunicorn_setup.ACCESS_LOG_FORMAT
errorlog = "-"
# gunicorn's logger with secrets masked and control characters escaped, JSON when LOG_FORMAT=json.
logger_class = gunicorn_setup.redacting_logger(_settings.log_format == "json", _settings.secrets)
loglevel = _settings.log_level  # LOG_LEVEL, checked at start
# Forwarded headers are trusted only through TRUSTED_PROXIES (ProxyFix in the app).
forwarded_allow_ips = "127.0.0.1"
# No control socket: several servers on one host (tests, benchmarks) would share its path.
control_socket_disable = True


def on_starting(server):
    server.log.info(
        "connections per worker: %d waiting for a request (GUNICORN_MAX_WAITING) + %d more open; "
        "%s s each for a head, a body, a stalled write (GUNICORN_HEAD_TIMEOUT); open-files limit %d",
        _max_waiting,
        server.cfg.worker_connections,
        f"{_settings.gunicorn_head_timeout or HEAD_TIMEOUT:g}",
        _open_files,
    )
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


def child_exit(server, worker):
    # A dead worker's "live" gauges leave the scrape; its counters stay in the totals.
    mark_process_dead(worker.pid)
