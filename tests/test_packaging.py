"""The project as a package: the wheel installs into a fresh virtualenv, and from outside the
checkout its client works against its emulator and its app serves its packaged files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from .procs import ROOT, Process, free_port

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
    declared = {Requirement(line).name.lower(): Requirement(line) for line in project["dependencies"] + extras}
    pins = pinned_requirements()
    assert set(declared) == set(pins)
    for name, requirement in declared.items():
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


def test_the_wheel_installs_and_works_outside_the_checkout(tmp_path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "cometchat/py.typed",
        "token_server/py.typed",
        "cometchat/emulator/__main__.py",
        "token_server/openapi.json",
        "token_server/templates/index.html",
        "token_server/static/demo.js",
    ):
        assert name in names, name
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert re.search(r"^License-Expression: MIT$", metadata, re.MULTILINE)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=PIP_TIMEOUT)
    python = str(venv / "bin" / "python")
    # The runtime dependencies come from the package index, as for anyone installing it.
    subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=PIP_TIMEOUT, capture_output=True
    )

    elsewhere = tmp_path / "elsewhere"  # no checkout on sys.path: only the installed packages
    elsewhere.mkdir()
    port = free_port()
    emulator = Process(
        [python, "-m", "cometchat.emulator", "--port", str(port), "--api-key", "packaged-key"],
        log_path=tmp_path / "emulator.log",
        cwd=elsewhere,
    )
    script = textwrap.dedent(
        f"""
        import cometchat, token_server
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
    try:
        emulator.wait_http(f"http://127.0.0.1:{port}/_emulator/stats")
        run = subprocess.run(
            [python, "-c", script], cwd=elsewhere, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"}
        )
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
