"""The benchmark's load rows (many callers, a slow upstream) and its login storm (an upstream
quota low enough to bind). Each row is measured against the floor (wrk on the emulator
directly) in the same run, with the CPU the server's processes spent per request."""

from __future__ import annotations

import math
import time
from typing import Callable

import requests

from .probes import HealthSampler, tree_cpu_seconds

# (upstream latency in ms, concurrent callers)
LOAD_ROWS = ((50, 16), (50, 64), (50, 128), (500, 256))
# Latencies at or above this also sample /healthz during the run.
HEALTH_FROM_MS = 500
STORM_CALLERS = 128
WARM_UP_SECONDS = 2

Wrk = Callable[[str, str, int, int], dict]


def emulator_settings(upstream: str, **body: float) -> None:
    requests.post(upstream + "/_emulator/faults", json=body, timeout=5).raise_for_status()


def load_rows(
    wrk: Wrk, *, upstream: str, server_root: str, server_pid: int, server_script: str, floor_script: str, duration: int
) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for latency_ms, callers in LOAD_ROWS:
        emulator_settings(upstream, latency_ms=latency_ms)
        wrk(upstream, floor_script, WARM_UP_SECONDS, callers)
        floor = wrk(upstream, floor_script, duration, callers)
        wrk(server_root, server_script, WARM_UP_SECONDS, callers)
        sampler = HealthSampler(server_root).start() if latency_ms >= HEALTH_FROM_MS else None
        cpu_before = tree_cpu_seconds(server_pid)
        server = wrk(server_root, server_script, duration, callers)
        server["cpu_ms_per_request"] = 1000 * (tree_cpu_seconds(server_pid) - cpu_before) / max(server["requests"], 1)
        if sampler is not None:
            server["healthz"] = sampler.stop()
        rows[f"{latency_ms} ms upstream, {callers} callers"] = {"floor": floor, "server": server}
    return rows


def storm(
    wrk: Wrk,
    *,
    upstream: str,
    server_root: str,
    server_script: str,
    latency_ms: float,
    quota: int,
    window_seconds: float,
    windows: int,
) -> dict:
    """``STORM_CALLERS`` callers mint for ``windows`` whole quota windows, started on a window
    boundary (the emulator's windows are aligned on the epoch), so the quota allows exactly
    ``quota * windows`` calls."""
    emulator_settings(upstream, latency_ms=latency_ms, core_per_minute=quota, minute_seconds=window_seconds)
    # The app's quota is this one from the start: one call lets the server hear its limit
    # (else the earlier rows' huge limit lets the first window's calls in flight through).
    wrk(server_root, server_script, 1, 2)
    next_window = math.ceil(time.time() / window_seconds) * window_seconds
    time.sleep(max(next_window - time.time(), 0))
    before = requests.get(upstream + "/_emulator/stats", timeout=5).json()
    seconds = int(window_seconds * windows)
    measured = wrk(server_root, server_script, seconds, STORM_CALLERS)
    after = requests.get(upstream + "/_emulator/stats", timeout=5).json()
    mints = measured["statuses"].get("200", 0)
    measured.update(
        quota_per_second=quota / window_seconds,
        mints_per_second=mints / seconds,
        upstream_requests=after["requests"] - before["requests"],
        upstream_429s=after["rate_limited"] - before["rate_limited"],
    )
    measured["of_quota"] = measured["mints_per_second"] / measured["quota_per_second"]
    return measured


def print_rows(rows: dict[str, dict]) -> None:
    header = (
        f"{'load':<30}{'variant':<8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
        f"{'CPU ms/req':>12}{'healthz p50/p99/max ms':>26}"
    )
    print(header)
    print("-" * len(header))
    for name, variants in rows.items():
        for variant, m in variants.items():
            cpu = f"{m['cpu_ms_per_request']:.2f}" if "cpu_ms_per_request" in m else ""
            health = m.get("healthz")
            health_text = f"{health['p50']:.1f} / {health['p99']:.1f} / {health['max']:.1f}" if health else ""
            print(
                f"{name:<30}{variant:<8}{m['rps']:>9.1f}{m['p50']:>9.1f}{m['p99']:>9.1f}"
                f"{m['errors']:>9}{cpu:>12}{health_text:>26}"
            )
        server, floor = variants["server"], variants["floor"]
        print(
            f"{'':<30}server/floor throughput {server['rps'] / floor['rps']:.3f}, "
            f"p50 {server['p50'] - floor['p50']:+.1f} ms"
        )


def print_storm(m: dict) -> None:
    statuses = ", ".join(f"{count} x {status}" for status, count in sorted(m["statuses"].items()))
    print(
        f"\nlogin storm, {STORM_CALLERS} callers, {m['quota_per_second']:.0f} mints/s allowed upstream: "
        f"{m['mints_per_second']:.1f} successful mints/s ({m['of_quota']:.2f}x the quota), "
        f"{m['upstream_429s']} upstream 429s caused, {m['upstream_requests']} upstream calls; "
        f"callers got {statuses}; p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms"
    )
