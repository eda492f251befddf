"""The pooled client against a naive ``requests.post`` per call, on the emulator over HTTP
with injected latency and a per-connection set-up delay (standing for TCP + TLS); then the
same client shared by ``--threads`` threads minting at once (how its connection pool holds up
under concurrency: wall time, calls/s and new connections per 100 calls).

    python bench/client_pooling.py [--calls 200] [--latency-ms 20] [--connect-delay-ms 30] [--threads 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cometchat import CometChatClient  # noqa: E402
from tests.procs import start_emulator  # noqa: E402

KEY = "bench-rest-key"


def measure(call, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--connect-delay-ms", type=float, default=30)
    parser.add_argument("--threads", type=int, default=16, help="concurrent callers of one shared client")
    parser.add_argument("--rounds", type=int, default=3, help="concurrent rounds (the best is kept)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-client-"))
    emulator, root = start_emulator(
        tmp,
        api_key=KEY,
        latency_ms=args.latency_ms,
        connect_delay_ms=args.connect_delay_ms,
        rate_limit=100_000_000,
    )
    stats = lambda: requests.get(root + "/_emulator/stats", timeout=5).json()  # noqa: E731
    try:
        client = CometChatClient(base_url=root + "/v3", api_key=KEY)
        before = stats()
        pooled = measure(lambda: client.create_auth_token("cometchat-uid-1"), args.calls)
        mid = stats()

        def naive() -> None:
            requests.post(
                f"{root}/v3/users/cometchat-uid-1/auth_tokens",
                headers={"apikey": KEY},
                json={"force": True},
                timeout=30,
            ).raise_for_status()

        naive_times = measure(naive, args.calls)
        after = stats()
        concurrent = [run_concurrently(client, args.calls, args.threads, stats) for _ in range(args.rounds)]
    finally:
        emulator.stop()

    def report(name: str, times: list[float], s0: dict, s1: dict) -> float:
        mean = statistics.mean(times) * 1000
        conns = (s1["connections"] - s0["connections"]) * 100 / (s1["requests"] - s0["requests"])
        print(
            f"{name:<22} mean {mean:7.2f} ms   p50 {statistics.median(times) * 1000:7.2f} ms   "
            f"{1000 / mean:7.1f} calls/s   new connections per 100 calls: {conns:5.1f}"
        )
        return mean

    print(
        f"{args.calls} sequential token mints, emulator latency {args.latency_ms:g} ms, "
        f"connection set-up {args.connect_delay_ms:g} ms"
    )
    pooled_mean = report("pooled CometChatClient", pooled, before, mid)
    naive_mean = report("naive requests.post", naive_times, mid, after)
    print(
        f"ratio: the pooled client is {naive_mean / pooled_mean:.2f}x faster per call "
        f"({naive_mean - pooled_mean:.1f} ms saved per call)"
    )
    wall, conns = min(concurrent)
    print(
        f"{args.calls} mints from {args.threads} threads sharing the client: best of {args.rounds} "
        f"{wall * 1000:7.1f} ms wall   {args.calls / wall:7.1f} calls/s   new connections per 100 calls: "
        f"{conns:5.1f} (first round {concurrent[0][1]:5.1f})"
    )


def run_concurrently(client: CometChatClient, calls: int, threads: int, stats) -> tuple[float, float]:
    """Wall time of ``calls`` mints spread over ``threads`` threads, and new connections per 100."""
    before = stats()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _i: client.create_auth_token("cometchat-uid-1"), range(calls)))
    wall = time.perf_counter() - started
    after = stats()
    return wall, (after["connections"] - before["connections"]) * 100 / (after["requests"] - before["requests"])


if __name__ == "__main__":
    main()
