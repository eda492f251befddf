"""What a rate-limit store that hangs costs a login: five mints, one after the other, with
``RATELIMIT_STORAGE_URI`` pointing at a socket server that accepts connections and never
answers (loopback only). The upstream budget is kept in process here, so only the limits'
store is measured; ``--with-budget`` leaves the budget in the same hung store.

    python -m bench.hung_store [--with-budget]
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

import jwt

from cometchat.budget import MemoryBudgetStore, UpstreamBudget
from token_server import create_app

SERVICE_KEY = "bench-service-key-0123456789"
JWT_SECRET = "bench-only-hs256-secret-of-enough-length-0123"
MINTS = 5


def silent_server() -> tuple[socket.socket, list[socket.socket]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return listener, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-budget", action="store_true", help="the budget in the hung store too")
    args = parser.parse_args()
    listener, held = silent_server()
    url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    app = create_app(
        {
            "COMETCHAT_EMULATOR": "1",
            "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
            "AUTH_JWT_SECRET": JWT_SECRET,
            "RATELIMIT_STORAGE_URI": url,
        },
        announce=False,
    )
    if not args.with_budget:
        client = app.extensions["token_server.client"]
        client.transport.budget = UpstreamBudget(MemoryBudgetStore(), client.base_url)
    http = app.test_client()
    # An end user meets the per-user and per-address limits: the limits' store is asked.
    token = jwt.encode({"sub": "cometchat-uid-1", "exp": int(time.time()) + 300}, JWT_SECRET, algorithm="HS256")
    cases = {
        "user mint": {"Authorization": f"Bearer {token}"},
        "failed auth (counted)": {"Authorization": "Bearer not-a-key-so-a-401-that-is-counted"},
        "service mint": {"Authorization": f"Bearer {SERVICE_KEY}"},
    }
    for label, hdrs in cases.items():
        timings = []
        for _ in range(MINTS):
            started = time.perf_counter()
            status = http.post("/api/cometchat/token/cometchat-uid-1", headers=hdrs).status_code
            timings.append(f"{status} {1000 * (time.perf_counter() - started):.0f} ms")
        print(f"{label}: " + ", ".join(timings))
    print(f"connections the hung store received: {len(held)}")
    listener.close()


if __name__ == "__main__":
    main()
