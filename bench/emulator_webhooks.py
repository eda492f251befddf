"""What a slow webhook receiver costs the emulator's SDK connection calls, and what parsing a
webhook costs beside decoding its JSON (loopback only, bounded).

Connections: N ``PUT /v3.0/me/connection`` calls (in process) with no webhook (the baseline),
then with a webhook whose receiver takes ``--receiver-delay`` seconds per answer: the calls
must not slow down, since delivery runs off the request. Parsing: ``parse_event`` of the
documented connection payload against ``json.loads`` of the same body.

    python -m bench.emulator_webhooks [--calls 200] [--receiver-delay 0.5] [--port 24900]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cometchat.emulator import EmulatorState, WebhookConfig, create_emulator_app
from cometchat.webhooks import parse_event

KEY = "bench-emulator-key"
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "webhooks"
PAYLOAD = (FIXTURES / "connection_current.json").read_text()


def slow_receiver(port: int, delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def connections(calls: int, config: WebhookConfig | None) -> float:
    """Seconds per connect + disconnect pair."""
    state = EmulatorState(api_keys=[KEY], webhooks=config)
    client = create_emulator_app(state).test_client()
    mint = client.post("/v3/users/cometchat-uid-1/auth_tokens", json={"force": True}, headers={"apikey": KEY})
    token = mint.get_json()["data"]["authToken"]
    started = time.perf_counter()
    for _ in range(calls):
        client.put("/v3.0/me/connection", headers={"authToken": token})
        client.delete("/v3.0/me/connection", headers={"authToken": token})
    elapsed = (time.perf_counter() - started) / calls
    if state.webhooks is not None:
        print(f"  webhook stats when the calls ended: {state.webhooks.stats.as_dict()}")
        state.webhooks.close()
    return elapsed


def parsing(rounds: int) -> tuple[float, float]:
    started = time.perf_counter()
    for _ in range(rounds):
        json.loads(PAYLOAD)
    decode = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    for _ in range(rounds):
        parse_event(json.loads(PAYLOAD)).natural_key()
    return decode, (time.perf_counter() - started) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--receiver-delay", type=float, default=0.5)
    parser.add_argument("--port", type=int, default=24900)
    args = parser.parse_args()
    receiver = slow_receiver(args.port, args.receiver_delay)
    try:
        base = connections(args.calls, None)
        config = WebhookConfig(f"http://127.0.0.1:{args.port}/hooks", timeout=2.0, queue_size=10 * args.calls)
        slow = connections(args.calls, config)
    finally:
        receiver.shutdown()
        receiver.server_close()
    print(f"connect+disconnect, no webhook (baseline): {base * 1e3:.3f} ms")
    print(f"connect+disconnect, receiver {args.receiver_delay} s/answer: {slow * 1e3:.3f} ms")
    print(f"  ratio {slow / base:.2f}")
    decode, parsed = parsing(20_000)
    print(f"json.loads (baseline): {decode * 1e6:.1f} us")
    print(f"json.loads + parse_event + natural_key: {parsed * 1e6:.1f} us  (ratio {parsed / decode:.2f})")


if __name__ == "__main__":
    main()
