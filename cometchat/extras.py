"""The error a part of the package raises when the optional dependencies it needs are missing:
it names the extra to install (``pip install .`` brings requests alone)."""

from __future__ import annotations

DISTRIBUTION = "cometchat-token-server"


def missing_extra(part: str, extra: str, cause: ModuleNotFoundError) -> ModuleNotFoundError:
    """``part`` cannot import ``cause.name``: an error telling which extra brings it."""
    return ModuleNotFoundError(
        f'{part} needs {cause.name}, which comes with the [{extra}] extra: pip install "{DISTRIBUTION}[{extra}]"',
        name=cause.name,
    )
