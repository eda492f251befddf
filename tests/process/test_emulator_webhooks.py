"""The standalone emulator (`python -m cometchat.emulator`) delivers webhooks to the URL in
COMETCHAT_EMULATOR_WEBHOOK_URL, with Basic Auth, and never logs the password."""

from __future__ import annotations

import base64
import sys
import time
from typing import Iterator

import pytest
import requests

from tests.procs import EMULATOR_KEY, Process
from tests.unit.cometchat.test_emulator_webhooks import PASSWORD, USER, WAIT, Receiver, _bound, bind_in_range


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def test_the_standalone_emulator_delivers_to_the_url_in_its_environment(receiver, tmp_path) -> None:
    spare = bind_in_range(_bound)
    port = spare.getsockname()[1]
    spare.close()
    url = receiver.url.replace("http://", f"http://{USER}:{PASSWORD}@")
    args = [sys.executable, "-m", "cometchat.emulator", "--port", str(port), "--api-key", EMULATOR_KEY]
    proc = Process(args, env={"COMETCHAT_EMULATOR_WEBHOOK_URL": url}, log_path=tmp_path / "emulator.log")
    try:
        root = f"http://127.0.0.1:{port}"
        proc.wait_http(root + "/_emulator/stats")
        minted = requests.post(
            root + "/v3/users/cometchat-uid-2/auth_tokens", headers={"apikey": EMULATOR_KEY}, json={}, timeout=5
        )
        token = minted.json()["data"]["authToken"]
        opened = requests.put(root + "/v3.0/me/connection", headers={"authToken": token}, timeout=5)
        assert opened.status_code == 200
        deadline = time.monotonic() + WAIT
        while not receiver.hits and time.monotonic() < deadline:
            receiver.arrived.wait(0.2)
        [hit] = receiver.hits
        assert hit["json"]["data"]["user"]["uid"] == "cometchat-uid-2"
        assert hit["headers"]["Authorization"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        assert "webhooks to http://127.0.0.1" in proc.output() and PASSWORD not in proc.output()
    finally:
        proc.stop()
