"""End-to-end benchmark: the token server under its Procfile command, against the emulator
in its own process with injected latency and a per-connection set-up delay, loaded by wrk.

For each scenario it measures, in the same run:
  server  the token server (gunicorn, pooled client)
  naive   the docs' way: same gunicorn settings, a new requests.post per upstream call
  floor   the emulator called directly by wrk (a proxy that adds nothing)
and prints throughput, p50/p90/p99, upstream calls per request, new upstream connections
per 100 upstream requests, and the ratios against the floor.

    python bench/run.py [--duration 10] [--connections 16] [--latency-ms 50]
                        [--connect-delay-ms 30] [--soak 0]

Needs wrk (apt-get install wrk). Results are also written to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402
from tests.procs import Process, free_port, procfile_command, start_emulator  # noqa: E402

REST_KEY = "bench-rest-key-0123456789"
SERVICE_KEY = "bench-service-key-0123456789"

LUA = """
local counter = 0
local prefix = "t"
threads = {{}}
function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
  table.insert(threads, thread)
end
function init(args) prefix = tid .. "-" .. tostring(os.time()) end
function request()
  counter = counter + 1
  local uid = "bench-" .. prefix .. "-" .. counter
  local path = string.gsub([[{path}]], "{{uid}}", uid)
  local body = string.gsub([[{body}]], "{{uid}}", uid)
  local headers = {{}}
  headers["Content-Type"] = "application/json"
  {headers}
  return wrk.format("POST", path, headers, body)
end
function response(status, headers, body)
  local key = "status_" .. status
  _G[key] = (_G[key] or 0) + 1
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status = 100, 599 do
      local n = thread:get("status_" .. status)
      if n then io.write(string.format("STATUS %d %d\\n", status, n)) end
    end
  end
end
"""


def lua_script(path: str, body: str, headers: dict[str, str]) -> str:
    header_lines = "\n  ".join(f'headers["{k}"] = "{v}"' for k, v in headers.items())
    return LUA.format(path=path, body=body, headers=header_lines)


def parse_duration(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: str, duration: int, connections: int, threads: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "-s", handle.name, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    os.unlink(handle.name)
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "90", "99"):
        result[f"p{pct}"] = parse_duration(re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M).group(1))
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["errors"] = int(non_2xx.group(1)) if non_2xx else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result["socket_errors"] = socket_errors.group(1) if socket_errors else ""
    statuses: dict[str, int] = {}
    for status, count in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M):
        statuses[status] = statuses.get(status, 0) + int(count)
    result["statuses"] = statuses
    return result


def start_redis(tmp: Path) -> tuple[Process, str] | None:
    """A throwaway redis-server on a free port, if one is installed."""
    binary = shutil.which("redis-server")
    if not binary:
        return None
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = Process(args, log_path=tmp / "redis.log")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.stop()
    return None


def emulator_stats(root: str) -> dict:
    return requests.get(root + "/_emulator/stats", timeout=5).json()


def start_server(tmp: Path, command: list[str], env: dict[str, str], name: str) -> tuple[Process, str]:
    port = free_port()
    proc = Process(command, env={**env, "PORT": str(port)}, log_path=tmp / f"{name}.log")
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + ("/healthz" if name == "server" else "/"), timeout=30)
    return proc, root


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the token server against the naive way and the floor.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16, help="concurrent wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--connect-delay-ms", type=float, default=30)
    parser.add_argument("--soak", type=int, default=0, help="seconds of mint load while sampling worker memory")
    parser.add_argument(
        "--rows",
        default="classic,load,storm",
        help="comma-separated: classic (server vs naive vs floor), load (many callers), storm (quota)",
    )
    parser.add_argument(
        "--server-args", default="", help="extra gunicorn flags for the server (GUNICORN_CMD_ARGS), to compare workers"
    )
    parser.add_argument("--storm-quota", type=int, default=500, help="upstream mints allowed per quota window")
    parser.add_argument("--storm-window", type=float, default=5.0, help="the quota window, seconds")
    parser.add_argument("--storm-windows", type=int, default=2, help="whole windows the storm lasts")
    args = parser.parse_args()
    rows = set(args.rows.split(","))
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    emulator, upstream = start_emulator(
        tmp,
        api_key=REST_KEY,
        latency_ms=args.latency_ms,
        connect_delay_ms=args.connect_delay_ms,
        rate_limit=1_000_000_000,
        # More threads than callers in any row: the floor must never queue in the emulator.
        threads=512,
    )
    env = {
        "COMETCHAT_BASE_URL": upstream + "/v3",
        "COMETCHAT_API_KEY": REST_KEY,
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "warning",
    }
    redis = start_redis(tmp)
    server_env = {
        **env,
        # Two workers share the rate limits and the upstream budget only through Redis.
        "RATELIMIT_STORAGE_URI": redis[1] if redis else "memory://",
        "COMETCHAT_QUOTA_WINDOW_SECONDS": str(args.storm_window),
        "GUNICORN_CMD_ARGS": args.server_args,
    }
    server, server_root = start_server(
        tmp, procfile_command() + ["--access-logfile", "/dev/null"], server_env, "server"
    )
    naive_cmd = ["gunicorn", "bench.naive_app:app", "--access-logfile", "/dev/null"]
    naive, naive_root = start_server(tmp, naive_cmd, env, "naive")
    auth = {"Authorization": f"Bearer {SERVICE_KEY}"}
    rest = {"apikey": REST_KEY}
    scenarios = {
        "mint (returning user)": {
            "server": (server_root, lua_script("/api/cometchat/token/cometchat-uid-1", "", auth)),
            "naive": (naive_root, lua_script("/api/cometchat/token/cometchat-uid-1", "", {})),
            "floor": (upstream, lua_script("/v3/users/cometchat-uid-1/auth_tokens", '{"force": true}', rest)),
        },
        "first login (new user)": {
            "server": (server_root, lua_script("/api/cometchat/token/{uid}", "", auth)),
            "naive": (naive_root, lua_script("/api/cometchat/token/{uid}", "", {})),
            "floor": (upstream, lua_script("/v3/users", '{"uid": "{uid}", "name": "B", "withAuthToken": true}', rest)),
        },
        "create user + token": {
            "server": (server_root, lua_script("/api/cometchat/users", '{"uid": "{uid}", "name": "B"}', auth)),
            "naive": (naive_root, lua_script("/api/cometchat/users", '{"uid": "{uid}", "name": "B"}', {})),
            "floor": (upstream, lua_script("/v3/users", '{"uid": "{uid}", "name": "B", "withAuthToken": true}', rest)),
        },
    }
    results: dict = {"settings": vars(args), "scenarios": {}}

    def wrk(root: str, script: str, duration: int, connections: int) -> dict:
        return run_wrk(root, script, duration, connections, args.threads)

    try:
        for name, variants in scenarios.items() if "classic" in rows else ():
            results["scenarios"][name] = {}
            for variant, (root, script) in variants.items():
                # Warm up (connections, imports), then measure.
                run_wrk(root, script, 2, args.connections, args.threads)
                before = emulator_stats(upstream)
                measured = run_wrk(root, script, args.duration, args.connections, args.threads)
                after = emulator_stats(upstream)
                upstream_requests = after["requests"] - before["requests"]
                measured["upstream_per_request"] = upstream_requests / max(measured["requests"], 1)
                measured["new_connections_per_100_upstream"] = (
                    100 * (after["connections"] - before["connections"]) / max(upstream_requests, 1)
                )
                results["scenarios"][name][variant] = measured
        if "load" in rows:
            results["load"] = scale.load_rows(
                wrk,
                upstream=upstream,
                server_root=server_root,
                server_pid=server.proc.pid,
                server_script=scenarios["mint (returning user)"]["server"][1],
                floor_script=scenarios["mint (returning user)"]["floor"][1],
                duration=args.duration,
            )
        if "storm" in rows:
            results["storm"] = scale.storm(
                wrk,
                upstream=upstream,
                server_root=server_root,
                server_script=scenarios["mint (returning user)"]["server"][1],
                latency_ms=args.latency_ms,
                quota=args.storm_quota,
                window_seconds=args.storm_window,
                windows=args.storm_windows,
            )
        if args.soak:
            results["soak"] = soak(server, server_root, auth, args)
    finally:
        naive.stop()
        server.stop()
        emulator.stop()
        if redis:
            redis[0].stop()
    results["store"] = server_env["RATELIMIT_STORAGE_URI"]

    print_report(results, args)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))


def soak(server: Process, root: str, auth: dict[str, str], args: argparse.Namespace) -> dict:
    script = lua_script("/api/cometchat/token/cometchat-uid-2", "", auth)
    pids = worker_pids(server.proc.pid)
    # gunicorn is started through its console script: its master may be our child's child.
    if not pids:
        pids = [p for child in worker_pids(server.proc.pid) for p in worker_pids(child)]
    before = {pid: rss_mb(pid) for pid in pids}
    peak = dict(before)
    proc = subprocess.Popen(
        ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.soak}s", "-s", "/dev/stdin", root],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    proc.stdin.write(script)
    proc.stdin.close()
    samples = []
    while proc.poll() is None:
        time.sleep(5)
        now = {pid: rss_mb(pid) for pid in pids}
        samples.append(sum(now.values()))
        peak = {pid: max(peak[pid], now[pid]) for pid in pids}
    after = {pid: rss_mb(pid) for pid in pids}
    return {
        "seconds": args.soak,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "rss_peak_mb": peak,
        "total_samples_mb": samples,
    }


def print_report(results: dict, args: argparse.Namespace) -> None:
    print(
        f"\nupstream: emulator, {args.latency_ms:g} ms per request + {args.connect_delay_ms:g} ms per new "
        f"connection; load: wrk {args.connections} connections, {args.duration} s per measurement; "
        f"{os.cpu_count()} cores shared by all processes; server flags: {args.server_args or 'gunicorn.conf.py'}; "
        f"rate-limit and budget store: {results.get('store')}\n"
    )
    header = (
        f"{'scenario':<24}{'variant':<8}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'up/req':>8}{'conn/100':>10}{'errors':>8}"
    )
    if results["scenarios"]:
        print(header)
        print("-" * len(header))
    for name, variants in results["scenarios"].items():
        for variant, m in variants.items():
            print(
                f"{name:<24}{variant:<8}{m['rps']:>9.1f}{m['p50']:>9.2f}{m['p90']:>9.2f}{m['p99']:>9.2f}"
                f"{m['upstream_per_request']:>8.2f}{m['new_connections_per_100_upstream']:>10.2f}"
                f"{m['errors']:>8}"
            )
        server, naive, floor = variants["server"], variants["naive"], variants["floor"]
        vs_floor = server["rps"] / floor["rps"]
        vs_naive = server["rps"] / naive["rps"]
        print(
            f"{'':<24}server/floor throughput {vs_floor:.3f}, p50 +{server['p50'] - floor['p50']:.2f} ms;"
            f" server/naive throughput {vs_naive:.2f}x, p50 {naive['p50'] - server['p50']:.1f} ms lower"
        )
    if "load" in results:
        print()
        scale.print_rows(results["load"])
    if "storm" in results:
        scale.print_storm(results["storm"])
    if "soak" in results:
        soak = results["soak"]
        before = sum(soak["rss_before_mb"].values())
        after = sum(soak["rss_after_mb"].values())
        peak = sum(soak["rss_peak_mb"].values())
        print(
            f"\nsoak {soak['seconds']} s: gunicorn workers' RSS before {before:.1f} MB, peak {peak:.1f} MB, "
            f"after {after:.1f} MB ({after - before:+.1f} MB)"
        )


if __name__ == "__main__":
    main()
