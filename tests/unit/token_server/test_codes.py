"""The error codes the server answers live in one table (token_server/codes.py): no other
module spells one, and every code in the table is answered somewhere."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import token_server
from token_server import codes

PACKAGE = Path(token_server.__file__).parent
CODE_LITERAL = re.compile(r"""^[rRbBfFuU]*(['"])ERR_""")


def modules() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path.name != "codes.py"]


def test_no_module_spells_an_error_code_of_its_own() -> None:
    spelled = []
    for path in modules():
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type == tokenize.STRING and CODE_LITERAL.match(token.string):
                spelled.append(f"{path.relative_to(PACKAGE)}:{token.start[0]} {token.string}")
    assert spelled == [], "name these codes in token_server/codes.py and import them"


def test_every_code_in_the_table_is_answered_somewhere() -> None:
    sources = "\n".join(path.read_text() for path in modules())
    unused = sorted(code for code in codes.ALL if f"codes.{code}" not in sources)
    assert unused == []


def test_the_table_holds_its_own_names() -> None:
    assert all(getattr(codes, code) == code for code in codes.ALL)
    assert codes.http_code(418) == "ERR_HTTP_418"
