"""The project as a package: ``pip install .`` is the client alone (requests and urllib3, no
Flask), ``[server]`` adds the app, its command line, gunicorn and its connection layer (uvicorn's
worker, a2wsgi), ``[redis]`` and ``[async]`` stand apart; the wheel installs into a fresh virtualenv and works from outside the checkout.

Bounded: one wheel built per run, each extra resolved with ``pip install --dry-run`` (no
install), and one virtualenv that gets the client alone, then the server on top."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.procs import ROOT, Process, free_port

# What the client alone may bring: requests, urllib3 and requests' own dependencies.
CLIENT_ALONE = {"cometchat-token-server", "requests", "urllib3", "certifi", "charset-normalizer", "idna"}
SERVER_ONLY = {
    "flask", "werkzeug", "gunicorn", "uvicorn", "uvicorn-worker", "a2wsgi", "pyjwt", "limits", "click", "prometheus-client"
}

# What the wheel is built from (pyproject.toml's packages and metadata files).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "cometchat", "token_server")
PIP_TIMEOUT = 180


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[requirement.name.lower()] = specifier.version
    return pins


def test_runtime_dependencies_are_ranges_that_hold_the_deployment_pins() -> None:
    project = pyproject()["project"]
    extras = [line for lines in project.get("optional-dependencies", {}).values() for line in lines]
    # An extra may bring another of this project's extras ("[fastapi]" brings "[server]").
    declared = [
        Requirement(line) for line in project["dependencies"] + extras if Requirement(line).name != project["name"]
    ]
    pins = pinned_requirements()
    assert {requirement.name.lower() for requirement in declared} == set(pins)
    for requirement in declared:  # every mention, when two extras name one package
        name = requirement.name.lower()
        assert not any(s.operator == "==" for s in requirement.specifier), f"{name}: a range, not a pin"
        assert requirement.specifier.contains(pins[name]), f"{name} {requirement.specifier} excludes {pins[name]}"


def build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    dist = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)],
        check=True,
        timeout=PIP_TIMEOUT,
        capture_output=True,
    )
    (wheel,) = dist.glob("*.whl")
    return wheel


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def resolved(wheel: Path, extras: str, tmp: Path) -> set[str]:
    """The distributions pip would install for ``wheel[extras]`` into an empty environment."""
    target = f"{wheel}[{extras}]" if extras else str(wheel)
    report = tmp / f"report-{extras or 'client'}.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--report", str(report)]
        + [target],
        check=True,
        timeout=PIP_TIMEOUT,
        capture_output=True,
    )
    return {normalized(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}


def test_each_extra_brings_its_own_dependencies_and_no_others(wheel, tmp_path) -> None:
    client = resolved(wheel, "", tmp_path)
    assert client == CLIENT_ALONE
    server = resolved(wheel, "server", tmp_path)
    assert SERVER_ONLY <= server and "redis" not in server and "gevent" not in server
    redis = resolved(wheel, "redis", tmp_path)
    assert redis - client == {"redis"}
    asynchronous = resolved(wheel, "async", tmp_path)
    assert "httpx" in asynchronous - client and not SERVER_ONLY & asynchronous and "httpx" not in server
    fastapi = resolved(wheel, "fastapi", tmp_path)
    assert {"fastapi", "uvicorn", "httpx"} <= fastapi - client and "fastapi" not in server | asynchronous
    # uvicorn runs a FastAPI host on uvloop when it is there; never on httptools (no head limit).
    assert "uvloop" in fastapi and "uvloop" not in server and "httptools" not in fastapi


CLIENT_ALONE_SCRIPT = """
import importlib.util, sys
import cometchat
from cometchat import CometChatClient, Profile
assert importlib.util.find_spec("flask") is None, "Flask came with the client"
assert "flask" not in sys.modules and "werkzeug" not in sys.modules
client = CometChatClient(base_url="http://127.0.0.1:{port}/v3", api_key="packaged-key")
user = client.create_user("alone", **Profile(name="Alone").kwargs(), with_auth_token=True)
assert user.uid == "alone" and user.auth_token.startswith("alone_")
try:
    import token_server
except ModuleNotFoundError as exc:
    assert exc.name == "flask", exc.name
else:
    raise AssertionError("token_server imported without Flask")
print("the client alone works")
"""


def test_the_wheel_installs_and_works_outside_the_checkout(wheel, tmp_path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "cometchat/py.typed",
        "token_server/py.typed",
        "cometchat/emulator/__main__.py",
        "token_server/ops/openapi.json",
        "token_server/templates/index.html",
        "token_server/static/demo.js",
    ):
        assert name in names, name
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert re.search(r"^License-Expression: MIT$", metadata, re.MULTILINE)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=PIP_TIMEOUT)
    python = str(venv / "bin" / "python")

    def pip_install(target: str) -> None:
        # The dependencies come from the package index, as for anyone installing it.
        subprocess.run(
            [python, "-m", "pip", "install", "-q", target], check=True, timeout=PIP_TIMEOUT, capture_output=True
        )

    def installed() -> set[str]:
        listed = subprocess.run(
            [python, "-m", "pip", "list", "--format=json"], check=True, timeout=60, capture_output=True, text=True
        )
        return {normalized(item["name"]) for item in json.loads(listed.stdout)} - {"pip", "setuptools"}

    elsewhere = tmp_path / "elsewhere"  # no checkout on sys.path: only the installed packages
    elsewhere.mkdir()
    port = free_port()
    # The emulator from the checkout: the client alone has none (it is part of [server]).
    emulator = Process(
        [sys.executable, "-m", "cometchat.emulator", "--port", str(port), "--api-key", "packaged-key"],
        log_path=tmp_path / "emulator.log",
    )

    def run_python(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-c", script], cwd=elsewhere, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"}
        )

    try:
        emulator.wait_http(f"http://127.0.0.1:{port}/_emulator/stats")
        pip_install(str(wheel))
        assert installed() == CLIENT_ALONE
        alone = run_python(CLIENT_ALONE_SCRIPT.replace("{port}", str(port)))
        assert alone.returncode == 0 and "the client alone works" in alone.stdout, alone.stdout + alone.stderr

        pip_install(f"{wheel}[server,redis]")
        assert SERVER_ONLY | {"redis"} <= installed()
        script = textwrap.dedent(
            f"""
            import cometchat, token_server, redis
            from pathlib import Path
            from cometchat import CometChatClient
            from token_server import create_app

            venv = Path({str(venv)!r}).resolve()
            for module in (cometchat, token_server):
                assert venv in Path(module.__file__).resolve().parents, module.__file__
            client = CometChatClient(base_url="http://127.0.0.1:{port}/v3", api_key="packaged-key")
            user = client.create_user("packaged", "Packaged", with_auth_token=True)
            token, created = client.mint_token("packaged")
            assert user.uid == "packaged" and token.auth_token.startswith("packaged_") and not created
            app = create_app({{"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}}, announce=False)
            http = app.test_client()
            assert http.get("/").status_code == 200, "the demo page's template"
            assert http.get("/demo/static/demo.js").status_code == 200, "the demo page's script"
            assert http.get("/openapi.json").json["openapi"].startswith("3.1")
            print("installed package works")
            """
        )
        run = run_python(script)
        # The console script reads the same configuration as the server.
        cli_env = {
            "PATH": "/usr/bin",
            "COMETCHAT_BASE_URL": f"http://127.0.0.1:{port}/v3",
            "COMETCHAT_API_KEY": "packaged-key",
            "TOKEN_SERVER_SKIP_DOTENV": "1",
        }
        cli = subprocess.run(
            [str(venv / "bin" / "cometchat-token-server"), "users", "get", "cometchat-uid-1", "--json"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=60,
            env=cli_env,
        )
    finally:
        emulator.stop()
    assert run.returncode == 0 and "installed package works" in run.stdout, run.stdout + run.stderr
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert '"cometchat-uid-1"' in cli.stdout and "packaged-key" not in cli.stdout + cli.stderr
