"""The client alone in a fresh interpreter: it imports and calls with requests only; the extras it lacks are named."""

from __future__ import annotations

import subprocess
import sys

from tests.procs import ROOT
from tests.unit.cometchat.test_imports import BLOCKED, BLOCKER, CLIENT_ALONE


def test_the_client_imports_and_calls_with_requests_alone_and_the_extras_are_named() -> None:
    script = BLOCKER + CLIENT_ALONE.replace("{BLOCKED}", repr(set(BLOCKED)))
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "the client alone works" in run.stdout, run.stdout + run.stderr


def test_the_blocking_client_needs_no_httpx() -> None:
    """httpx comes with the [async] extra only: the package and its blocking client import
    without it, and asking for the async client says what is missing."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['httpx'] = None\n"
        "import cometchat\n"
        "cometchat.CometChatClient(base_url='http://127.0.0.1:1/v3', api_key='k')\n"
        "try:\n    cometchat.AsyncCometChatClient\nexcept ImportError as exc:\n    print('needs', exc.name)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "needs httpx"
