r"""What the CLI prints: aligned tables for people, JSON for scripts (``--json``), every control
character escaped (all output goes through :func:`echo`)."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Sequence

import click

from ..ops import redaction

MAX_CELL = 60  # a table cell longer than this is cut (``--json`` has everything)
# Beyond the log filter's controls: the marks and overrides that reorder a line's text.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What json.dumps leaves raw inside strings (it escapes C0 itself).
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _bidi(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written out (a newline as ``\\n`` too).

    Names, tags and metadata are end users' text: printed raw, an escape sequence would drive the
    operator's terminal (set its title, erase a line, return the cursor and forge a row). Every
    control character (C0, DEL, C1, the line and paragraph separators, the bidi controls) is
    written as ``\\x1b`` or ``\\u202e``, the log filter's escapes."""
    return _BIDI.sub(_bidi, redaction.escape_controls(text))


def echo(text: str, *, err: bool = False) -> None:
    """``click.echo`` with every control character but the line breaks escaped: the one way
    the CLI prints (values inside ``text`` are escaped whole, newlines too, before)."""
    click.echo(_BIDI.sub(_bidi, redaction.escape_controls(text, keep_newlines=True)), err=err)


def dumps(data: Any) -> str:
    """Indented JSON in which no control character appears raw (a ``\\uXXXX`` escape instead),
    so the JSON stays valid and means the same."""
    return _JSON_RAW.sub(_bidi, json.dumps(data, ensure_ascii=False, indent=2))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else ", ".join(map(str, value))
    text = escape_controls(str(value))
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    lines = ["  ".join(column.upper().ljust(width) for column, width in zip(columns, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def emit(data: Any, *, as_json: bool, columns: Sequence[str] | None = None) -> None:
    """Print ``data`` (a dict or a list of dicts) as JSON, or as a table of ``columns``."""
    if as_json:
        echo(dumps(data))
        return
    if isinstance(data, dict):  # one record: a field a line
        keys = [key for key in (columns or data) if data.get(key) is not None]
        width = max((len(key) for key in keys), default=0)
        echo("\n".join(f"{key.ljust(width)}  {_cell(data[key])}" for key in keys))
        return
    echo(table(data, columns or sorted({key for row in data for key in row})))


def json_option(function: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")(function)
