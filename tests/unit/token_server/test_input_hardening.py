"""Input that used to cost an upstream call or break a tool (issue 18, item 7): numbers JSON
cannot carry, import rows nested too deep or too long, a symbolic link planted at the import's
journal or report, terminal escapes in what the CLI prints."""

from __future__ import annotations

import json
import math
import os
import tracemalloc
from pathlib import Path

import pytest

from cometchat import CometChatClient, ValidationError
from tests.helpers import service
from token_server.user_import import BadRow, InputError, Journal, Row, read_rows
from token_server.user_import.journal import Entry
from token_server.user_import.report import write_failures
from token_server.user_import.rows import MAX_LINE_CHARS
from token_server.user_import.runner import Summary

# ---- numbers JSON cannot carry --------------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_a_non_finite_number_in_metadata_is_400_without_an_upstream_call(http, upstream, number) -> None:
    before = upstream.requests
    body = '{"uid": "nan-user", "name": "N", "metadata": {"score": ' + number + '}}'
    answer = http.post("/api/cometchat/users", data=body, headers=service(), content_type="application/json")
    assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert "NaN" in answer.json["error"]["message"]
    assert upstream.requests == before
    json.loads(answer.get_data(), parse_constant=pytest.fail)  # the answer itself is strict JSON


def test_large_finite_numbers_still_pass(http) -> None:
    body = '{"uid": "big-number", "name": "B", "metadata": {"score": 1.7e308, "tiny": 1e-320, "n": -12}}'
    answer = http.post("/api/cometchat/users", data=body, headers=service(), content_type="application/json")
    assert answer.status_code == 201, answer.json
    assert answer.json["user"]["metadata"]["score"] == 1.7e308


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_the_client_refuses_non_finite_metadata_locally(value) -> None:
    client = CometChatClient(base_url="http://127.0.0.1:9/v3", api_key="k", max_retries=0)  # never reached
    with pytest.raises(ValidationError) as info:
        client.create_user("nan-user", "N", metadata={"x": [value]})
    assert info.value.status is None and "metadata" in info.value.details


def test_the_client_refuses_metadata_nested_too_deep_locally() -> None:
    client = CometChatClient(base_url="http://127.0.0.1:9/v3", api_key="k", max_retries=0)
    deep: dict = {}
    for _ in range(3000):
        deep = {"k": deep}
    with pytest.raises(ValidationError, match="Failed to validate"):
        client.create_user("deep-user", "D", metadata=deep)


# ---- import rows --------------------------------------------------------------------------


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




# ---- never through a symbolic link ----------------------------------------------------------






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


# ---- terminal escapes in CLI output ---------------------------------------------------------

EVIL_NAME = "Eve\x1b]0;owned\x07\x1b[2K\rcometchat-uid-9  Mallory\x9b31m\u202e"
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e")




# ---- the README's backend example -------------------------------------------------------------


def _readme_backend_example() -> str:
    text = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    after = text.split("A backend with a service key", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(("user_id", "expected_status"), [("cometchat-uid-1#x", 400), ("cometchat-uid-1", 200)])
def test_the_readme_backend_example_keeps_the_id_one_path_segment(http, monkeypatch, user_id, expected_status) -> None:
    import types

    import requests

    sent: list[str] = []

    def post(url: str, **kwargs):
        sent.append(url)
        path = url.removeprefix("http://token-server")
        answer = http.post(path, headers=kwargs["headers"], json=kwargs["json"])
        def raise_for_status() -> None:
            if answer.status_code >= 400:
                raise requests.HTTPError(f"{answer.status_code}: {answer.json}")

        return types.SimpleNamespace(status_code=answer.status_code, json=lambda: answer.json, raise_for_status=raise_for_status)

    monkeypatch.setattr(requests, "post", post)
    user = types.SimpleNamespace(id=user_id, display_name="Andrew")
    from tests.helpers import SERVICE_KEY

    namespace = {
        "TOKEN_SERVER": "http://token-server", "TOKEN_SERVER_API_KEY": SERVICE_KEY, "user": user, "device_id": "laptop-1"
    }
    code = compile(_readme_backend_example(), "README.md", "exec")
    if expected_status == 200:
        exec(code, namespace)  # noqa: S102
        assert namespace["auth_token"]
    else:  # the whole id reached the server, which refused it: no token for cometchat-uid-1
        with pytest.raises(requests.HTTPError, match="400"):
            exec(code, namespace)  # noqa: S102
    assert sent == ["http://token-server/api/cometchat/token/" + user_id.replace("#", "%23")]


# ---- process settings ------------------------------------------------------------------------






