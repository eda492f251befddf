"""What gunicorn.conf.py does besides settings: the Prometheus multiprocess folder, the
open-files limit the connection caps need, and gunicorn's logger with our redaction."""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Sockets a worker opens besides its client connections: upstream pool, Redis, log files.
SPARE_FILES = 64


def _remove_metrics_dir(owner: int, path: str) -> None:
    if os.getpid() == owner:  # workers run atexit handlers too, on their way out
        shutil.rmtree(path, ignore_errors=True)


def prepare_metrics_dir() -> Path:
    """Prometheus multiprocess mode: each worker keeps its metrics in files in one folder, and
    /metrics adds them up whichever worker answers. prometheus_client picks the mode when it is
    first imported, so this runs before the app's modules. A folder given by the operator is
    emptied (a restart starts from zero); otherwise a fresh one is made, and removed when the
    master exits, a refusal to start included."""
    if os.environ.get(MULTIPROC_DIR):
        folder = Path(os.environ[MULTIPROC_DIR])
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return folder
    os.environ[MULTIPROC_DIR] = tempfile.mkdtemp(prefix="token-server-metrics-")
    atexit.register(_remove_metrics_dir, os.getpid(), os.environ[MULTIPROC_DIR])
    return Path(os.environ[MULTIPROC_DIR])


class OpenFilesTooLow(Exception):
    pass


def ensure_open_files(needed: int) -> int:
    """Raise the open-files soft limit to ``needed`` (never past the hard limit); the limit
    now in force. Refuses, naming the limit, when even the hard limit is too low: the caps
    on connections would otherwise be met by EMFILE, not by their own rule."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise OpenFilesTooLow(
            f"the open-files limit (RLIMIT_NOFILE, `ulimit -n`) is {soft} (hard limit {hard}), below the {needed} "
            "the connection caps need (GUNICORN_MAX_WAITING + worker_connections + GUNICORN_THREADS + "
            f"{SPARE_FILES}): raise the limit or lower GUNICORN_MAX_WAITING"
        )
    return int(soft)


ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'


def redacting_logger(json_lines: bool, secrets: Any) -> type[Logger]:
    """gunicorn's logger with the app's log filter on its handlers from the first line on
    (the master's too): secrets masked, control characters escaped. The path in an access line
    is percent-decoded, so without it ``/x%0aERROR...`` would write a line of its own."""
    from token_server.ops.logformat import JsonFormatter, access_fields
    from token_server.ops.redaction import install_redaction

    class RedactingLogger(Logger):  # type: ignore[misc]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            if json_lines:
                for handler in (*self.error_log.handlers, *self.access_log.handlers):
                    handler.setFormatter(JsonFormatter())
            install_redaction(secrets)

        def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
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

        def access_atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> Any:
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

    return RedactingLogger
