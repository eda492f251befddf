"""gunicorn settings for the token server (read automatically from the working directory).

The server is an I/O-bound proxy: each request mostly waits on CometChat, holding a worker
thread meanwhile. So: threaded workers with many threads, enough that a slow CometChat
(500 ms) with hundreds of callers never runs the server out of places to wait and /healthz
still finds a free thread. The worker is gthread reading each request in its event loop before
a thread serves it (token_server/workers_thread.py): slow clients cannot hold the threads.
Chosen by the production benchmark against gthread and gevent (both still available with
``--worker-class gthread`` / ``--worker-class gevent``): see docs/benchmarks.md.
"""

import atexit
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

HEAD_FIRST = "token_server.workers_thread.HeadFirstWorker"


def _worker_class() -> str:
    """HEAD_FIRST unless ``-k``/``--worker-class`` on the command line or in GUNICORN_CMD_ARGS
    asks for another (to compare: ``gthread``, gunicorn's own; ``gevent``, which means
    ``token_server.worker.LingeringGeventWorker``, gevent with a lingering close: a plain
    ``gevent`` may reset a connection before its 413 is read)."""
    args = shlex.split(os.environ.get("GUNICORN_CMD_ARGS", "")) + sys.argv[1:]
    chosen = HEAD_FIRST
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

# Prometheus multiprocess mode: each worker keeps its metrics in files in one folder, and
# /metrics adds them up whichever worker answers. prometheus_client picks the mode when it is
# first imported, so this comes before the app's modules. A folder given by the operator is
# emptied (a restart starts from zero); otherwise a fresh one is made, and removed when the
# master exits, a refusal to start included.


def _remove_metrics_dir(owner: int, path: str) -> None:
    if os.getpid() == owner:  # workers run atexit handlers too, on their way out
        shutil.rmtree(path, ignore_errors=True)


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for _stale in _metrics_dir.glob("*.db"):
        _stale.unlink()
else:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="token-server-metrics-")
    atexit.register(_remove_metrics_dir, os.getpid(), os.environ["PROMETHEUS_MULTIPROC_DIR"])

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from token_server.config import (  # noqa: E402
    WORKER_TIMEOUT,
    ConfigError,
    load_dotenv_file,
    load_settings,
)
from token_server.ops.logformat import JsonFormatter, access_fields  # noqa: E402
from token_server.ops.metrics import mark_process_dead  # noqa: E402
from token_server.ops.redaction import install_redaction  # noqa: E402

# .env for local runs; it never overrides the real environment.
load_dotenv_file()

# Refuse to start, naming every missing variable, before any worker boots.
try:
    _settings = load_settings(os.environ, mode="production")
except ConfigError as exc:
    print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None


# GUNICORN_HEAD_TIMEOUT and GUNICORN_MAX_WAITING, the head-first worker's two bounds, are read by
# each worker from the environment (token_server/workers_thread.py) and checked above with the rest.

# Production listens on every interface; dev mode mints for anyone who asks: this machine
# only (the app refuses remote clients too).
_host = "127.0.0.1" if _settings.dev else "0.0.0.0"  # noqa: S104
bind = f"{_host}:{_settings.port or 8000}"  # PORT, checked at start
# Callers one worker serves at once. A waiting caller holds a thread (its stack is mostly
# untouched virtual memory: RSS grows by tens of KB per thread) and, while it waits
# upstream, one pooled upstream connection. 2 x 256 per host: 256 callers on a 500 ms
# CometChat still leave threads free for /healthz (see README, "Benchmarks").
threads = _settings.gunicorn_threads or 256  # GUNICORN_THREADS, checked at start
# Connections one worker keeps (open keep-alive ones included); under gevent, the callers
# it serves at once. Each may hold a pooled upstream socket too: 2 x 500 stays inside the
# usual limit of 1024 open files per process.
worker_connections = 500
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
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'
access_log_format = ACCESS_LOG_FORMAT
errorlog = "-"


class RedactingLogger(Logger):
    """gunicorn's logger with the app's log filter on its handlers from the first line on
    (the master's too): secrets masked, control characters escaped. The path in an access line
    is percent-decoded, so without it ``/x%0aERROR...`` would write a line of its own."""

    def setup(self, cfg):
        super().setup(cfg)
        if _settings.log_format == "json":
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(JsonFormatter())
        install_redaction(_settings.secrets)

    def access(self, resp, req, environ, request_time):
        """gunicorn's access line, with the request id, route, status and duration as fields
        (the JSON format shows them; the plain one shows its message)."""
        if not self.access_log_enabled:
            return
        atoms = self.access_atoms(resp, req, environ, request_time)
        extra = access_fields(resp.status_code, environ, request_time.total_seconds())
        try:
            self.access_log.info(self.cfg.access_log_format, atoms, extra=extra)
        except Exception:
            self.exception("access log failed")

    def access_atoms(self, resp, req, environ, request_time):
        """The atoms ACCESS_LOG_FORMAT uses, and only those: gunicorn's ``atoms()`` copies every
        header and the whole WSGI environ and escapes each value, a few percent of a mint's CPU
        (see docs/benchmarks.md). Any other format gets gunicorn's full set."""
        if self.cfg.access_log_format != ACCESS_LOG_FORMAT:
            return self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), "-")
        atoms = {
            "h": environ.get("REMOTE_ADDR", "-"),
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "s": status,
            "B": getattr(resp, "sent", None),
            "M": request_time.seconds * 1000 + request_time.microseconds // 1000,
            "{x-request-id}o": request_id,
        }
        return self.atoms_wrapper_class(atoms)


logger_class = RedactingLogger
loglevel = _settings.log_level  # LOG_LEVEL, checked at start
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


def child_exit(server, worker):
    # A dead worker's "live" gauges leave the scrape; its counters stay in the totals.
    mark_process_dead(worker.pid)
