"""No two modules of the project import each other, directly or around a loop (a module-level
import; those under ``if TYPE_CHECKING:`` run never and do not count). A package's submodule
importing its own package (``from .. import codes``) is not an edge to every sibling."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def modules(package: str) -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imported(module: str, is_package: bool, node: ast.ImportFrom, known: dict) -> set[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    return {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}


def import_graph(package: str) -> dict[str, set[str]]:
    known = modules(package)
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in known.items():
        edges: set[str] = set()
        for top in ast.parse(path.read_text()).body:
            if isinstance(top, ast.If) and "TYPE_CHECKING" in ast.unparse(top.test):
                continue
            for node in ast.walk(top) if isinstance(top, (ast.If, ast.Try)) else [top]:
                if isinstance(node, ast.Import):
                    edges |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    edges |= imported(module, is_package, node, known)
        graph[module] = {e for e in edges if e in known and e != module and not module.startswith(e + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.mark.parametrize("package", ["token_server", "cometchat"])
def test_no_import_cycle(package: str) -> None:
    assert cycles(import_graph(package)) == []


def test_the_check_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
