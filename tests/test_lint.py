"""The tree stays ruff clean: a lint error fails the suite like any other bug."""

import subprocess
import sys

from .procs import ROOT


def test_ruff_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
