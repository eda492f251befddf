"""The async client against the blocking one, from asyncio code: N concurrent token mints
against the emulator (over HTTP, with injected latency), each way timed, with a ticker
coroutine (or thread) that wakes every 10 ms and records its worst lag: how long the event
loop was kept from answering anything else (a ``/ping`` beside the mints).

    python bench/async_client.py [--mints 200] [--latency-ms 500] [--blocking-mints 10]

Rows: the AsyncCometChatClient on one event loop; the blocking client through
``asyncio.to_thread`` (the default executor: a few threads); the blocking client in a pool
of N threads; the blocking client called straight from ``async def`` (it blocks the loop:
few mints, or it takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cometchat import AsyncCometChatClient, CometChatClient  # noqa: E402
from tests.procs import start_emulator  # noqa: E402

KEY = "bench-rest-key"
UID = "cometchat-uid-1"
TICK = 0.01


async def with_ticker(work: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Wall time of ``work`` and the worst lag of a coroutine ticking beside it."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            worst = max(worst, time.perf_counter() - before - TICK)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    await work()
    wall = time.perf_counter() - started
    done.set()
    await tick
    return wall, worst


def run_async_client(base_url: str, mints: int) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        async with AsyncCometChatClient(base_url=base_url, api_key=KEY) as client:
            await client.create_auth_token(UID)  # warm: one connection open, as in a running server

            async def work() -> None:
                await asyncio.gather(*(client.create_auth_token(UID) for _ in range(mints)))

            return await with_ticker(work)

    return asyncio.run(main())


def run_to_thread(base_url: str, mints: int) -> tuple[float, float]:
    client = CometChatClient(base_url=base_url, api_key=KEY)
    client.create_auth_token(UID)

    async def main() -> tuple[float, float]:
        async def work() -> None:
            await asyncio.gather(*(asyncio.to_thread(client.create_auth_token, UID) for _ in range(mints)))

        return await with_ticker(work)

    try:
        return asyncio.run(main())
    finally:
        client.close()


def run_thread_pool(base_url: str, mints: int) -> tuple[float, float]:
    client = CometChatClient(base_url=base_url, api_key=KEY)
    client.create_auth_token(UID)
    worst, done = 0.0, threading.Event()

    def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            time.sleep(TICK)
            worst = max(worst, time.perf_counter() - before - TICK)

    tick = threading.Thread(target=ticker)
    tick.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(mints) as pool:
        list(pool.map(lambda _i: client.create_auth_token(UID), range(mints)))
    wall = time.perf_counter() - started
    done.set()
    tick.join()
    client.close()
    return wall, worst


def run_blocking_in_loop(base_url: str, mints: int) -> tuple[float, float]:
    client = CometChatClient(base_url=base_url, api_key=KEY)
    client.create_auth_token(UID)

    async def mint() -> None:
        client.create_auth_token(UID)  # the mistake: a blocking call inside async def

    async def main() -> tuple[float, float]:
        async def work() -> None:
            await asyncio.gather(*(mint() for _ in range(mints)))

        return await with_ticker(work)

    try:
        return asyncio.run(main())
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--mints", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=500)
    parser.add_argument("--blocking-mints", type=int, default=10, help="mints for the loop-blocking row")
    args = parser.parse_args()
    if not 1 <= args.mints <= 1000 or not 1 <= args.blocking_mints <= 50:
        parser.error("--mints 1..1000 and --blocking-mints 1..50 keep the run bounded")

    tmp = Path(tempfile.mkdtemp(prefix="bench-async-"))
    emulator, root = start_emulator(
        tmp, api_key=KEY, latency_ms=args.latency_ms, rate_limit=100_000_000, threads=args.mints + 16
    )
    base_url = root + "/v3"
    rows: list[tuple[str, int, float, float]] = []
    try:
        for name, run, mints in (
            ("AsyncCometChatClient, one loop", run_async_client, args.mints),
            ("CometChatClient, asyncio.to_thread", run_to_thread, args.mints),
            (f"CometChatClient, {args.mints} threads", run_thread_pool, args.mints),
            ("CometChatClient inside async def", run_blocking_in_loop, args.blocking_mints),
        ):
            wall, lag = run(base_url, mints)
            rows.append((name, mints, wall, lag))
    finally:
        emulator.stop()

    print(f"concurrent token mints against the emulator at {args.latency_ms:g} ms latency")
    print(f"{'':36} {'mints':>5} {'wall':>9} {'mints/s':>8} {'worst loop lag':>15}")
    for name, mints, wall, lag in rows:
        print(f"{name:36} {mints:5d} {wall:8.2f}s {mints / wall:8.1f} {lag * 1000:12.1f} ms")
    async_rate = rows[0][1] / rows[0][2]
    for name, mints, wall, lag in rows[1:]:
        print(
            f"ratio: the async client mints {async_rate / (mints / wall):5.1f}x as fast as {name}; "
            f"its worst lag is {rows[0][3] / lag if lag else float('nan'):5.2f}x that row's"
        )


if __name__ == "__main__":
    main()
