"""``python server.py`` (the embedded default, a real process on a real socket) hears its own
emulator: after the SDK's connection opens, the presence route answers online."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

from tests.procs import Process, port_is_free
from token_server.config.webhooks import GENERATED_USER

WAIT = 30.0  # only a hang reaches it
PORTS = range(29000, 29999)  # this suite's loopback ports
UID = "cometchat-uid-1"


def port_in_range() -> int:
    for port in PORTS:
        if port_is_free(port):
            return port
    raise RuntimeError("no free port in this suite's range")



def test_python_server_py_hears_its_own_emulator(tmp_path: Path) -> None:
    port = port_in_range()
    proc = Process([sys.executable, "server.py"], env={"PORT": str(port)}, log_path=tmp_path / "embedded.log")
    root = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(root + "/healthz")
        token = requests.post(f"{root}/api/cometchat/token/{UID}", timeout=10).json()["authToken"]
        # What the chat SDK (the stand-in) does after its login: open its connection.
        assert requests.put(f"{root}/emulator/v3.0/me", headers={"authToken": token}, timeout=10).ok
        assert requests.put(f"{root}/emulator/v3.0/me/connection", headers={"authToken": token}, timeout=10).ok
        deadline = time.monotonic() + WAIT
        while True:
            answer = requests.get(f"{root}/api/cometchat/users/{UID}/presence", timeout=10)
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "online" and answer.json()["uid"] == UID
        trace = requests.get(f"{root}/api/dev/webhooks?after=0", timeout=10).json()
        assert [(e["trigger"], e["answer"]) for e in trace["events"]] == [("user_connection_status_changed", 200)]
        # Anyone else on this machine: no pair, no delivery.
        forged = requests.post(f"{root}/api/cometchat/webhooks", json={"trigger": "x"}, timeout=10)
        assert forged.status_code == 401  # no Basic Auth: the generated pair is nobody else's
    finally:
        output = proc.stop()
    assert GENERATED_USER + ":" not in output
