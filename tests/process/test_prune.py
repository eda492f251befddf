"""``tokens prune``: old tokens from CometChat's own list (createdAt) revoked, recent ones
kept, paced, resumable from its journal, and the devices that held them forgotten."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from cometchat import CometChatClient, RateLimitedError
from tests.process.test_cli import NO_CONFIG, SKIP_DOTENV
from tests.procs import EMULATOR_KEY
from token_server.cli import cli
from token_server.devices import DeviceTokens, TokenCipher, store_for
from token_server.devices.prune import MAX_RATE_LIMITED, PruneJournal, Pruner, PruneStopped, PruneSummary
from token_server.user_import.pacing import Pacer

DAY = 86400


@pytest.fixture
def env(emulator, tmp_path):
    return {
        **NO_CONFIG,
        **SKIP_DOTENV,
        "COMETCHAT_BASE_URL": emulator.base_url,
        "COMETCHAT_API_KEY": EMULATOR_KEY,
        "SESSION_STORE_URI": f"sqlite:///{tmp_path}/sessions.sqlite3",
    }


def mint_aged(emulator, client: CometChatClient, uid: str, days_old: int, count: int) -> list[str]:
    emulator.faults(clock_offset_s=-days_old * DAY)
    tokens = [client.create_auth_token(uid).auth_token for _ in range(count)]
    emulator.faults(clock_offset_s=0)
    return tokens


def prune(env, tmp_path, *args: str):
    journal = str(tmp_path / "prune.journal.jsonl")
    return CliRunner().invoke(
        cli, ["tokens", "prune", "--journal", journal, "--json", *args], env=env, catch_exceptions=False
    )


def listed(client: CometChatClient, uid: str) -> set[str]:
    return {t.auth_token for t in client.iter_auth_tokens(uid)}


def test_prune_revokes_only_tokens_older_than_the_age(env, emulator, emulator_client, tmp_path) -> None:
    mint_aged(emulator, emulator_client, "cometchat-uid-1", 40, 3)
    recent = mint_aged(emulator, emulator_client, "cometchat-uid-1", 29, 2)
    other = mint_aged(emulator, emulator_client, "cometchat-uid-2", 40, 1)
    result = prune(env, tmp_path, "--older-than", "30d", "cometchat-uid-1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"users": 1, "skipped": 0, "revoked": 3, "kept": 2, "missing": []}
    assert listed(emulator_client, "cometchat-uid-1") == set(recent)
    assert listed(emulator_client, "cometchat-uid-2") == set(other)  # not named: untouched


def test_prune_all_walks_every_user_and_a_rerun_resumes(env, emulator, emulator_client, tmp_path) -> None:
    for n in range(1, 6):
        mint_aged(emulator, emulator_client, f"cometchat-uid-{n}", 60, 1)
    first = json.loads(prune(env, tmp_path, "--older-than", "1d", "--all").stdout)
    assert first["users"] == 5 and first["revoked"] == 5
    mint_aged(emulator, emulator_client, "cometchat-uid-3", 60, 1)  # done in the journal: not looked at again
    again = json.loads(prune(env, tmp_path, "--older-than", "1d", "--all").stdout)
    assert again["skipped"] == 5 and again["revoked"] == 0


def test_dry_run_revokes_nothing(env, emulator, emulator_client, tmp_path) -> None:
    old = mint_aged(emulator, emulator_client, "cometchat-uid-1", 40, 2)
    result = json.loads(prune(env, tmp_path, "--older-than", "30d", "--dry-run", "cometchat-uid-1").stdout)
    assert result["wouldRevoke"] == 2 and listed(emulator_client, "cometchat-uid-1") == set(old)


@pytest.mark.parametrize(
    "args",
    [
        ("--older-than", "30d"),  # neither uids nor --all
        ("--older-than", "30d", "--all", "cometchat-uid-1"),
        ("--older-than", "soon", "cometchat-uid-1"),
        ("--older-than", "0", "cometchat-uid-1"),
        ("--older-than", "30d", "not a uid"),
    ],
)
def test_bad_usage_is_exit_2_without_an_upstream_call(env, emulator, tmp_path, args) -> None:
    calls = emulator.stats()["requests"]
    assert prune(env, tmp_path, *args).exit_code == 2
    assert emulator.stats()["requests"] == calls


def test_an_unknown_uid_is_reported_and_fails_the_run(env, tmp_path) -> None:
    result = prune(env, tmp_path, "--older-than", "1d", "nobody-here")
    assert result.exit_code == 1 and json.loads(result.stdout)["missing"] == ["nobody-here"]


def test_pruned_device_tokens_are_forgotten_in_the_store(env, emulator, emulator_client, tmp_path) -> None:
    sessions = DeviceTokens(store_for(env["SESSION_STORE_URI"]), TokenCipher([EMULATOR_KEY]))
    emulator.faults(clock_offset_s=-40 * DAY)
    old = sessions.login(emulator_client, "cometchat-uid-1", "old-phone").token.auth_token
    emulator.faults(clock_offset_s=0)
    sessions.login(emulator_client, "cometchat-uid-1", "laptop")
    assert prune(env, tmp_path, "--older-than", "30d", "cometchat-uid-1").exit_code == 0
    assert [s.device_id for s in sessions.sessions("cometchat-uid-1")] == ["laptop"]
    assert old not in listed(emulator_client, "cometchat-uid-1")


def test_the_cli_forgets_the_devices_whose_tokens_it_revokes(env, emulator_client) -> None:
    sessions = DeviceTokens(store_for(env["SESSION_STORE_URI"]), TokenCipher([EMULATOR_KEY]))
    token = sessions.login(emulator_client, "cometchat-uid-1", "phone").token.auth_token
    sessions.login(emulator_client, "cometchat-uid-1", "laptop")
    sessions.login(emulator_client, "cometchat-uid-2", "tablet")
    run = CliRunner()
    assert run.invoke(cli, ["tokens", "revoke", "cometchat-uid-1", token], env=env).exit_code == 0
    assert [s.device_id for s in sessions.sessions("cometchat-uid-1")] == ["laptop"]
    assert run.invoke(cli, ["tokens", "flush", "cometchat-uid-1"], env=env).exit_code == 0
    assert sessions.sessions("cometchat-uid-1") == []
    assert run.invoke(cli, ["users", "deactivate", "cometchat-uid-2"], env=env).exit_code == 0
    assert sessions.sessions("cometchat-uid-2") == []


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if len(self.slept) >= 1000:
            raise RuntimeError("a runaway loop: slept 1000 times")
        self.slept.append(seconds)
        self.now += seconds


def test_calls_are_paced_under_the_per_minute_rate(emulator, emulator_client, tmp_path) -> None:
    mint_aged(emulator, emulator_client, "cometchat-uid-1", 40, 4)
    fake = FakeTime()
    pacer = Pacer(60, clock=fake.clock, sleep=fake.sleep)  # one a second (a little slower: 2 % margin)
    pruner = Pruner(emulator_client, PruneJournal(tmp_path / "j"), older_than=DAY, pacer=pacer)
    summary = pruner.run(["cometchat-uid-1"])
    assert summary.revoked == 4
    assert len(fake.slept) == 4 and all(s == pytest.approx(60 / (60 * 0.98)) for s in fake.slept)  # 1 list + 4 revokes


def test_a_429_past_the_clients_retries_holds_then_resends(tmp_path) -> None:
    class Limited:
        calls = 0

        def iter_auth_tokens(self, uid, per_page=100):
            self.calls += 1
            if self.calls == 1:
                raise RateLimitedError("slow down", status=429, retry_after=7.0)
            return iter([])

    fake = FakeTime()
    pruner = Pruner(
        Limited(), PruneJournal(tmp_path / "j"), older_than=DAY, pacer=Pacer(60, clock=fake.clock, sleep=fake.sleep)
    )
    assert pruner.run(["u1"]).users == 1 and 7.0 <= sum(fake.slept) < 9.0


def test_a_quota_that_never_frees_stops_the_run(tmp_path) -> None:
    class AlwaysLimited:
        def iter_auth_tokens(self, uid, per_page=100):
            raise RateLimitedError("slow down", status=429, retry_after=1.0)

    fake = FakeTime()
    journal = PruneJournal(tmp_path / "j")
    pruner = Pruner(AlwaysLimited(), journal, older_than=DAY, pacer=Pacer(60, clock=fake.clock, sleep=fake.sleep))
    with pytest.raises(PruneStopped):
        pruner.prune_user("u1", PruneSummary())
    assert len(fake.slept) == MAX_RATE_LIMITED - 1 and journal.done == set()


def test_prune_warns_of_a_user_near_cometchats_token_cap(emulator, emulator_client, tmp_path, caplog) -> None:
    for _ in range(91):
        emulator_client.create_auth_token("cometchat-uid-1")
    pruner = Pruner(emulator_client, PruneJournal(tmp_path / "j"), older_than=DAY, per_minute=20_000)
    with caplog.at_level(logging.WARNING, "token_server.devices"):
        assert pruner.run(["cometchat-uid-1"]).kept == 91
    assert any("91 of CometChat's 100" in r.getMessage() for r in caplog.records)
