"""Reading an import file (CSV with a header row, or JSON Lines) into rows checked locally with
the client's own rules."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from cometchat import Profile, ValidationError, to_cometchat_uid
from cometchat.validation import check_user_fields, normalize_uid

Format = Literal["csv", "jsonl"]
UID_KEYS = ("uid", "id")  # either names the user; "uid" wins when a row has both
PROFILE_KEYS = Profile.FIELDS
KNOWN_KEYS = frozenset(UID_KEYS + PROFILE_KEYS)
TAG_SEPARATOR = "|"
JSONL_SUFFIXES = (".jsonl", ".ndjson")
# The longest line read (characters): a full row (5 KB of metadata, two 3,000-character URLs,
# 25 tags), even with every character \u-escaped, fits many times over. A longer line (a file
# without line breaks) is skipped in pieces of this size, so memory stays bounded.
MAX_LINE_CHARS = 1024 * 1024


class InputError(Exception):
    """The file cannot be imported at all (usage or data-format error: exit code 2)."""


@dataclass(frozen=True)
class Row:
    """A checked row: its uid (as CometChat stores it) and its profile, ready to send."""

    line: int
    uid: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class BadRow:
    line: int
    uid: str | None
    reason: str


def guess_format(path: Path) -> Format:
    return "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "csv"


def read_rows(path: Path, *, fmt: Format | None = None, map_ids: bool = False) -> Iterator[Row | BadRow]:
    """Every row of ``path`` in order, checked, duplicates of an earlier uid refused.

    A row that fails becomes a :class:`BadRow` naming its line and the reason: reported, never
    sent, and it never stops the rows after it. A problem with the file as a whole (unreadable,
    an unknown column, no uid column) raises :class:`InputError`."""
    fmt = fmt or guess_format(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    seen: dict[str, int] = {}
    with handle:
        raw_rows = _csv_records(handle) if fmt == "csv" else _jsonl_records(handle)
        try:
            for line, record in raw_rows:
                row = record if isinstance(record, BadRow) else _check(line, record, map_ids)
                if isinstance(row, Row):
                    first = seen.setdefault(row.uid, row.line)
                    if first != row.line:
                        row = BadRow(row.line, row.uid, f"uid {row.uid!r} duplicates line {first}")
                yield row
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _bounded_lines(handle: Any, limit: int) -> Iterator[str | None]:
    """The file's lines, each read in at most ``limit`` characters; a longer line is read
    on to its end in pieces of that size, dropped, and given as None."""
    while True:
        text = handle.readline(limit)
        if not text:
            return
        if len(text) < limit or text.endswith("\n"):
            yield text
            continue
        while text and not text.endswith("\n"):  # the rest of the overlong line
            text = handle.readline(limit)
        yield None


def _too_long(line: int) -> BadRow:
    return BadRow(line, None, f"line {line} is longer than {MAX_LINE_CHARS} characters: skipped")


class _CsvLines:
    """The lines csv.reader reads, an overlong one replaced by a blank line and noted."""

    def __init__(self, handle: Any) -> None:
        self._lines = _bounded_lines(handle, MAX_LINE_CHARS)
        self.count = 0
        self.overlong: list[int] = []

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        text = next(self._lines)
        self.count += 1
        if text is None:
            self.overlong.append(self.count)
            return "\n"
        return text


def _csv_records(handle: Any) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    lines = _CsvLines(handle)
    reader = csv.reader(lines, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"line 1: the header row is not valid CSV ({exc})") from None
    unknown = [name for name in header if name not in KNOWN_KEYS]
    if unknown:
        known = ", ".join(UID_KEYS + PROFILE_KEYS)
        raise InputError(f"line 1: unknown column(s) {', '.join(map(repr, unknown))}; the columns are {known}")
    if not any(key in header for key in UID_KEYS):
        raise InputError("line 1: the header has no uid (or id) column")
    if "name" not in header:
        raise InputError("line 1: the header has no name column (every user needs a name)")
    if len(set(header)) != len(header):
        raise InputError("line 1: a column is named twice")
    if lines.overlong:
        raise InputError(f"line 1: the header row is longer than {MAX_LINE_CHARS} characters")
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, BadRow(start, None, f"malformed CSV ({exc})")
            continue
        if lines.overlong:
            overlong, lines.overlong = lines.overlong[0], []
            yield overlong, _too_long(overlong)
            continue
        if not values or values == [""]:
            continue  # a blank line
        if len(values) != len(header):
            yield start, BadRow(start, None, f"{len(values)} fields where the header has {len(header)}")
            continue
        yield start, _from_csv(start, dict(zip(header, values, strict=True)))


def _from_csv(line: int, values: dict[str, str]) -> dict[str, Any] | BadRow:
    record: dict[str, Any] = {key: value.strip() for key, value in values.items() if value.strip()}
    if "metadata" in record:
        try:
            record["metadata"] = json.loads(record["metadata"])
        except ValueError:
            return BadRow(line, None, "metadata is not valid JSON")
        except RecursionError:
            return BadRow(line, None, "metadata is nested too deep")
    if "tags" in record:
        record["tags"] = [tag.strip() for tag in record["tags"].split(TAG_SEPARATOR) if tag.strip()]
    return record


def _jsonl_records(handle: Any) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    for line, text in enumerate(_bounded_lines(handle, MAX_LINE_CHARS), start=1):
        if text is None:
            yield line, _too_long(line)
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError as exc:
            yield line, BadRow(line, None, f"not valid JSON ({getattr(exc, 'msg', exc)})")
            continue
        except RecursionError:
            yield line, BadRow(line, None, "nested too deep")
            continue
        if not isinstance(record, dict):
            yield line, BadRow(line, None, f"a JSON line must be an object, not {type(record).__name__}")
            continue
        unknown = sorted(set(record) - KNOWN_KEYS)
        if unknown:
            yield line, BadRow(line, None, f"unknown field(s) {', '.join(unknown)}")
            continue
        yield line, {key: value for key, value in record.items() if value is not None}


def _check(line: int, record: dict[str, Any], map_ids: bool) -> Row | BadRow:
    raw_uid = next((record[key] for key in UID_KEYS if record.get(key) not in (None, "")), None)
    if raw_uid is None:
        return BadRow(line, None, "the uid (or id) is empty or missing: no uid can be made from it")
    if not isinstance(raw_uid, str):
        return BadRow(line, None, "the uid must be a string")
    try:
        uid = to_cometchat_uid(raw_uid) if map_ids else normalize_uid(raw_uid)
    except ValidationError:
        hint = "" if map_ids else " (--map-ids maps such ids onto valid uids)"
        return BadRow(line, None, f"{raw_uid!r} is not a valid uid: 1-100 of a-z 0-9 _ -{hint}")
    try:
        fields = check_user_fields({key: record.get(key) for key in PROFILE_KEYS})
    except ValidationError as exc:
        return BadRow(line, uid, _reason(exc))
    return Row(line, uid, fields)


def _reason(exc: ValidationError) -> str:
    messages = [message for field_messages in exc.details.values() for message in field_messages]
    return " ".join(messages) or exc.message
