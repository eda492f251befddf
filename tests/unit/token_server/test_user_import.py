"""The import's parts: reading and checking rows, the journal, pacing, and the runner's
reading of every failure, against the in-process emulator."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from cometchat import CometChatClient, ImportOutcome, ValidationError, to_cometchat_uid
from cometchat.emulator import EmulatorState, Fault, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from token_server.user_import import BadRow, Importer, InputError, Journal, Row, read_rows
from token_server.user_import.journal import Entry
from token_server.user_import.pacing import Pacer
from token_server.user_import.report import write_failures
from token_server.user_import.rows import MAX_LINE_CHARS
from token_server.user_import.runner import MAX_OUTAGE_ATTEMPTS, OUTAGE_PAUSE, Summary


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rows_of(path: Path, **kwargs) -> list[Row | BadRow]:
    return list(read_rows(path, **kwargs))


# ---- rows ----------------------------------------------------------------------------------


def test_csv_rows_carry_every_column(tmp_path) -> None:
    path = write(
        tmp_path,
        "u.csv",
        'uid,name,avatar,link,role,metadata,tags\nAnn,Ann A,https://e.com/a.png,https://e.com/ann,mod,"{""plan"": ""pro""}",a| b |\n'
        "bob,Bob,,,,,\n",
    )
    ann, bob = rows_of(path)
    assert ann == Row(
        2,
        "ann",
        {
            "name": "Ann A",
            "avatar": "https://e.com/a.png",
            "link": "https://e.com/ann",
            "role": "mod",
            "metadata": {"plan": "pro"},
            "tags": ["a", "b"],
        },
    )
    assert bob == Row(3, "bob", {"name": "Bob"})


def test_jsonl_rows_and_the_id_column(tmp_path) -> None:
    path = write(
        tmp_path, "u.jsonl", '{"id": "x1", "name": "X", "tags": ["t"]}\n\n{"uid": "y", "id": "ignored", "name": "Y"}\n'
    )
    assert rows_of(path) == [Row(1, "x1", {"name": "X", "tags": ["t"]}), Row(3, "y", {"name": "Y"})]


def test_map_ids_uses_the_cometchat_mapping(tmp_path) -> None:
    path = write(tmp_path, "u.csv", "id,name\nauth0|5f7c8ec7c33c6c004bbafe82,A\n")
    (row,) = rows_of(path, map_ids=True)
    assert row.uid == to_cometchat_uid("auth0|5f7c8ec7c33c6c004bbafe82")
    (bad,) = rows_of(path)
    assert isinstance(bad, BadRow) and bad.line == 2 and "--map-ids" in bad.reason


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("uid,name\na,A,extra\n", 2, "3 fields where the header has 2"),
        ("uid,name\na\n", 2, "1 fields where the header has 2"),
        ('uid,name\na,"A"x\n', 2, "malformed CSV"),
        ("uid,name\n,Nobody\n", 2, "empty or missing"),
        ("uid,name\na,\n", 2, "name"),
        ("uid,name,metadata\na,A,{not json\n", 2, "metadata is not valid JSON"),
        ('uid,name,metadata\na,A,"[1]"\n', 2, "metadata must be a JSON object"),
        ("uid,name,avatar\na,A,ftp://x\n", 2, "avatar"),
        ("uid,name,tags\na,A," + "|".join(f"t{n}" for n in range(30)) + "\n", 2, "tags"),
    ],
)
def test_bad_csv_rows_name_their_line_and_the_rest_still_come(tmp_path, text, line, needle) -> None:
    columns = text.split("\n", 1)[0].count(",") + 1
    path = write(tmp_path, "u.csv", text + "good,Good" + "," * (columns - 2) + "\n")
    *bad, good = rows_of(path)
    assert len(bad) == 1 and isinstance(bad[0], BadRow), bad
    assert bad[0].line == line and needle in bad[0].reason
    assert good == Row(line + 1, "good", {"name": "Good"})


def test_oversized_metadata_is_refused_locally(tmp_path) -> None:
    big = json.dumps({"blob": "x" * 6000}).replace('"', '""')
    (bad,) = rows_of(write(tmp_path, "u.csv", f'uid,name,metadata\na,A,"{big}"\n'))
    assert isinstance(bad, BadRow) and "metadata" in bad.reason and "5120" in bad.reason


@pytest.mark.parametrize(
    ("line_text", "needle"),
    [
        ("[1, 2]", "must be an object, not list"),
        ('"just a string"', "must be an object, not str"),
        ("{not json", "not valid JSON"),
        ('{"uid": "a", "name": "A", "nickname": "x"}', "unknown field(s) nickname"),
        ('{"uid": 7, "name": "A"}', "uid must be a string"),
        ('{"id": "", "name": "A"}', "empty or missing"),
    ],
)
def test_bad_json_lines_name_their_line(tmp_path, line_text, needle) -> None:
    path = write(tmp_path, "u.jsonl", f'{{"uid": "first", "name": "F"}}\n{line_text}\n{{"uid": "last", "name": "L"}}\n')
    first, bad, last = rows_of(path, map_ids=True)
    assert isinstance(bad, BadRow) and bad.line == 2 and needle in bad.reason, bad
    assert first.uid == "first" and last.uid == "last"


def test_duplicates_inside_the_file_are_refused(tmp_path) -> None:
    rows = rows_of(write(tmp_path, "u.csv", "uid,name\nAnn,A\nbob,B\nann,Again\n"))
    assert isinstance(rows[2], BadRow) and rows[2].reason == "uid 'ann' duplicates line 2"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("uid,name,nickname\n", "unknown column(s) 'nickname'"),
        ("name,avatar\n", "no uid (or id) column"),
        ("uid,avatar\n", "no name column"),
        ("uid,name,uid\n", "named twice"),
    ],
)
def test_a_bad_header_is_an_input_error(tmp_path, text, needle) -> None:
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        rows_of(write(tmp_path, "u.csv", text + "a,b,c\n"))


def test_a_file_that_is_not_utf8_is_an_input_error(tmp_path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(b"uid,name\na,\xff\xfe\n")
    with pytest.raises(InputError, match="not UTF-8"):
        rows_of(path)


# ---- journal -------------------------------------------------------------------------------


def test_the_journal_survives_a_torn_last_line(tmp_path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.record([Entry("a", "created", 2), Entry("b", "failed", 3, "500")])
    with open(path, "a") as handle:
        handle.write('{"uid": "c", "status": "crea')  # a crash mid-write
    again = Journal(path)
    assert again.is_done("a") and not again.is_done("b") and not again.is_done("c")
    again.record([Entry("c", "exists", 4)])
    third = Journal(path)
    assert third.is_done("c") and third.is_done("a")
    assert all(json.loads(line) for line in path.read_text().splitlines()[-1:])


def test_the_journal_forces_each_batch_to_disk(tmp_path, monkeypatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr("token_server.user_import.journal.os.fsync", lambda fd: synced.append(fd))
    journal = Journal(tmp_path / "j.jsonl")
    journal.record([Entry("a", "created", 1), Entry("b", "created", 2)])
    journal.record([])
    journal.record([Entry("c", "created", 3)])
    assert len(synced) == 2


# ---- pacing --------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_spaces_starts_under_the_limit() -> None:
    fake = FakeTime()
    pacer = Pacer(60, minute_seconds=60, fraction=0.98, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(120):
        pacer.wait()
        starts.append(fake.now)
        fake.now += 0.05  # the request itself
    for i in range(len(starts)):
        in_a_minute = [s for s in starts if starts[i] <= s < starts[i] + 60]
        assert len(in_a_minute) <= 60
    assert starts[-1] - starts[0] == pytest.approx(119 * 60 / (60 * 0.98))


def test_the_pacer_holds_for_retry_after() -> None:
    fake = FakeTime()
    pacer = Pacer(60, clock=fake.clock, sleep=fake.sleep)
    pacer.wait()
    pacer.hold(30)
    pacer.wait()
    assert fake.now == pytest.approx(1030.0)


# ---- the runner, against the in-process emulator ------------------------------------------


@pytest.fixture
def upstream() -> EmulatorState:
    return EmulatorState(api_keys=["k"], minute_seconds=60)


def make_client(state: EmulatorState, **kwargs) -> CometChatClient:
    app = create_emulator_app(state)
    return CometChatClient(
        base_url="http://emulator.invalid/v3",
        api_key="k",
        adapter_factory=lambda: WSGIAdapter(app),
        sleep=lambda s: None,
        **kwargs,
    )


def make_rows(n: int, prefix: str = "user") -> list[Row]:
    return [Row(line + 2, f"{prefix}-{line}", {"name": f"User {line}"}) for line in range(n)]


def run(state: EmulatorState, rows: list[Row], tmp_path: Path, **kwargs) -> tuple[Importer, list[float]]:
    slept: list[float] = []
    client = kwargs.pop("client", None) or make_client(state)
    importer = Importer(client, Journal(tmp_path / "j.jsonl"), minute_seconds=0.001, sleep=slept.append, **kwargs)
    importer.run(importer.pending(rows))
    return importer, slept


def imported(state: EmulatorState, prefix: str = "user") -> list[str]:
    return sorted(uid for uid in state.users if uid.startswith(prefix))


def test_an_import_creates_every_row_in_batches_of_50(upstream, tmp_path) -> None:
    rows = make_rows(120)
    importer, _ = run(upstream, rows, tmp_path)
    assert importer.summary.created == 120 and importer.summary.ok
    assert importer.summary.requests == 3
    assert imported(upstream) == sorted(row.uid for row in rows)


def test_existing_users_count_as_done(upstream, tmp_path) -> None:
    upstream.create_user({"uid": "user-3", "name": "Already here"})
    importer, _ = run(upstream, make_rows(5), tmp_path)
    assert (importer.summary.created, importer.summary.existed) == (4, 1) and importer.summary.ok
    assert upstream.get_user("user-3")["name"] == "Already here"


def test_a_500_after_part_of_a_batch_landed_is_split_and_resent(upstream, tmp_path) -> None:
    upstream.faults.append(Fault("import_partial", applied=20, status=500))
    rows = make_rows(50)
    importer, _ = run(upstream, rows, tmp_path)
    summary = importer.summary
    assert summary.ok and summary.created + summary.existed == 50
    assert summary.existed == 20  # landed before the 500: resent, answered "already exists"
    assert imported(upstream) == sorted(row.uid for row in rows)
    assert summary.requests == 3  # the batch, then its two halves


def test_a_row_that_keeps_failing_the_request_is_isolated_and_reported(upstream, tmp_path) -> None:
    # Every request fails as a whole: the batch of 4 is split down to single rows.
    upstream.faults.extend([Fault("import_partial", applied=0, status=500)] * 7)
    importer, _ = run(upstream, make_rows(4), tmp_path)
    summary = importer.summary
    assert summary.requests == 7 and len(summary.failed) == 4 and not summary.created
    assert all("500" in entry.reason for entry in summary.failed)
    # The rerun (same journal) retries exactly the failed rows.
    again, _ = run(upstream, make_rows(4), tmp_path)
    assert again.summary.created == 4 and again.summary.ok


def test_a_dropped_connection_mid_batch_loses_and_duplicates_nothing(upstream, tmp_path) -> None:
    upstream.faults.append(Fault("import_partial", applied=30, drop=True))
    rows = make_rows(50)
    importer, _ = run(upstream, rows, tmp_path)
    assert importer.summary.ok and importer.summary.created + importer.summary.existed == 50
    assert imported(upstream) == sorted(row.uid for row in rows)


def test_429_waits_for_retry_after_then_resends(upstream, tmp_path) -> None:
    upstream.faults.append(Fault("status", status=429, retry_after=7))
    client = make_client(upstream, max_retries=0)
    importer, slept = run(upstream, make_rows(10), tmp_path, client=client)
    assert importer.summary.ok and importer.summary.created == 10 and importer.summary.rate_limited == 1
    assert any(6.9 <= s <= 7.0 for s in slept), slept


def test_429s_the_client_retried_itself_are_counted_too(upstream, tmp_path) -> None:
    upstream.faults.extend([Fault("status", status=429, retry_after=1)] * 2)
    client = make_client(upstream)
    importer, _ = run(upstream, make_rows(10), tmp_path, client=client)
    assert importer.summary.ok and importer.summary.rate_limited == 2
    assert client.transport.observers == []  # the importer leaves no observer behind


def test_an_outage_stops_the_run_and_the_rerun_finishes(upstream, tmp_path) -> None:
    rows = make_rows(120)
    client = make_client(upstream, max_retries=0)
    first = Importer(client, Journal(tmp_path / "j.jsonl"), minute_seconds=0.001, sleep=lambda s: None)
    pending = first.pending(rows)
    sends = {"n": 0}
    real = client.import_users

    def flaky(users):
        sends["n"] += 1
        if sends["n"] >= 2:  # the first batch lands, then the upstream goes away
            upstream.faults.append(Fault("status", status=503))
        return real(users)

    client.import_users = flaky  # type: ignore[method-assign]
    summary = first.run(pending)
    assert summary.stopped and "rerun" in summary.stopped
    assert summary.created == 50 and summary.unsent == 70 and not summary.ok
    assert sends["n"] == 1 + MAX_OUTAGE_ATTEMPTS
    upstream.faults.clear()
    again, _ = run(upstream, rows, tmp_path)
    assert again.summary.skipped == 50 and again.summary.created == 70 and again.summary.ok
    assert imported(upstream) == sorted(row.uid for row in rows)


def test_rows_refused_one_by_one_are_failures_with_reasons(tmp_path) -> None:
    class Refusing:
        def import_users(self, users):
            return {
                uid: ImportOutcome(uid, error=ValidationError("bad", details={"name": ["too odd"]})) for uid in users
            }

    importer = Importer(Refusing(), Journal(tmp_path / "j.jsonl"), minute_seconds=0.001, sleep=lambda s: None)  # type: ignore[arg-type]
    summary = importer.run(importer.pending(make_rows(2)))
    assert [entry.reason for entry in summary.failed] == ["ERR_BAD_REQUEST: bad (name: too odd)"] * 2


def test_a_uid_missing_from_the_answer_is_resent(upstream, tmp_path) -> None:
    client = make_client(upstream)
    real = client.import_users
    calls: list[list[str]] = []

    def forgetful(users):
        calls.append(sorted(users))
        answer = real(users)
        if len(calls) == 1:
            answer.pop("user-1")  # landed, but the answer does not say so
        return answer

    client.import_users = forgetful  # type: ignore[method-assign]
    importer, _ = run(upstream, make_rows(3), tmp_path, client=client)
    assert calls == [["user-0", "user-1", "user-2"], ["user-1"]]
    assert importer.summary.ok and importer.summary.existed == 1


def test_the_users_api_path_creates_one_by_one(upstream, tmp_path) -> None:
    upstream.create_user({"uid": "user-1", "name": "Here"})
    importer, _ = run(upstream, make_rows(4), tmp_path, via="users-api")
    assert (importer.summary.created, importer.summary.existed, importer.summary.requests) == (3, 1, 4)
    assert imported(upstream) == ["user-0", "user-1", "user-2", "user-3"]


def test_ctrl_c_keeps_what_landed(upstream, tmp_path) -> None:
    client = make_client(upstream)
    real = client.import_users
    count = {"n": 0}

    def interrupted(users):
        count["n"] += 1
        if count["n"] == 2:
            raise KeyboardInterrupt
        return real(users)

    client.import_users = interrupted  # type: ignore[method-assign]
    importer, _ = run(upstream, make_rows(150), tmp_path, client=client)
    assert importer.summary.stopped and importer.summary.created == 50 and importer.summary.unsent == 100
    again, _ = run(upstream, make_rows(150), tmp_path)
    assert again.summary.created == 100 and again.summary.skipped == 50


# ---- one retry loop for both paths -----------------------------------------------------------


@pytest.mark.parametrize("via", ["data-import", "users-api"])
def test_both_paths_wait_out_a_429_and_an_outage_then_finish(upstream, tmp_path, via) -> None:
    upstream.faults.extend([Fault("status", status=429, retry_after=7), Fault("status", status=503)])
    client = make_client(upstream, max_retries=0)
    importer, slept = run(upstream, make_rows(3), tmp_path, client=client, via=via)
    assert importer.summary.ok and importer.summary.created == 3 and importer.summary.rate_limited == 1
    assert any(6.9 <= s <= 7.0 for s in slept) and OUTAGE_PAUSE in slept, slept


@pytest.mark.parametrize("via", ["data-import", "users-api"])
def test_both_paths_stop_after_the_same_outage_budget(upstream, tmp_path, via) -> None:
    upstream.faults.extend([Fault("status", status=503)] * MAX_OUTAGE_ATTEMPTS)
    client = make_client(upstream, max_retries=0)
    importer, _ = run(upstream, make_rows(2), tmp_path, client=client, via=via)
    assert importer.summary.stopped and importer.summary.requests == MAX_OUTAGE_ATTEMPTS
    assert importer.summary.unsent == 2


def test_the_users_api_path_sends_every_profile_field(upstream, tmp_path) -> None:
    fields = {"name": "Ada", "avatar": "https://cdn.example/a.png", "link": "https://example.com/ada"}
    fields |= {"role": "pro", "metadata": {"plan": "pro"}, "tags": ["early"]}
    importer, _ = run(upstream, [Row(2, "ada", fields)], tmp_path, via="users-api")
    assert importer.summary.created == 1
    stored = upstream.users["ada"].data
    assert {key: stored[key] for key in fields} == fields


def _rows(path: Path) -> list[Row | BadRow]:
    return list(read_rows(path))


def test_a_row_nested_3000_deep_is_a_row_error_and_the_others_go_on(tmp_path) -> None:
    deep = "[" * 3000 + "]" * 3000
    jsonl = tmp_path / "users.jsonl"
    jsonl.write_text(
        '{"uid": "ann", "name": "Ann"}\n'
        f'{{"uid": "deep", "name": "D", "metadata": {{"k": {deep}}}}}\n'
        '{"uid": "bob", "name": "Bob", "metadata": {"k": ' + "[" * 40 + "]" * 40 + "}}\n"
        '{"uid": "cy", "name": "Cy"}\n',
        encoding="utf-8",
    )
    rows = _rows(jsonl)
    assert [(type(row).__name__, row.line) for row in rows] == [("Row", 1), ("BadRow", 2), ("BadRow", 3), ("Row", 4)]
    assert "nested too deep" in rows[1].reason and "nest more than" in rows[2].reason
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(f'uid,name,metadata\nann,Ann,\ndeep,D,"{deep}"\ncy,Cy,\n', encoding="utf-8")
    rows = _rows(csv_file)
    assert [(type(row).__name__, row.line) for row in rows] == [("Row", 2), ("BadRow", 3), ("Row", 4)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_file_without_line_breaks_is_read_in_bounded_memory(tmp_path, fmt) -> None:
    path = tmp_path / f"users.{fmt}"
    good = '{"uid": "ann", "name": "Ann"}\n' if fmt == "jsonl" else "uid,name\nann,Ann\n"
    size = 24 * 1024 * 1024
    with open(path, "w", encoding="utf-8") as out:
        out.write(good)
        piece = "x" * (1024 * 1024)
        for _ in range(size // len(piece)):
            out.write(piece)
        out.write("\n" + ('{"uid": "bob", "name": "Bob"}\n' if fmt == "jsonl" else "bob,Bob\n"))
    tracemalloc.start()
    try:
        rows = _rows(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size / 3  # a line is never held whole: a few MAX_LINE_CHARS at most
    assert [type(row).__name__ for row in rows] == ["Row", "BadRow", "Row"]
    assert f"longer than {MAX_LINE_CHARS} characters" in rows[1].reason
    assert [row.uid for row in rows if isinstance(row, Row)] == ["ann", "bob"]


def test_the_journal_never_reads_or_appends_through_a_link(tmp_path) -> None:
    victim = tmp_path / "victim.jsonl"
    victim.write_text("")
    link = tmp_path / "journal.jsonl"
    link.symlink_to(victim)
    with pytest.raises(InputError, match="symbolic link"):
        Journal(link)
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "not-yet")
    with pytest.raises(InputError, match="symbolic link"):
        Journal(dangling)
    assert not (tmp_path / "not-yet").exists()
    journal = Journal(tmp_path / "real.jsonl")  # the twin: a plain path
    journal.path.unlink(missing_ok=True)
    link2 = tmp_path / "real.jsonl"
    link2.symlink_to(victim)  # planted between start and the first append
    with pytest.raises(InputError, match="symbolic link"):
        journal.record([Entry("ann", "created", 1)])
    assert victim.read_text() == ""


def test_the_report_replaces_a_link_and_never_writes_through_one(tmp_path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    report = tmp_path / "users.failures.json"
    report.symlink_to(victim)
    (tmp_path / "users.failures.json.partial").symlink_to(victim)  # the old fixed temporary name
    summary = Summary()
    summary.failed.append(Entry("ann", "invalid", 3, "bad"))
    write_failures(report, summary)
    assert victim.read_text() == "precious\n"
    assert not report.is_symlink() and json.loads(report.read_text())["failures"][0]["line"] == 3
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".users.failures.json.")]  # no temp left
