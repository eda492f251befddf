"""What the framework-free core costs on top of the client call it makes: a mint, a device
login (reused) and a device login (fresh) each driven by ``run_sync`` and ``run_async``,
beside the bare client calls it makes (the floor: a mint; for a fresh login, a mint and
the revoke of the token it replaces), on the in-process emulator (no network, so the
core's own cost is all that differs).

    python bench/core_overhead.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cometchat import AsyncCometChatClient, CometChatClient  # noqa: E402
from cometchat.emulator import EmulatorState, create_emulator_app  # noqa: E402
from cometchat.inprocess import WSGIAdapter  # noqa: E402
from tests.unit.token_server.test_core import async_transport  # noqa: E402
from token_server.auth import Caller  # noqa: E402
from token_server.core import tokens  # noqa: E402
from token_server.core.drive import run_async, run_sync  # noqa: E402
from token_server.core.inputs import Body, Request  # noqa: E402
from token_server.deprovisioned import Deprovisioned, MemoryTombstones  # noqa: E402
from token_server.devices import DeviceTokens, MemorySessionStore, TokenCipher  # noqa: E402

KEY = "bench-rest-key"
BASE = "http://emulator.invalid/v3"


def request(body: dict[str, Any]) -> Request:
    return Request(Caller.service(), Body.of(json.dumps(body).encode()))


FRESH = {"deviceId": "d", "fresh": True}


def replace(client: CometChatClient) -> None:
    """A fresh device login's floor: a mint, and the revoke of the token it replaces."""
    token, _ = client.mint_token("u0")
    client.delete_auth_token("u0", token.auth_token)


async def areplace(client: AsyncCometChatClient) -> None:
    token, _ = await client.mint_token("u0")
    await client.delete_auth_token("u0", token.auth_token)


def interleaved(rounds: int, floor: Callable[[int], Any], core: Callable[[int], Any]) -> tuple[float, float]:
    """Median microseconds per call of each, the two alternating call by call, so that the
    load of a shared machine falls on both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for n in range(rounds):
        for spent, call in zip(times, (floor, core), strict=True):
            start = time.perf_counter()
            call(n)
            spent.append(time.perf_counter() - start)
    return tuple(sorted(spent)[len(spent) // 2] * 1e6 for spent in times)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    rounds = parser.parse_args().rounds
    unlimited = 10**9  # the emulator's per-minute quotas would cut a tight loop short
    emulator = create_emulator_app(EmulatorState(api_keys=[KEY], core_per_minute=unlimited, other_per_minute=unlimited))
    client = CometChatClient(api_key=KEY, base_url=BASE, adapter_factory=lambda: WSGIAdapter(emulator))
    devices = DeviceTokens(MemorySessionStore(), TokenCipher.ephemeral())
    gone = Deprovisioned(MemoryTombstones())
    loop = asyncio.new_event_loop()
    aclient = AsyncCometChatClient(api_key=KEY, base_url=BASE, transport=async_transport(emulator))

    def through_sync(rule: Any) -> Any:
        return run_sync(rule, client, devices, deprovisioned=gone)

    async def through_async(rule: Any) -> Any:
        return await run_async(rule, aclient, devices, deprovisioned=gone)

    def on_loop(make: Callable[[int], Awaitable[Any]]) -> Callable[[int], Any]:
        return lambda n: loop.run_until_complete(make(n))

    rows = [
        ("mint", "sync", lambda n: client.mint_token(f"u{n % 50}"),
         lambda n: through_sync(tokens.mint_for_uid(request({}), f"u{n % 50}"))),
        ("mint", "async", on_loop(lambda n: aclient.mint_token(f"u{n % 50}")),
         on_loop(lambda n: through_async(tokens.mint_for_uid(request({}), f"u{n % 50}")))),
        ("device login, reused", "sync", lambda n: client.mint_token("u0"),
         lambda n: through_sync(tokens.mint_for_uid(request({"deviceId": "d"}), "u0"))),
        ("device login, reused", "async", on_loop(lambda n: aclient.mint_token("u0")),
         on_loop(lambda n: through_async(tokens.mint_for_uid(request({"deviceId": "d"}), "u0")))),
        ("device login, fresh", "sync", lambda n: replace(client),
         lambda n: through_sync(tokens.mint_for_uid(request(FRESH), "u0"))),
        ("device login, fresh", "async", on_loop(lambda n: areplace(aclient)),
         on_loop(lambda n: through_async(tokens.mint_for_uid(request(FRESH), "u0")))),
    ]  # fmt: skip
    print(f"{'row':24} {'driver':6} {'floor us (median)':>17} {'core us':>9} {'ratio':>6}")
    for name, driver, floor, core in rows:
        interleaved(rounds // 10, floor, core)  # warm up
        base, through_core = interleaved(rounds, floor, core)
        print(f"{name:24} {driver:6} {base:17.1f} {through_core:9.1f} {through_core / base:6.2f}")
    loop.close()


if __name__ == "__main__":
    main()
