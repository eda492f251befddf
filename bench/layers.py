"""Each candidate connection layer against issue 26's attacks (the attack suite's own cases,
tests/process/test_connection_attacks.py, run as a script): which leave valid callers answered, and the
slowest valid answer during each. Candidates, all with gunicorn as the process manager:

* ``gthread``: gunicorn's threaded worker, the app as it is;
* ``asgi``: gunicorn 27's asyncio worker, the app through a2wsgi (body read whole first);
* ``uvicorn``: uvicorn-worker's h11 worker, the same adapter, uvicorn's own bounds only;
* ``procfile``: what the Procfile runs (token_server/serving/: uvicorn-worker, our bounds);
* ``nginx``: gthread behind nginx configured as docs/deploying.md shows.

    python -m bench.layers [--only gthread,procfile]     # about a minute per candidate

The seven attacks and last round's are run with 8 threads, heads held 60 s; each case gets
a fresh server (a case that wrecks one must not count against the next)."""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.process import test_connection_attacks as attacks  # noqa: E402
from tests.procs import Process, free_port  # noqa: E402

CANDIDATE_APP = """
from server import app as flask_app
from token_server.serving.asgi import BodyFirst
from token_server.serving.bounds import Bounds
app = BodyFirst(flask_app, threads=8, bounds=Bounds.from_env(), max_body=flask_app.config["MAX_CONTENT_LENGTH"])
"""
CASES: list[tuple[str, Any, tuple[Any, ...]]] = [
    ("1 HTTP/1.0 never closed", attacks.test_1_whole_requests_whose_clients_never_close, ("HTTP/1.0",)),
    ("2 pipelined first byte", attacks.test_2_a_whole_request_then_the_first_byte_of_the_next, ()),
    ("3 64 KB heads unfinished", attacks.test_3_heads_of_64_kb_or_more_that_never_finish_are_answered_431, ()),
    ("4 chunked never arriving", attacks.test_4_bodies_that_never_arrive_without_credentials, (("Transfer-Encoding: chunked",),)),  # noqa: E501
    ("5 answers never read", attacks.test_5_pipelined_answers_never_read, ()),
    ("6 oldest-closed + keep-alive", attacks.test_6_closing_the_oldest_waiting_connections_never_crashes_the_worker, ()),  # noqa: E501
    ("slow heads", attacks.test_hundreds_of_slow_heads, ()),
    ("unfinished bodies", attacks.test_unfinished_bodies_without_credentials, ()),
]
# The time limits: the same server with GUNICORN_HEAD_TIMEOUT=1 must close each of these.
TIMEOUT_CASES: list[tuple[str, Any, tuple[Any, ...]]] = [
    ("head timeout", attacks.test_heads_and_bodies_past_their_timeout_are_closed, (b"GET / HTTP/1.1\r\nX: a",)),
    (
        "body timeout",
        attacks.test_heads_and_bodies_past_their_timeout_are_closed,
        (attacks.request("POST", attacks.MINT, "Content-Length: 10", body=b"{"),),
    ),
    ("write timeout", attacks.test_5_a_client_that_never_reads_is_closed_after_the_write_timeout, ()),
]
NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/f; uwsgi_temp_path {tmp}/u; scgi_temp_path {tmp}/s;
{server}
}}
"""


def start(candidate: str, tmp: Path, head_timeout: str) -> tuple[Process, str, Process | None]:
    port = free_port()
    bounds = {"GUNICORN_HEAD_TIMEOUT": head_timeout, "GUNICORN_MAX_WAITING": str(attacks.MAX_WAITING)}
    env = {**attacks.emulated(**bounds), "PORT": str(port)}
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--pythonpath", str(tmp)]
    (tmp / "candidate.py").write_text(CANDIDATE_APP)
    args = {
        "gthread": [*gunicorn, "--worker-class", "gthread", "server:app"],
        "asgi": [*gunicorn, "--worker-class", "asgi", "candidate:app"],
        "uvicorn": [*gunicorn, "--worker-class", "uvicorn_worker.UvicornH11Worker", "candidate:app"],
        "procfile": [sys.executable, "server.py", "--production"],
        "nginx": [*gunicorn, "--worker-class", "gthread", "server:app"],
    }[candidate]
    server = Process(args, env=env, log_path=tmp / f"{candidate}.log")
    root = f"http://127.0.0.1:{port}"
    server.wait_http(root + "/healthz", timeout=60)
    if candidate != "nginx":
        return server, root, None
    front = free_port()
    block = nginx_server_block(front, port)
    if head_timeout != "60":
        block = block.replace("10s;", f"{head_timeout}s;")
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, server=block))
    nginx = ["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"]
    proxy = Process(nginx, log_path=tmp / "nginx.out")
    root = f"http://127.0.0.1:{front}"
    proxy.wait_http(root + "/healthz", timeout=20)
    return server, root, proxy


def nginx_server_block(listen: int, upstream: int) -> str:
    """The ``server`` block of docs/deploying.md ("Behind nginx"), ports filled in."""
    text = (ROOT / "docs" / "deploying.md").read_text()
    block = text.split("```nginx\n", 1)[1].split("```", 1)[0]
    return block.replace("listen 80;", f"listen 127.0.0.1:{listen};").replace("127.0.0.1:8000", f"127.0.0.1:{upstream}")


def run_case(candidate: str, case: Any, args: tuple[Any, ...], head_timeout: str) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix=f"layers-{candidate}-") as tmp:
        server, root, proxy = start(candidate, Path(tmp), head_timeout)
        started = time.monotonic()
        try:
            booted = attacks.booted(server)
            fixtures = [None] if "no_restart" in inspect.signature(case).parameters else []
            case((server, root), *fixtures, *args)
            restarted = attacks.booted(server) - booted
            verdict = "pass" if not restarted else f"FAIL: {restarted} worker restart(s)"
        except Exception as exc:  # the case's own assertion, or a timeout: the verdict
            verdict = "FAIL: " + (str(exc).splitlines() or [type(exc).__name__])[0][:70]
            if not str(exc):
                verdict = "FAIL: " + "".join(traceback.format_exception_only(exc)).strip()[:70]
        finally:
            took = f"{time.monotonic() - started:.1f} s"
            if proxy:
                proxy.stop()
            server.stop()
    return verdict, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="gthread,asgi,uvicorn,nginx,procfile")
    parser.add_argument("--cases", default="attacks,timeouts")
    options = parser.parse_args()
    cases = [(case, "60") for case in CASES] if "attacks" in options.cases else []
    cases += [(case, "1") for case in TIMEOUT_CASES] if "timeouts" in options.cases else []
    for candidate in options.only.split(","):
        for (name, case, args), head_timeout in cases:
            verdict, took = run_case(candidate, case, args, head_timeout)
            print(f"{candidate:<10}{name:<32}{verdict:<80}{took:>8}", flush=True)


if __name__ == "__main__":
    main()
