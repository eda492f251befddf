"""``users import`` end to end: the CLI in its own process, the emulator in another, over a
real socket; interrupted (SIGKILL, Ctrl-C, injected 500s and dropped connections) and
resumed until every user is present exactly once."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from cometchat import to_cometchat_uid
from tests.procs import EMULATOR_KEY, Process

# The emulator's minute, shortened for the test; the CLI paces to the same minute.
MINUTE = "12"
KILL_AFTER_ROWS = 150
WAIT_LIMIT = 60.0  # seconds: generous bounds on a busy machine


def make_csv(path: Path, n: int) -> list[str]:
    ids = [f"auth0|User{i:05d}" for i in range(n)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "tags", "metadata"])
        for i, external in enumerate(ids):
            writer.writerow([external, f"User {i}", "migrated|beta", json.dumps({"n": i})])
    return [to_cometchat_uid(external) for external in ids]


def cli_args(csv_path: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "token_server.cli", "users", "import", str(csv_path), "--map-ids"]
    return args + ["--minute-seconds", MINUTE, "--no-progress", *extra]


def cli_env(emulator) -> dict[str, str]:
    return {"COMETCHAT_BASE_URL": emulator.base_url, "COMETCHAT_API_KEY": EMULATOR_KEY}


def run_cli(emulator, csv_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMETCHAT_", "AUTH_", "TOKEN_SERVER"))}
    env.update(cli_env(emulator), TOKEN_SERVER_SKIP_DOTENV="1")
    return subprocess.run(
        cli_args(csv_path, *extra), env=env, capture_output=True, text=True, timeout=WAIT_LIMIT * 2, check=False
    )


def uids_upstream(emulator) -> list[str]:
    """Every active uid the emulator holds, page by page (a repeat would show twice)."""
    found: list[str] = []
    page = 1
    while True:
        answer = requests.get(
            emulator.base_url + "/users",
            params={"perPage": 1000, "page": page},
            headers={"apikey": EMULATOR_KEY},
            timeout=10,
        ).json()
        found += [user["uid"] for user in answer["data"]]
        if page >= answer["meta"]["pagination"]["total_pages"]:
            return found
        page += 1


def journal_lines(csv_path: Path) -> int:
    journal = csv_path.with_name(csv_path.name + ".journal.jsonl")
    return journal.read_text().count("\n") if journal.exists() else 0


def wait_for_rows(process: Process, csv_path: Path, rows: int) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while journal_lines(csv_path) < rows:
        assert process.proc.poll() is None, process.output()
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.02)


def assert_exactly_once(emulator, expected: list[str]) -> None:
    upstream = [uid for uid in uids_upstream(emulator) if not uid.startswith("cometchat-uid-")]
    assert len(upstream) == len(set(upstream)) == len(expected)
    assert set(upstream) == set(expected)


def test_a_killed_import_resumes_to_completion(emulator, tmp_path) -> None:
    emulator.faults(minute_seconds=float(MINUTE))
    csv_path = tmp_path / "users.csv"
    expected = make_csv(csv_path, 1000)
    process = Process(cli_args(csv_path), env=cli_env(emulator), log_path=tmp_path / "first.log")
    try:
        wait_for_rows(process, csv_path, KILL_AFTER_ROWS)
        os.killpg(process.proc.pid, signal.SIGKILL)  # no goodbye: a crash, a power cut
        process.proc.wait(timeout=10)
    finally:
        process.stop()
    landed_before = journal_lines(csv_path)
    assert KILL_AFTER_ROWS <= landed_before < len(expected)

    resumed = run_cli(emulator, csv_path, "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["skipped_done_earlier"] == landed_before
    assert summary["created"] + summary["already_existed"] == len(expected) - landed_before
    assert summary["failed"] == summary["unsent"] == 0
    assert_exactly_once(emulator, expected)
    assert emulator.stats()["rate_limited"] == 0  # paced under the limit, never into it

    again = run_cli(emulator, csv_path, "--json")  # a third run has nothing left to do
    assert again.returncode == 0 and json.loads(again.stdout)["skipped_done_earlier"] == len(expected)
    assert json.loads(again.stdout)["requests"] == 0


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(emulator, tmp_path) -> None:
    emulator.faults(minute_seconds=float(MINUTE))
    csv_path = tmp_path / "users.csv"
    expected = make_csv(csv_path, 600)
    process = Process(cli_args(csv_path), env=cli_env(emulator), log_path=tmp_path / "first.log")
    try:
        wait_for_rows(process, csv_path, 100)
        os.killpg(process.proc.pid, signal.SIGINT)
        assert process.proc.wait(timeout=WAIT_LIMIT) == 1
    finally:
        output = process.stop()
    assert "interrupted" in output and "Run the same command again to resume" in output
    resumed = run_cli(emulator, csv_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_exactly_once(emulator, expected)


def test_injected_500s_drops_and_429s_lose_and_duplicate_nothing(emulator, tmp_path) -> None:
    emulator.faults(
        {"kind": "import_partial", "applied": 20, "status": 500},
        {"kind": "import_partial", "applied": 7, "drop": True},
        {"kind": "status", "status": 429, "retry_after": 1},
        {"kind": "import_partial", "applied": 49, "status": 500},
        minute_seconds=float(MINUTE),
    )
    csv_path = tmp_path / "users.csv"
    expected = make_csv(csv_path, 300)
    result = run_cli(emulator, csv_path, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["created"] + summary["already_existed"] == 300 and summary["failed"] == 0
    assert summary["already_existed"] >= 20  # rows that landed before their request failed, resent
    assert summary["rate_limited"] == 1  # the injected one, seen and waited out
    assert_exactly_once(emulator, expected)
    report = json.loads(csv_path.with_name("users.csv.failures.json").read_text())
    assert report["failures"] == []


def test_bad_rows_are_reported_by_line_and_the_good_ones_land(emulator, tmp_path) -> None:
    emulator.faults(minute_seconds=float(MINUTE))
    path = tmp_path / "users.jsonl"
    path.write_text(
        '{"id": "alice@example.com", "name": "Alice"}\n'
        "[1, 2, 3]\n"
        '{"id": "", "name": "Nobody"}\n'
        '{"id": "Bob", "name": "Bob", "metadata": {"tier": 2}}\n'
        "{broken\n",
        encoding="utf-8",
    )
    dry = run_cli(emulator, path, "--dry-run", "--json")
    assert dry.returncode == 1 and json.loads(dry.stdout)["to_send"] == 2
    assert emulator.stats()["requests"] == 0  # a dry run calls nothing upstream

    result = run_cli(emulator, path)
    assert result.returncode == 1
    for needle in (
        "line 2: a JSON line must be an object",
        "line 3: the uid (or id) is empty",
        "line 5: not valid JSON",
    ):
        assert needle in result.stdout, result.stdout
    report = json.loads(path.with_name("users.jsonl.failures.json").read_text())
    assert [failure["line"] for failure in report["failures"]] == [2, 3, 5]
    assert report["summary"]["created"] == 2
    assert sorted(uid for uid in uids_upstream(emulator) if not uid.startswith("cometchat-uid-")) == sorted(
        [to_cometchat_uid("alice@example.com"), to_cometchat_uid("Bob")]
    )


def test_the_users_api_fallback_imports_one_by_one(emulator, tmp_path) -> None:
    csv_path = tmp_path / "users.csv"
    expected = make_csv(csv_path, 40)
    result = run_cli(emulator, csv_path, "--via", "users-api", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["requests"] == 40
    assert_exactly_once(emulator, expected)
