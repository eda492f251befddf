"""The production benchmark's table, its ratios to the floor, and issue 20's targets."""

from __future__ import annotations

from typing import Any


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _label(row: dict[str, Any]) -> str:
    if row["kind"] == "open":
        return f"{row['latency_ms']} ms up, {row['rate']}/s open"
    if row["kind"] == "closed":
        return f"{row['latency_ms']} ms up, {row['callers']} callers"
    if row["kind"] == "attack":
        return f"attack mix, {row['rate']}/s"
    return f"{row['sockets']} slow sockets, {row['rate']}/s"


def print_report(results: dict[str, Any]) -> None:
    s = results["settings"]
    print(
        f"\nfake CometChat over TLS (+{s['connect_delay_ms']:g} ms per new connection); {s['seconds']} s per "
        f"measurement; {s['cores']} cores; load average before {results['loadavg_before'][0]:.2f}, after "
        f"{results['loadavg_after'][0]:.2f}; server flags: {s['server_args'] or 'gunicorn.conf.py'}, "
        f"{s['workers']} workers; run took {results['wall_seconds']:.0f} s"
    )
    if "cpu_speed_ms" in results:  # the same loop on a slower core: a Python variant's CPU per mint grows
        before, after = results["cpu_speed_ms"]
        print(f"CPU speed: a fixed Python loop took {before:.0f} ms before the run, {after:.0f} ms after\n")
    else:
        print()
    header = (
        f"{'row':<28}{'variant':<16}{'ok/s':>7}{'p50':>7}{'p90':>7}{'p99':>7}{'non200':>7}{'CPUms':>7}{'RSS/PSS':>9}"
        f"{'p50-floor':>10}{'p99/floor':>10}{'rps/floor':>10}{'conn/100':>9}{'healthz p50/p99':>17}"
    )
    print(header)
    print("-" * len(header))
    for row in results["rows"]:
        floor = row["results"].get("floor")
        for variant, m in row["results"].items():
            bad = m["count"] - m["ok"]
            cpu = f"{m['cpu_ms_per_mint']:.2f}" if "cpu_ms_per_mint" in m else ""
            rss = f"{m['rss_mb']:.0f}/{m['pss_mb']:.0f}" if "rss_mb" in m else ""
            vs = ("", "", "")
            if floor is not None and variant != "floor" and m["p50"] is not None and floor["p50"] is not None:
                vs = (
                    f"{m['p50'] - floor['p50']:+.0f}",
                    f"{m['p99'] / floor['p99']:.2f}x",
                    f"{m['rps'] / floor['rps']:.2f}x",
                )
            health = m.get("ping") or m.get("healthz")  # a host's own route, from its own prober
            health_text = f"{_ms(health['p50'])} / {_ms(health['p99'])}" if health else ""
            print(
                f"{_label(row):<28}{variant:<16}{m['rps']:>7.0f}{_ms(m['p50']):>7}{_ms(m['p90']):>7}{_ms(m['p99']):>7}"
                f"{bad:>7}{cpu:>7}{rss:>9}{vs[0]:>10}{vs[1]:>10}{vs[2]:>10}"
                f"{m.get('new_connections_per_100', 0):>9.1f}{health_text:>17}"
            )
        if row["kind"] in ("slow", "attack"):
            print(f"{'':<28}{row['kind']} sockets: {row['slow']}")
    print()
    for line in targets(results["rows"]):
        print(line)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 20's targets (and issue 29's for the FastAPI host), each with the figure measured and met / MISSED."""
    out: list[str] = []

    def check(name: str, ok: bool, detail: str) -> None:
        out.append(f"{'met   ' if ok else 'MISSED'} {name}: {detail}")

    for row in rows:
        res = row["results"]
        if row["kind"] == "open" and row["rate"] == 167:
            f, m = res["floor"], res["server"]
            check(
                f"{row['latency_ms']} ms, 167/s p50 <= floor + 10 ms",
                m["p50"] <= f["p50"] + 10,
                f"{m['p50']:.0f} vs floor {f['p50']:.0f}",
            )
            check(
                f"{row['latency_ms']} ms, 167/s p99 <= 1.5x floor",
                m["p99"] <= 1.5 * f["p99"],
                f"{m['p99']:.0f} vs floor {f['p99']:.0f} ({m['p99'] / f['p99']:.2f}x)",
            )
            check(
                f"{row['latency_ms']} ms, 167/s CPU <= 1.5 ms per mint",
                m["cpu_ms_per_mint"] <= 1.5,
                f"{m['cpu_ms_per_mint']:.2f} ms",
            )
            check(
                f"{row['latency_ms']} ms, 167/s resident <= 150 MB (PSS: each shared page once)",
                m["pss_mb"] <= 150,
                f"{m['pss_mb']:.0f} MB PSS",
            )
            check(
                f"{row['latency_ms']} ms, 167/s resident <= 150 MB (summed RSS: shared pages once per process)",
                m["rss_mb"] <= 150,
                f"{m['rss_mb']:.0f} MB summed RSS",
            )
        elif row["kind"] == "closed":
            f, m = res["floor"], res["server"]
            goal = 0.9 if row["callers"] >= 256 else 0.95
            check(
                f"{row['latency_ms']} ms x {row['callers']} callers >= {goal}x floor",
                m["rps"] >= goal * f["rps"],
                f"{m['rps']:.0f} vs {f['rps']:.0f} req/s ({m['rps'] / f['rps']:.2f}x)",
            )
            fastapi = res.get("fastapi-host")
            if fastapi is not None and row["latency_ms"] == 500 and row["callers"] >= 256:
                # Issue 29: the FastAPI host keeps up, and its event loop stays free for its own routes.
                check(
                    f"FastAPI host, 500 ms x {row['callers']} callers >= 0.9x floor",
                    fastapi["rps"] >= 0.9 * f["rps"],
                    f"{fastapi['rps']:.0f} vs {f['rps']:.0f} req/s ({fastapi['rps'] / f['rps']:.2f}x)",
                )
                ping = fastapi.get("ping") or {}
                late = fastapi.get("healthz") or {}
                check(
                    "FastAPI host's GET /host/ping p99 < 50 ms during that row",
                    ping.get("p99") is not None and ping["p99"] < 50 and not ping.get("failures"),
                    f"{_ms(ping.get('p99'))} ms over {ping.get('checks', 0)} checks, {ping.get('failures', 0)} "
                    f"failed (the load generator's own checks, late behind its callers: {_ms(late.get('p99'))} ms)",
                )
        elif row["kind"] in ("slow", "attack"):
            before = res["server without"]
            after = res["server with" if row["kind"] == "slow" else "server under attack"]
            mint_added = (after["p99"] or 1e9) - (before["p99"] or 0)
            fails = after["count"] - after["ok"]
            what = f"{row['sockets']} slow sockets" if row["kind"] == "slow" else "the attack mix"
            check(
                f"{what} add(s) <= 100 ms to a mint's p99",
                mint_added <= 100 and not fails,
                f"{mint_added:+.0f} ms, {fails} failed",
            )
            hb, ha = before.get("healthz") or {}, after.get("healthz") or {}
            health_added = (ha.get("p99") or 1e9) - (hb.get("p99") or 0)
            health_fails = ha.get("count", 0) - ha.get("ok", 0)
            check(
                f"{what} add(s) <= 100 ms to /healthz p99",
                health_added <= 100 and not health_fails,
                f"{health_added:+.0f} ms, {health_fails} failed",
            )
    return out
