"""Benchmark of ``users import``: N users through the data import API into the emulator,
whose rate-limit minute is shortened (``--minute-seconds``) with every limit kept, so the
ratio to CometChat's ceiling (60 requests x 50 users = 3,000 users a minute) is the same as
against the real service, in a fraction of the time.

    python bench/import_users.py [--users 10000] [--minute-seconds 10] [--latency-ms 0]

Prints users per (shortened) minute as a fraction of the ceiling (target >= 0.95) and the
429 answers the import provoked (target 0). The importer runs in this process, on the same
code the CLI runs, against the emulator in its own process over a real socket.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from cometchat import CometChatClient  # noqa: E402
from cometchat.client import MAX_IMPORT_USERS  # noqa: E402
from tests.procs import start_emulator  # noqa: E402
from token_server.user_import import Importer, Journal, Row  # noqa: E402
from token_server.user_import.runner import IMPORT_REQUESTS_PER_MINUTE  # noqa: E402

REST_KEY = "bench-rest-key-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--minute-seconds", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added by the emulator to every call")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        emulator, root = start_emulator(
            Path(tmp),
            api_key=REST_KEY,
            latency_ms=args.latency_ms,
            extra_args=("--minute-seconds", str(args.minute_seconds)),
        )
        try:
            result = run(root, Path(tmp), args)
        finally:
            emulator.stop()
    report(result, args)


def run(root: str, tmp: Path, args: argparse.Namespace) -> dict:
    client = CometChatClient(base_url=root + "/v3", api_key=REST_KEY)
    rows = [Row(n + 2, f"bench-{n:06d}", {"name": f"Bench User {n}", "tags": ["bench"]}) for n in range(args.users)]
    importer = Importer(client, Journal(tmp / "journal.jsonl"), minute_seconds=args.minute_seconds)
    pending = importer.pending(rows)
    started = time.monotonic()
    summary = importer.run(pending)
    elapsed = time.monotonic() - started
    stats = requests.get(root + "/_emulator/stats", timeout=5).json()
    client.close()
    return {"summary": summary, "elapsed": elapsed, "stats": stats}


def report(result: dict, args: argparse.Namespace) -> None:
    summary, elapsed, stats = result["summary"], result["elapsed"], result["stats"]
    ceiling = IMPORT_REQUESTS_PER_MINUTE * MAX_IMPORT_USERS  # users a minute
    per_minute = summary.created / elapsed * args.minute_seconds
    fraction = per_minute / ceiling
    print(f"users imported:     {summary.created} of {args.users} (failed {len(summary.failed)})")
    print(f"requests:           {summary.requests} in {elapsed:.1f} s (a minute lasts {args.minute_seconds:g} s)")
    print(f"users per minute:   {per_minute:,.0f} of the {ceiling:,} ceiling = {fraction:.3f} (target >= 0.95)")
    print(f"429s provoked:      {stats['rate_limited']} (target 0)")
    print(f"users upstream:     {stats['users']} (5 test users + the import)")
    ok = fraction >= 0.95 and stats["rate_limited"] == 0 and summary.created == args.users
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
