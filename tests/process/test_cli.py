"""The operator CLI in-process (click's runner) against the standalone emulator over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from tests.procs import EMULATOR_KEY
from token_server.cli import cli

SKIP_DOTENV = {"TOKEN_SERVER_SKIP_DOTENV": "1"}
NO_CONFIG = {
    "COMETCHAT_APP_ID": None,
    "COMETCHAT_REGION": None,
    "COMETCHAT_API_KEY": None,
    "COMETCHAT_BASE_URL": None,
    "COMETCHAT_EMULATOR": None,
    "TOKEN_SERVER_DEV": None,
    "TOKEN_SERVER_API_KEYS": None,
    "AUTH_JWT_SECRET": None,
    "AUTH_JWKS_URL": None,
}


# Terminal escapes in what the CLI prints.
EVIL_NAME = "Eve\x1b]0;owned\x07\x1b[2K\rcometchat-uid-9  Mallory\x9b31m\u202e"
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


@pytest.fixture
def run(emulator, tmp_path):
    """``run(*args)`` -> click Result, configured for the emulator like the server would be."""
    env = {**NO_CONFIG, **SKIP_DOTENV, "COMETCHAT_BASE_URL": emulator.base_url, "COMETCHAT_API_KEY": EMULATOR_KEY}
    env["SESSION_STORE_URI"] = f"sqlite:///{tmp_path}/device-sessions.sqlite3"  # never the working directory's

    def invoke(*args: str, **env_overrides: str | None):
        return CliRunner().invoke(cli, list(args), env={**env, **env_overrides}, catch_exceptions=False)

    return invoke


def as_json(result) -> object:
    return json.loads(result.stdout)


def test_users_get_prints_a_record_or_json(run) -> None:
    table = run("users", "get", "cometchat-uid-1")
    assert table.exit_code == 0 and "Andrew Joseph" in table.stdout and "uid" in table.stdout
    data = as_json(run("users", "get", "cometchat-uid-1", "--json"))
    assert data["uid"] == "cometchat-uid-1" and data["name"] == "Andrew Joseph"


def test_users_list_is_a_table_and_json(run) -> None:
    table = run("users", "list")
    assert table.exit_code == 0
    header, *lines = table.stdout.splitlines()
    assert header.split()[:2] == ["UID", "NAME"] and len(lines) == 5
    assert [u["uid"] for u in as_json(run("users", "list", "--limit", "2", "--json"))] == [
        "cometchat-uid-5",
        "cometchat-uid-4",
    ]


def test_create_update_and_unset(run) -> None:
    created = run("users", "create", "Sam", "--name", "Sam", "--tag", "a", "--metadata", '{"plan": "pro"}', "--json")
    assert created.exit_code == 0 and as_json(created)["uid"] == "sam" and "authToken" not in as_json(created)
    with_token = as_json(run("users", "create", "kim", "--name", "Kim", "--with-token", "--json"))
    assert with_token["authToken"].startswith("kim_")
    updated = run("users", "update", "sam", "--name", "Samuel", "--unset", "metadata", "--clear-tags", "--json")
    assert updated.exit_code == 0
    user = as_json(run("users", "get", "sam", "--json"))
    assert user["name"] == "Samuel" and "metadata" not in user and "tags" not in user


@pytest.mark.parametrize(
    "args",
    [
        ("users", "update", "sam"),  # nothing to change
        ("users", "update", "sam", "--tag", "a", "--clear-tags"),
        ("users", "create", "x", "--name", "X", "--metadata", "[1]"),
        ("users", "create", "bad uid", "--name", "X"),
        ("users", "frobnicate"),
        ("users", "get"),
    ],
)
def test_bad_usage_exits_2_without_an_upstream_call(run, emulator, args) -> None:
    before = emulator.stats()["requests"]
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert emulator.stats()["requests"] == before


def test_upstream_errors_exit_1(run) -> None:
    result = run("users", "get", "nobody-here")
    assert result.exit_code == 1 and "ERR_UID_NOT_FOUND" in result.stderr


def test_deactivate_flushes_then_deactivates_and_is_idempotent(run, emulator, emulator_client) -> None:
    token = emulator_client.create_auth_token("cometchat-uid-1").auth_token
    first = run("users", "deactivate", "cometchat-uid-1", "cometchat-uid-2", "--json")
    assert first.exit_code == 0
    assert as_json(first) == [
        {"uid": "cometchat-uid-1", "ok": True, "result": "deactivated"},
        {"uid": "cometchat-uid-2", "ok": True, "result": "deactivated"},
    ]
    assert run("users", "deactivate", "cometchat-uid-1").exit_code == 0
    # Reactivated, the user must not get its old token back: it was flushed first.
    assert run("users", "reactivate", "cometchat-uid-1", "--keep-tokens").exit_code == 0
    assert [t.auth_token for t in emulator_client.iter_auth_tokens("cometchat-uid-1")] == []
    login = requests.put(emulator.base_url + "/me", headers={"authToken": token}, timeout=5)
    assert login.status_code == 401


def test_reactivate_reports_uids_that_were_not_deactivated(run, emulator_client) -> None:
    run("users", "deactivate", "cometchat-uid-3")
    result = run("users", "reactivate", "cometchat-uid-3", "cometchat-uid-4", "--json")
    assert result.exit_code == 1
    assert [r["ok"] for r in as_json(result)] == [True, False]
    assert emulator_client.get_user("cometchat-uid-3").uid == "cometchat-uid-3"


def test_some_rows_failing_exits_1_and_the_rest_are_done(run, emulator_client) -> None:
    result = run("users", "deactivate", "cometchat-uid-4", "bad uid!", "--json")
    assert result.exit_code == 1
    assert [r["ok"] for r in as_json(result)] == [True, False]


def test_delete_needs_yes_off_a_terminal(run, emulator_client) -> None:
    refused = run("users", "delete", "cometchat-uid-5")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert emulator_client.get_user("cometchat-uid-5")
    done = run("users", "delete", "cometchat-uid-5", "--yes", "--json")
    assert done.exit_code == 0 and as_json(done)[0]["result"] == "permanent"
    assert run("users", "create", "cometchat-uid-5", "--name", "Reborn").exit_code == 0  # the uid is free


def test_tokens_mint_list_revoke_flush(run) -> None:
    minted = [as_json(run("tokens", "mint", "cometchat-uid-2", "--json"))["authToken"] for _ in range(3)]
    listed = [t["authToken"] for t in as_json(run("tokens", "list", "cometchat-uid-2", "--json"))]
    assert listed == minted[::-1]
    assert run("tokens", "revoke", "cometchat-uid-2", minted[0]).exit_code == 0
    assert len(as_json(run("tokens", "list", "cometchat-uid-2", "--json"))) == 2
    assert run("tokens", "flush", "cometchat-uid-2").exit_code == 0
    assert as_json(run("tokens", "list", "cometchat-uid-2", "--json")) == []
    assert run("tokens", "revoke", "cometchat-uid-2", minted[1]).exit_code == 1


def test_bad_configuration_exits_2_and_names_the_variables() -> None:
    env = {**NO_CONFIG, **SKIP_DOTENV, "COMETCHAT_APP_ID": "app"}
    result = CliRunner().invoke(cli, ["users", "list"], env=env)
    assert result.exit_code == 2 and "COMETCHAT_API_KEY" in result.stderr and "COMETCHAT_REGION" in result.stderr


def test_a_rejected_rest_key_exits_2_and_the_key_is_never_printed(run) -> None:
    key = "wrong-REST-key-must-never-show-0123456789"
    outputs = []
    for args in (
        ("users", "list"),
        ("users", "get", "cometchat-uid-1", "--json"),
        ("tokens", "mint", "x"),
        ("--help",),
    ):
        result = run(*args, COMETCHAT_API_KEY=key)
        outputs.append(result.output)
        if args != ("--help",):
            assert result.exit_code == 2 and "COMETCHAT_API_KEY" in result.stderr
    assert not any(key in output for output in outputs)


def test_no_configuration_uses_the_embedded_emulator_and_says_it_does_not_persist() -> None:
    env = {**NO_CONFIG, **SKIP_DOTENV}
    runner = CliRunner()
    created = runner.invoke(cli, ["users", "create", "temp", "--name", "Temp"], env=env)
    assert created.exit_code == 0 and "nothing persists" in created.stderr
    gone = runner.invoke(cli, ["users", "get", "temp"], env=env)
    assert gone.exit_code == 1  # a new process-local emulator each time
    assert "COMETCHAT_BASE_URL" in runner.invoke(cli, ["--help"], env=env).stdout


def test_a_clean_dry_run_exits_0_and_calls_nothing(run, emulator, tmp_path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("uid,name\nann,Ann\nbob,Bob\n", encoding="utf-8")
    before = emulator.stats()["requests"]
    result = run("users", "import", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would send 2 users in 1 request(s)" in result.stdout
    assert emulator.stats()["requests"] == before
    assert not path.with_name("users.csv.journal.jsonl").exists()


def test_an_unwritable_journal_is_a_usage_error_before_anything_is_sent(run, emulator, tmp_path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("uid,name\nann,Ann\n", encoding="utf-8")
    before = emulator.stats()["requests"]
    result = run("users", "import", str(path), "--journal", str(tmp_path / "missing-dir" / "j.jsonl"))
    assert result.exit_code == 2 and "missing-dir" in result.stderr
    assert emulator.stats()["requests"] == before


def test_an_unreachable_upstream_is_a_failure_not_a_usage_error(run) -> None:
    from tests.procs import free_port

    result = run("users", "get", "cometchat-uid-1", COMETCHAT_BASE_URL=f"http://127.0.0.1:{free_port()}/v3")
    assert result.exit_code == 1 and "ERR_UPSTREAM_UNAVAILABLE" in result.stderr


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        ([sys.executable, "-m", "token_server.cli", "--help"], "Usage: python -m token_server.cli"),
        ([sys.executable, "-c", "from token_server.cli import main; main()", "--help"], "Usage: cometchat-token-server"),
    ],
)
def test_help_names_the_command_the_operator_typed(argv, shown) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, **SKIP_DOTENV})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(shown)


def test_the_import_reports_the_deep_row_by_line_and_sends_the_rest(emulator, tmp_path) -> None:
    path = tmp_path / "users.jsonl"
    deep = "[" * 3000 + "]" * 3000
    path.write_text(
        '{"uid": "hard-ann", "name": "Ann"}\n'
        f'{{"uid": "hard-deep", "name": "D", "metadata": {{"k": {deep}}}}}\n'
        '{"uid": "hard-bob", "name": "Bob"}\n',
        encoding="utf-8",
    )
    result = _cli(emulator, "users", "import", str(path), "--no-progress", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(path.with_name("users.jsonl.failures.json").read_text())
    assert [(f["line"], f["status"]) for f in report["failures"]] == [(2, "invalid")]
    assert report["summary"]["created"] == 2


def _cli(emulator, *args: str, **env: str):
    base = {
        "TOKEN_SERVER_SKIP_DOTENV": "1",
        "COMETCHAT_BASE_URL": emulator.base_url,
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "COMETCHAT_APP_ID": None,
        "COMETCHAT_REGION": None,
        "COMETCHAT_EMULATOR": None,
        "TOKEN_SERVER_DEV": None,
        "PORT": None,
        **env,
    }
    return CliRunner().invoke(cli, list(args), env=base, catch_exceptions=False)


@pytest.mark.parametrize("which", ["journal", "report"])
def test_a_symlink_at_the_journal_or_report_is_refused_before_anything_is_sent(emulator, tmp_path, which) -> None:
    path = tmp_path / "users.csv"
    path.write_text("uid,name\nlink-ann,Ann\n", encoding="utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    planted = tmp_path / f"planted-{which}"
    planted.symlink_to(victim)
    before = emulator.stats()["requests"]
    result = _cli(emulator, "users", "import", str(path), f"--{which}", str(planted), "--no-progress")
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert victim.read_text() == "precious\n" and planted.is_symlink()
    assert emulator.stats()["requests"] == before
    # The twin: the same import with ordinary paths runs.
    fine = _cli(emulator, "users", "import", str(path), "--no-progress")
    assert fine.exit_code == 0, fine.output


def test_the_cli_escapes_every_control_character_it_prints(emulator, emulator_client) -> None:
    emulator_client.create_user(
        "evil-user", EVIL_NAME, tags=["t\x1b[1A", "ok\nforged-row"], metadata={"note": "\x1b[31mred\n\x85"}
    )
    for args in (("users", "get", "evil-user"), ("users", "list"), ("users", "list", "--search", "evil")):
        out = _cli(emulator, *args)
        assert out.exit_code == 0, out.output
        assert not any(char in out.stdout for char in RAW_CONTROLS), (args, out.stdout)
        assert "\\x1b]0;owned\\x07" in out.stdout
    detail = _cli(emulator, "users", "get", "evil-user").stdout
    assert "\\x1b[2K\\rcometchat-uid-9" in detail and "\\x85" in detail
    assert "ok\\nforged-row" in detail and not any(line.startswith("forged-row") for line in detail.splitlines())
    as_json = _cli(emulator, "users", "get", "evil-user", "--json").stdout
    assert not any(char in as_json for char in (*RAW_CONTROLS, "\x85")) and "\\u202e" in as_json
    assert json.loads(as_json)["name"] == EVIL_NAME  # escaped, not altered
    assert json.loads(as_json)["metadata"] == {"note": "\x1b[31mred\n\x85"}


def test_cli_error_messages_are_escaped_too(emulator, tmp_path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("uid,name\nesc-ann,Ann\n", encoding="utf-8")
    journal = tmp_path / "missing\x1b[2K\rdir" / "j.jsonl"
    result = _cli(emulator, "users", "import", str(path), "--journal", str(journal), "--no-progress")
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "missing\\x1b[2K\\rdir" in result.stderr
