"""The sidecar path from an installed wheel: ``cometchat-token-server serve`` (what the Procfile
runs) from a folder with no file of the repository, beside the FastAPI backend of docs/sidecar.md
(taken from the page itself) that signs short-lived user JWTs."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests

from ..helpers import SERVICE_KEY, bearer
from ..hosts import free_port
from ..procs import ROOT, Process
from .test_packaging import PIP_TIMEOUT, build_wheel

SECRET = "a-sidecar-test-secret-of-enough-length-0123456789"
AUDIENCE = "token-server"


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """The wheel in a fresh virtualenv that sees the machine's installed dependencies and nothing
    of the checkout: installed with --no-index --no-deps, as from a private package mirror."""
    tmp = tmp_path_factory.mktemp("sidecar-venv")
    wheel = build_wheel(tmp)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=PIP_TIMEOUT)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)]
    subprocess.run(pip, check=True, timeout=PIP_TIMEOUT, capture_output=True)
    return venv


def backend_source() -> str:
    """The FastAPI backend as docs/sidecar.md shows it: its one Python block."""
    page = (ROOT / "docs" / "sidecar.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    return block


def serve(venv: Path, folder: Path, env: dict[str, str]) -> tuple[Process, str]:
    port = free_port()
    command = [str(venv / "bin" / "cometchat-token-server"), "serve"]
    proc = Process(command, env={**env, "PORT": str(port)}, log_path=folder / f"sidecar-{port}.log", cwd=folder)
    root = f"http://127.0.0.1:{port}"
    proc.wait_http(root + "/healthz", timeout=40)
    return proc, root


def test_serve_from_the_wheel_refuses_without_configuration_naming_the_variables(venv, tmp_path) -> None:
    command = [str(venv / "bin" / "cometchat-token-server"), "serve"]
    proc = Process(command, env={"PORT": str(free_port())}, log_path=tmp_path / "refused.log", cwd=tmp_path)
    proc.proc.wait(timeout=60)
    output = proc.stop()
    assert proc.proc.returncode == 3, output
    assert "refusing to start" in output
    assert "TOKEN_SERVER_API_KEYS" in output and "COMETCHAT_API_KEY" in output


def test_serve_from_the_wheel_beside_a_fastapi_backend_signing_user_jwts(venv, tmp_path) -> None:
    folder = tmp_path / "empty"  # nothing of the checkout: no server.py, no gunicorn.conf.py
    folder.mkdir()
    backend_port = free_port()
    backend_origin = f"http://127.0.0.1:{backend_port}"
    env = {
        "COMETCHAT_EMULATOR": "1",
        "TOKEN_SERVER_API_KEYS": SERVICE_KEY,
        "AUTH_JWT_SECRET": SECRET,
        "AUTH_JWT_AUDIENCE": AUDIENCE,
        "CORS_ORIGINS": backend_origin,
    }
    sidecar, root = serve(venv, folder, env)
    app_dir = tmp_path / "backend"
    app_dir.mkdir()
    (app_dir / "backend.py").write_text(backend_source())
    backend = Process(
        [str(venv / "bin" / "python"), "-m", "uvicorn", "backend:app", "--port", str(backend_port)],
        env={"AUTH_JWT_SECRET": SECRET, "TOKEN_SERVER_URL": root},
        log_path=tmp_path / "backend.log",
        cwd=app_dir,
    )
    try:
        backend.wait_http(backend_origin + "/docs", timeout=40)
        # The gunicorn settings of the package ran (its access line format, with the request id).
        assert requests.post(root + "/api/cometchat/token/cometchat-uid-1", headers=bearer(SERVICE_KEY), timeout=10).ok

        assert requests.get(backend_origin + "/chat/credentials", timeout=10).status_code == 401
        credentials = requests.get(backend_origin + "/chat/credentials", headers={"X-Demo-User": "alice"}, timeout=10)
        assert credentials.status_code == 200
        grant = credentials.json()
        assert grant["tokenUrl"] == root + "/api/cometchat/token"
        # The browser on the backend's pages, with the JWT it was handed.
        browser = {**bearer(grant["jwt"]), "Origin": backend_origin}
        first = requests.post(grant["tokenUrl"], headers=browser, json={"deviceId": "laptop-1"}, timeout=10)
        assert first.status_code == 200, first.text
        assert first.json()["uid"] == "alice" and first.json()["reused"] is False
        assert first.headers["Access-Control-Allow-Origin"] == backend_origin
        assert first.headers["Cache-Control"] == "no-store"
        again = requests.post(grant["tokenUrl"], headers=browser, json={"deviceId": "laptop-1"}, timeout=10)
        assert again.json()["reused"] is True and again.json()["authToken"] == first.json()["authToken"]
        # Its own uid only; and a JWT past its minute is refused.
        other = requests.post(root + "/api/cometchat/token/bob", headers=browser, timeout=10)
        assert other.status_code == 403 and other.json()["error"]["code"] == "ERR_FORBIDDEN"
        stale = jwt.encode(
            {"sub": "alice", "aud": AUDIENCE, "iat": int(time.time()) - 600, "exp": int(time.time()) - 300},
            SECRET,
            algorithm="HS256",
        )
        assert requests.post(grant["tokenUrl"], headers=bearer(stale), timeout=10).status_code == 401
        # Another site's page is refused before anything else.
        cross = requests.post(grant["tokenUrl"], headers={**bearer(grant["jwt"]), "Origin": "https://evil.example"}, timeout=10)
        assert cross.status_code == 403 and cross.json()["error"]["code"] == "ERR_CROSS_SITE"
    finally:
        backend.stop()
        output = sidecar.stop()
    # gunicorn ran with the package's settings: the access line carries the request id.
    assert re.search(r'"POST /api/cometchat/token" 200 \d+ \d+ms [0-9a-f]{32}', output), output
