"""A newcomer's first minute: `.env.example` copied to `.env` unchanged, then `python server.py`
prints the one start-up block the README shows, and the README's test-JWT example works."""

from __future__ import annotations

import re
import shutil
import sys
import textwrap

import pytest
import requests
from dotenv import dotenv_values

from tests.procs import ROOT, Process, free_port
from token_server.config import load_settings
from token_server.ops.banner import startup_block

README_PORT = 3000


def readme_startup_block() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"\n( *)```text\n(\1CometChat token server\n.*?)\1```\n", readme, re.DOTALL)
    assert match, "README.md shows no start-up block"
    return textwrap.dedent(match.group(2)).rstrip("\n")


def test_env_example_copied_unchanged_starts_the_embedded_default() -> None:
    values = {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}
    settings = load_settings(values, mode="embedded")
    assert settings.emulator and settings.dev and not settings.has_caller_auth


def test_the_readme_shows_the_default_block() -> None:
    settings = load_settings({}, mode="embedded")
    assert readme_startup_block() == startup_block(settings, f"http://127.0.0.1:{README_PORT}")


def test_python_server_py_prints_the_readme_block_and_nothing_else(tmp_path) -> None:
    """Run from a folder holding only a copy of .env.example as .env, as a newcomer would."""
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    port = free_port()
    proc = Process(
        [sys.executable, str(ROOT / "server.py")],
        env={"PORT": str(port), "TOKEN_SERVER_SKIP_DOTENV": "0"},
        log_path=tmp_path / "server.log",
        cwd=tmp_path,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(root + "/healthz")
        before_requests = proc.output()
        issued = requests.post(root + "/api/dev/jwt", json={"uid": "alice"}, timeout=10)
        assert issued.status_code == 200
        bearer = {"Authorization": f"Bearer {issued.json()['jwt']}"}
        mint = requests.post(root + "/api/cometchat/token", headers=bearer, timeout=10)
        assert mint.status_code == 200 and set(mint.json()) == {"uid", "authToken"}
        assert mint.json()["uid"] == "alice"
        other = requests.post(root + "/api/cometchat/token/bob", headers=bearer, timeout=10)
        assert other.status_code == 403
    finally:
        output = proc.stop()
    expected = readme_startup_block().replace(f":{README_PORT}", f":{port}")
    # Only request lines may follow the block (wait_http's /healthz probes among them).
    printed = before_requests.splitlines()
    block = printed[: len(expected.splitlines())]
    assert "\n".join(block) == expected
    assert all('"GET /healthz HTTP/1.1" 200' in line for line in printed[len(block) :]), before_requests
    assert "development server" not in output.lower()


@pytest.mark.parametrize("name", ["PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"])
def test_a_non_numeric_process_setting_is_the_one_refusal_not_a_traceback(tmp_path, name) -> None:
    from tests.procs import Process, procfile_command

    env = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_API_KEYS": "k" * 20, "PORT": "8000", name: "eight"}
    proc = Process(procfile_command(), env=env, log_path=tmp_path / "refused.log")
    proc.proc.wait(timeout=60)
    output = proc.stop()
    assert proc.proc.returncode == 3, output
    assert f"refusing to start: token server configuration: {name} must be a whole number" in output
    assert "Traceback" not in output


def test_python_server_py_refuses_a_non_numeric_port_in_one_line(tmp_path) -> None:
    import sys

    from tests.procs import Process

    proc = Process([sys.executable, "server.py"], env={"PORT": "http"}, log_path=tmp_path / "refused.log")
    proc.proc.wait(timeout=60)
    output = proc.stop()
    assert proc.proc.returncode == 2 and "PORT must be a whole number" in output and "Traceback" not in output
