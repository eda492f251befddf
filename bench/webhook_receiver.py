"""What a slow handler costs CometChat's answer: the Procfile's gunicorn on a real SQLite file,
N distinct deliveries one after another, first with only the built-in presence handler (the
baseline), then with ``WEBHOOK_HANDLER`` sleeping ``--handler-seconds`` per event. The answers
must not slow down (handlers run off the request), and must stay far under CometChat's 2 s.
Loopback only, bounded.

    python -m bench.webhook_receiver [--deliveries 200] [--handler-seconds 10] [--port 25100]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "cometchat", "benchbenchbench0123456789"
AUTH = {
    "Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    "Content-Type": "application/json",
}


def start(port: int, folder: Path, handler: str | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMETCHAT_", "AUTH_", "TOKEN_SERVER", "WEBHOOK"))}
    env.update(
        COMETCHAT_EMULATOR="1",
        TOKEN_SERVER_API_KEYS="bench-service-key-0123456789",
        TOKEN_SERVER_SKIP_DOTENV="1",
        SESSION_STORE_URI=f"sqlite:///{folder}/device-sessions.sqlite3",
        WEBHOOK_CREDENTIALS=f"{USER}:{PASSWORD}",
        PORT=str(port),
        BENCH_HANDLER_SECONDS=os.environ.get("BENCH_HANDLER_SECONDS", "10"),
    )
    if handler:
        env["WEBHOOK_HANDLER"] = handler
    log = open(folder / f"server-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "server.py", "--production"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def run(port: int, deliveries: int, handler: str | None) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as folder:
        proc = start(port, Path(folder), handler)
        try:
            url = f"http://127.0.0.1:{port}/api/cometchat/webhooks"
            session = requests.Session()
            times = []
            for n in range(deliveries):
                body = json.dumps({"trigger": "bench_event", "data": {"n": n}}).encode()
                started = time.perf_counter()
                answer = session.post(url, data=body, headers=AUTH, timeout=10)
                times.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
            return times
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def summary(times: list[float]) -> tuple[float, float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1], ordered[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--handler-seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=25100)
    args = parser.parse_args()
    os.environ["BENCH_HANDLER_SECONDS"] = str(args.handler_seconds)
    baseline = summary(run(args.port, args.deliveries, None))
    slow = summary(run(args.port + 1, args.deliveries, "bench.webhook_handlers:sleepy"))
    print(f"{args.deliveries} deliveries, answer time in ms (p50 / p95 / max), SQLite store, 1 gunicorn worker")
    for label, (p50, p95, most) in (
        ("baseline (presence handler only)", baseline),
        (f"handler sleeping {args.handler_seconds:g} s per event", slow),
    ):
        print(f"  {label:<36} {p50 * 1e3:7.2f} / {p95 * 1e3:7.2f} / {most * 1e3:7.2f}")
    print(f"  ratio slow/baseline: p50 {slow[0] / baseline[0]:.2f}, p95 {slow[1] / baseline[1]:.2f}")


if __name__ == "__main__":
    main()
