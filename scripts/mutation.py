"""Mutation testing of the security-critical modules with mutmut: run by hand, not in CI.

    pip install -r requirements-mutation.txt
    python scripts/mutation.py [--group auth|routes|client ...] [--budget-minutes 25]
                               [--sample N] [--workdir DIR] [--fresh]

For each group the script copies the repository's tracked files into a scratch directory
(mutmut writes its ``mutants/`` folder there and keeps each mutant's result for the next
run, which then only retries mutants whose function changed), names the group's files to
mutate and the fast test files that cover them in the copy's ``[tool.mutmut]`` section, and
runs ``mutmut run --max-children 1`` (one child: the machine is shared). A group that runs
past ``--budget-minutes`` is stopped; its unchecked mutants are counted as such, and
``--sample N`` then checks N of them picked at random. It ends with, per file, the counts
of each outcome and the names of the surviving mutants; see one with
``cd <workdir>/<group> && python -m mutmut show <name>``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Group -> (files to mutate, the fast test files that cover them; the tests written to kill
# earlier survivors sit at the end of each module's own test file).
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "auth": (("token_server/auth.py",), ("tests/http/test_auth.py",)),
    "routes": (
        ("token_server/core/tokens.py", "token_server/core/users.py", "token_server/core/checks.py"),
        (
            "tests/http/test_routes.py",
            "tests/http/test_limits.py",
            "tests/http/test_blueprint.py",
            "tests/unit/token_server/test_core.py",
        ),
    ),
    "client": (
        ("cometchat/client.py", "cometchat/validation.py"),
        ("tests/unit/cometchat/test_client.py", "tests/unit/cometchat/test_validation.py"),
    ),
}
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "cometchat-token-server-mutation"
DEFAULT_BUDGET_MINUTES = 25.0
# `mutmut results --all true` prints "    <mutant name>: <status>".
RESULT_LINE = re.compile(r"^\s+(\S+): (.+)$")
UNKILLED = ("survived", "timeout", "suspicious", "no tests")


def tracked_files() -> list[str]:
    git = ["git", "ls-files", "-z"]  # a developer's own git, on this repository
    out = subprocess.run(git, cwd=ROOT, check=True, capture_output=True, text=True).stdout  # noqa: S603, S607
    return [name for name in out.split("\0") if name]


def prepare(scratch: Path, group: str, fresh: bool) -> None:
    """Copy the tracked files into ``scratch``; keep mutmut's cache."""
    if fresh and scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    for name in tracked_files():
        source = ROOT / name
        if source.is_file():
            target = scratch / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    files, tests = GROUPS[group]
    lines = [
        f"only_mutate = {list(files)!r}".replace("'", '"'),
        f"pytest_add_cli_args_test_selection = {list(tests)!r}".replace("'", '"'),
    ]
    pyproject = scratch / "pyproject.toml"
    text = pyproject.read_text()
    header = "[tool.mutmut]\n"
    if header not in text:
        sys.exit("pyproject.toml has no [tool.mutmut] section")
    pyproject.write_text(text.replace(header, header + "\n".join(lines) + "\n", 1))


def mutmut(scratch: Path, *args: str, timeout: float | None = None) -> tuple[int | None, str]:
    """Run ``python -m mutmut <args>`` in ``scratch``; None as the code when stopped at ``timeout``."""
    proc = subprocess.Popen(  # noqa: S603 (fixed argv: this interpreter's mutmut)
        [sys.executable, "-m", "mutmut", *args],
        cwd=scratch,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a stop reaches its children too
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        return None, out


def results(scratch: Path) -> dict[str, str]:
    code, out = mutmut(scratch, "results", "--all", "true")
    if code != 0:
        sys.exit(f"mutmut results failed:\n{out}")
    return {m.group(1): m.group(2) for m in map(RESULT_LINE.match, out.splitlines()) if m}


def module_of(mutant: str) -> str:
    return mutant.split(".x_", 1)[0].split(".x\u01c1", 1)[0]


def summarise(group: str, outcome: dict[str, str]) -> None:
    by_module: dict[str, Counter[str]] = {}
    for name, status in outcome.items():
        by_module.setdefault(module_of(name), Counter())[status] += 1
    for module, counts in sorted(by_module.items()):
        shown = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
        print(f"[{group}] {module}: {sum(counts.values())} mutants: {shown}")
    for name, status in sorted(outcome.items()):
        if status in UNKILLED:
            print(f"[{group}]   {status}: {name}")


def run_group(group: str, args: argparse.Namespace) -> None:
    scratch = args.workdir / group
    prepare(scratch, group, args.fresh)
    budget = args.budget_minutes * 60
    # mutmut keeps a verdict until the mutated function changes, so a survivor of an earlier
    # run is named again here: the tests may have changed since.
    earlier = results(scratch) if (scratch / "mutants").is_dir() else {}
    print(f"[{group}] mutmut run in {scratch} (budget {args.budget_minutes:g} min)", flush=True)
    code, out = mutmut(scratch, "run", "--max-children", "1", timeout=budget)
    if code is None:
        print(f"[{group}] stopped at the budget: the rest is 'not checked'", flush=True)
    elif code != 0:
        sys.exit(f"[{group}] mutmut run failed ({code}):\n{out[-4000:]}")
    now = results(scratch)
    again = sorted(name for name, status in earlier.items() if status in UNKILLED and now.get(name) == status)
    if again and code is not None:
        print(f"[{group}] checking {len(again)} earlier survivors again", flush=True)
        mutmut(scratch, "run", "--max-children", "1", *again, timeout=budget)
    if args.sample:
        unchecked = sorted(name for name, status in results(scratch).items() if status == "not checked")
        picked = random.Random(args.seed).sample(unchecked, min(args.sample, len(unchecked)))
        if picked:
            print(f"[{group}] sampling {len(picked)} of {len(unchecked)} unchecked mutants", flush=True)
            mutmut(scratch, "run", "--max-children", "1", *picked, timeout=budget)
    summarise(group, results(scratch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append", choices=sorted(GROUPS), help="default: every group")
    parser.add_argument("--budget-minutes", type=float, default=DEFAULT_BUDGET_MINUTES, help="per group run")
    parser.add_argument("--sample", type=int, default=0, help="then check N unchecked mutants at random")
    parser.add_argument("--seed", type=int, default=0, help="for --sample")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    args = parser.parse_args()
    for group in args.group or list(GROUPS):
        run_group(group, args)


if __name__ == "__main__":
    main()
