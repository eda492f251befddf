"""What ``/readyz`` costs while the shared Redis hangs (a loopback socket that accepts
connections and never answers): N probes from 16 threads against one app, the connections the
hung store saw, and each answer's latency; beside it the same run with every check asked on
every probe (no cache, no breaker: the behaviour the issue measured).

    python -m bench.readyz_hung [-n 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from token_server import create_app
from token_server.ops import readiness

from .hung_store import JWT_SECRET, SERVICE_KEY, silent_server

THREADS = 16


def run(n: int, *, uncached: bool) -> dict[str, Any]:
    listener, held = silent_server()
    port = listener.getsockname()[1]
    original, available = readiness.CachedCheck.__call__, readiness.StoreBreaker.available
    if uncached:
        readiness.CachedCheck.__call__ = lambda self: self._check()  # type: ignore[method-assign]
        readiness.StoreBreaker.available = lambda self: True  # type: ignore[method-assign]
    try:
        app = create_app(
            {
                "COMETCHAT_EMULATOR": "1",
                "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
                "AUTH_JWT_SECRET": JWT_SECRET,
                "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{port}/0",
            },
            announce=False,
        )

        def probe(_: int) -> tuple[int, float]:
            started = time.perf_counter()
            status = app.test_client().get("/readyz").status_code
            return status, time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(probe, range(n)))
        elapsed = time.perf_counter() - started
    finally:
        readiness.CachedCheck.__call__ = original  # type: ignore[method-assign]
        readiness.StoreBreaker.available = available  # type: ignore[method-assign]
        listener.close()
    latencies = sorted(seconds for _, seconds in results)
    return {
        "statuses": sorted({status for status, _ in results}),
        "connections": len(held),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()
    now = run(args.n, uncached=False)
    baseline = run(min(args.n, 200), uncached=True)  # 200: the baseline costs ~0.25 s a probe per store
    for label, row in (("cached + breaker", now), ("every check each probe (baseline)", baseline)):
        print(
            f"{label:36} statuses={row['statuses']} connections={row['connections']:5d} "
            f"p50={row['p50_ms']:7.1f} ms p99={row['p99_ms']:7.1f} ms max={row['max_ms']:7.1f} ms "
            f"total={row['seconds']:.1f} s"
        )
    print(f"p50 ratio baseline/now: {baseline['p50_ms'] / max(now['p50_ms'], 0.001):.0f}x")


if __name__ == "__main__":
    main()
