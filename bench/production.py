"""The production benchmark: the token server under its Procfile command, against a fake
CometChat reached over TLS (a throwaway CA trusted through COMETCHAT_CA_BUNDLE, 30 ms per new
connection), each row beside the floor (the same load generator calling the fake CometChat
directly) and the docs' Node example as a peer, in one run.

    python -m bench.production            # every row, every variant, about 7 minutes
    python -m bench.production --quick    # every row, server and floor only, under 2 minutes
    python -m bench.production --server-args "--worker-class gthread"   # compare connection layers
    python -m bench.production --hosts --rates 167 --rows open,closed --no-peer --no-minimal
        # the example hosts (Flask under gunicorn, FastAPI under uvicorn) beside the server

Needs node (the fake upstream and the load generator are node, so they cost the shared cores
little). Results also go to bench/results/production.json. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.attacks import AttackMix  # noqa: E402
from bench.probes import HealthSampler, RssSampler, cpu_speed_ms, tree_cpu_seconds  # noqa: E402
from bench.report import print_report  # noqa: E402
from bench.stack import (  # noqa: E402
    REST_KEY,
    SERVICE_KEY,
    SlowClients,
    Upstream,
    run_load,
    start_host,
    start_minimal,
    start_peer,
    start_server,
)
from tests.tls import make_tls_files  # noqa: E402

HOST = "benchapp.api-us.cometchat.io"  # in the certificate beside 127.0.0.1 (the address dialled)
OPEN_RATES = (50, 167, 333)
LATENCIES_MS = (50, 500)
CLOSED_ROWS = ((500, 256), (50, 16))
HEALTH_RATE = 5  # /healthz checks per second beside the mints, on the server's rows
SLOW_RATE = 50  # mints/s while the slow sockets trickle
SLOW_INTERVAL_MS = 1000
HOST_VARIANTS = ("flask-host", "fastapi-host")


def mint_spec(root: str, *, upstream: bool, ca: str) -> dict[str, Any]:
    if upstream:
        return {
            "url": root + "/v3/users/bench-{n}/auth_tokens",
            "method": "POST",
            "headers": {"apikey": REST_KEY, "Content-Type": "application/json"},
            "body": '{"force":true}',
            "ca": ca,
        }
    return {
        "url": root + "/api/cometchat/token/bench-{n}",
        "method": "POST",
        "headers": {"Authorization": f"Bearer {SERVICE_KEY}", "Content-Length": "0"},
        "body": "",
        "healthUrl": root + "/healthz",
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seconds = 2 if args.quick else args.seconds
        self.warm = 1 if args.quick else 2
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-production-"))
        self.tls = make_tls_files(self.tmp, hosts=(HOST, "127.0.0.1"), name="upstream")
        self.upstream = Upstream(self.tmp, self.tls, LATENCIES_MS[0], args.connect_delay_ms)
        extra = {"WEB_CONCURRENCY": str(args.workers), "GUNICORN_CMD_ARGS": args.server_args}
        self.server, self.server_root = start_server(self.tmp, self.upstream, extra)
        peers = not args.quick  # --quick: the server beside the floor only
        self.peer, self.peer_root = start_peer(self.tmp, self.upstream) if peers and not args.no_peer else (None, None)
        self.minimal, self.minimal_root = (
            start_minimal(self.tmp, self.upstream) if peers and not args.no_minimal else (None, None)
        )
        self.hosts = {kind: start_host(kind, self.tmp, self.upstream) for kind in args.hosts}
        ca = str(self.tls.ca)
        self.specs = {
            "floor": mint_spec(self.upstream.base, upstream=True, ca=ca),
            "server": mint_spec(self.server_root, upstream=False, ca=ca),
        }
        if self.peer_root:
            self.specs["node"] = {**mint_spec(self.peer_root, upstream=False, ca=ca), "healthUrl": None}
        if self.minimal_root:
            self.specs["py-minimal"] = {**mint_spec(self.minimal_root, upstream=False, ca=ca), "healthUrl": None}
        for kind, (_, root) in self.hosts.items():
            # The host's own route, checked beside the mints: does the host stay responsive?
            self.specs[kind] = {**mint_spec(root, upstream=False, ca=ca), "healthUrl": root + "/host/ping"}

    def close(self) -> None:
        for proc in (self.peer, self.minimal, self.server, *(p for p, _ in self.hosts.values()), self.upstream.proc):
            if proc is not None:
                proc.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def measure(self, variant: str, load: dict[str, Any], health: bool = False) -> dict[str, Any]:
        spec = {**self.specs[variant], **load}
        if health and spec.get("healthUrl"):
            spec["healthRate"] = HEALTH_RATE
        pid = {
            "server": self.server.proc.pid,
            "node": self.peer.proc.pid if self.peer else None,
            "py-minimal": self.minimal.proc.pid if self.minimal else None,
            **{kind: proc.proc.pid for kind, (proc, _) in self.hosts.items()},
        }.get(variant)
        start: dict[str, Any] = {}

        # A host's own route while every caller waits upstream, checked from this process: the
        # load generator's own checks (its "healthz") also count how late its loop, busy with
        # hundreds of callers on the same two cores, sends them.
        ping_root = self.hosts[variant][1] if variant in self.hosts and load["mode"] == "closed" else None

        def warmed() -> None:  # the warm-up is over: count from here
            start["connections"] = self.upstream.stats()["connections"]
            if pid:
                start["cpu"], start["rss"] = tree_cpu_seconds(pid), RssSampler(pid)
            if ping_root:
                start["ping"] = HealthSampler(ping_root, "/host/ping").start()

        # A closed loop on a slow upstream needs its callers' connections made before it counts.
        warm = max(self.warm, 2) if load["mode"] == "closed" else self.warm
        result = run_load({**spec, "seconds": self.seconds, "warmSeconds": warm}, warmed)
        new_connections = self.upstream.stats()["connections"] - start["connections"] - 1  # -1: stats() itself
        result["new_connections_per_100"] = 100 * new_connections / max(result["ok"], 1)
        if "ping" in start:
            result["ping"] = start["ping"].stop()
        if pid:
            result["cpu_ms_per_mint"] = 1000 * (tree_cpu_seconds(pid) - start["cpu"]) / max(result["ok"], 1)
            result["rss_mb"], result["pss_mb"] = start["rss"].stop()
        return result

    def variants(self) -> list[str]:
        return [v for v in ("floor", "node", "py-minimal", "server", *HOST_VARIANTS) if v in self.specs]

    def open_rows(self) -> list[dict[str, Any]]:
        rows = []
        for latency in LATENCIES_MS:
            self.upstream.set_latency(latency)
            for rate in self.args.rates:
                load = {"mode": "open", "rate": rate}
                results = {v: self.measure(v, load, health=True) for v in self.variants()}
                rows.append({"kind": "open", "latency_ms": latency, "rate": rate, "results": results})
                self._progress(rows[-1])
        return rows

    def closed_rows(self) -> list[dict[str, Any]]:
        rows = []
        for latency, callers in CLOSED_ROWS:
            self.upstream.set_latency(latency)
            load = {"mode": "closed", "callers": callers}
            # The hosts' own route is checked during the closed rows too (every caller waiting upstream).
            results = {v: self.measure(v, load, health=v in HOST_VARIANTS) for v in self.variants()}
            rows.append({"kind": "closed", "latency_ms": latency, "callers": callers, "results": results})
            self._progress(rows[-1])
        return rows

    def slow_row(self) -> dict[str, Any]:
        """Valid mints and /healthz beside ``--slow-sockets`` trickling connections, against
        the same load without them, both measured now."""
        self.upstream.set_latency(LATENCIES_MS[0])
        load = {"mode": "open", "rate": SLOW_RATE}
        without = self.measure("server", load, health=True)
        slow = SlowClients(self.server_root, self.args.slow_sockets, SLOW_INTERVAL_MS)
        try:
            time.sleep(1)
            with_slow = self.measure("server", load, health=True)
        finally:
            sockets = slow.stop()
        row = {
            "kind": "slow",
            "latency_ms": LATENCIES_MS[0],
            "rate": SLOW_RATE,
            "sockets": self.args.slow_sockets,
            "slow": sockets,
            "results": {"server without": without, "server with": with_slow},
        }
        self._progress(row)
        return row

    def attack_row(self) -> dict[str, Any]:
        """Valid mints and /healthz under issue 26's attack mix (bench/attacks.py), against the
        same load without it, both measured now."""
        self.upstream.set_latency(LATENCIES_MS[0])
        load = {"mode": "open", "rate": SLOW_RATE}
        without = self.measure("server", load, health=True)
        attack = AttackMix(self.server_root)
        try:
            with_attack = self.measure("server", load, health=True)
        finally:
            sockets = attack.stop()
        row = {
            "kind": "attack",
            "latency_ms": LATENCIES_MS[0],
            "rate": SLOW_RATE,
            "sockets": sockets["opened"],
            "slow": sockets,
            "results": {"server without": without, "server under attack": with_attack},
        }
        self._progress(row)
        return row

    def _progress(self, row: dict[str, Any]) -> None:
        parts = [
            f"{v}: {r['rps']:.0f}/s p50 {r['p50'] or 0:.0f} p99 {r['p99'] or 0:.0f}" for v, r in row["results"].items()
        ]
        print(f"  {row['kind']} {row['latency_ms']} ms " + "; ".join(parts), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 s per measurement, the server beside the floor only (under 2 minutes)"
    )
    parser.add_argument("--seconds", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--connect-delay-ms", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY for the server")
    parser.add_argument("--server-args", default="", help="GUNICORN_CMD_ARGS for the server (compare worker models)")
    parser.add_argument("--slow-sockets", type=int, default=2000)
    parser.add_argument(
        "--rows", default="open,closed,slow,attack", help="comma-separated subset of open,closed,slow,attack"
    )
    parser.add_argument("--no-peer", action="store_true", help="leave out the docs' Node example")
    parser.add_argument("--no-minimal", action="store_true", help="leave out the minimal Flask + requests app")
    parser.add_argument(
        "--hosts",
        nargs="?",
        const=",".join(HOST_VARIANTS),
        default="",
        type=lambda text: [kind for kind in text.split(",") if kind],
        help="add the example hosts (flask-host,fastapi-host; default both) as variants",
    )
    parser.add_argument(
        "--rates",
        default=",".join(map(str, OPEN_RATES)),
        type=lambda text: [int(rate) for rate in text.split(",")],
        help="the open rows' rates (mints/s)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()
    speed_before = cpu_speed_ms()
    bench = Bench(args)
    rows: list[dict[str, Any]] = []
    try:
        wanted = set(args.rows.split(","))
        if "open" in wanted:
            rows += bench.open_rows()
        if "closed" in wanted:
            rows += bench.closed_rows()
        if "slow" in wanted:
            rows.append(bench.slow_row())
        if "attack" in wanted:
            rows.append(bench.attack_row())
    finally:
        bench.close()
    results = {
        "settings": {**vars(args), "seconds": bench.seconds, "cores": os.cpu_count()},
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpu_speed_ms": (speed_before, cpu_speed_ms()),
        "wall_seconds": time.monotonic() - started,
        "rows": rows,
    }
    print_report(results)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "production.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
