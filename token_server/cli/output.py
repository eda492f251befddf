"""What the CLI prints: aligned tables for people, JSON for scripts (``--json``)."""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import click

MAX_CELL = 60  # a table cell longer than this is cut (``--json`` has everything)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else ", ".join(map(str, value))
    text = str(value).replace("\n", " ")
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
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if isinstance(data, dict):  # one record: a field a line
        keys = [key for key in (columns or data) if data.get(key) is not None]
        width = max((len(key) for key in keys), default=0)
        click.echo("\n".join(f"{key.ljust(width)}  {_cell(data[key])}" for key in keys))
        return
    click.echo(table(data, columns or sorted({key for row in data for key in row})))


def json_option(function: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")(function)
