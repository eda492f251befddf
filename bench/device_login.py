"""A returning device's login beside a fresh mint and the floor (one direct upstream call),
against the standalone emulator with latency, through the server under gunicorn (the
Procfile, a SQLite session store). Bounded: a few hundred calls, well under a minute.

    python bench/device_login.py [--calls 200] [--latency-ms 20]

Rows: p50 and p90 of one login (ms), CometChat calls per login (from the emulator's own
count), and the p50 as a ratio of the floor's. A returning device costs no upstream call,
so it answers faster than the floor itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cometchat import CometChatClient  # noqa: E402
from tests.procs import start_emulator, start_gunicorn  # noqa: E402

KEY = "bench-rest-key"
SERVICE_KEY = "bench-service-key-0123456789"
UID = "cometchat-uid-1"


def measure(call: Callable[[], object], calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def quantile(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=100)[int(q * 100) - 1] * 1000 if len(times) > 1 else times[0] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()
    if not 10 <= args.calls <= 1000:
        parser.error("--calls must be 10 to 1000 (the run stays bounded)")

    tmp = Path(tempfile.mkdtemp(prefix="bench-devices-"))
    emulator, root = start_emulator(tmp, api_key=KEY, latency_ms=args.latency_ms, rate_limit=100_000_000)
    env = {
        "COMETCHAT_BASE_URL": root + "/v3",
        "COMETCHAT_API_KEY": KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "SESSION_STORE_URI": f"sqlite:///{tmp}/sessions.sqlite3",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "warning",
    }
    server, server_root = start_gunicorn(tmp, env, name="bench-server")
    requests_made = lambda: requests.get(root + "/_emulator/stats", timeout=5).json()["requests"]  # noqa: E731
    session = requests.Session()
    headers = {"Authorization": f"Bearer {SERVICE_KEY}"}
    url = f"{server_root}/api/cometchat/token/{UID}"

    def login(body: dict) -> None:
        answer = session.post(url, json=body, headers=headers, timeout=30)
        answer.raise_for_status()

    rows: list[tuple[str, list[float], float]] = []
    try:
        client = CometChatClient(base_url=root + "/v3", api_key=KEY)
        for name, call in (
            ("floor: one direct upstream mint", lambda: client.create_auth_token(UID)),
            ("fresh mint (no deviceId)", lambda: login({})),
            ("returning device (deviceId)", lambda: login({"deviceId": "bench-laptop"})),
        ):
            call()  # warm: connections open, the device's token stored
            before = requests_made()
            times = measure(call, args.calls)
            rows.append((name, times, (requests_made() - before) / args.calls))
        client.close()
    finally:
        server.stop()
        emulator.stop()

    floor = quantile(rows[0][1], 0.5)
    print(f"{args.calls} calls each, emulator latency {args.latency_ms:g} ms, SQLite session store")
    print(f"{'row':34} {'p50 ms':>8} {'p90 ms':>8} {'upstream/login':>15} {'p50 / floor':>12}")
    for name, times, upstream in rows:
        p50 = quantile(times, 0.5)
        print(f"{name:34} {p50:8.2f} {quantile(times, 0.9):8.2f} {upstream:15.2f} {p50 / floor:12.2f}")


if __name__ == "__main__":
    main()
