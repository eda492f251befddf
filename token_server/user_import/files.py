"""Writing the import's own files (journal, failure report) without ever following a symbolic
link planted at their path (it would make the import write wherever it points, with the
operator's rights)."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .rows import InputError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _refused(path: Path, exc: OSError) -> InputError:
    if exc.errno == errno.ELOOP or path.is_symlink():
        return InputError(f"{path} is a symbolic link: refusing to write through it (remove it or pick another path)")
    return InputError(f"cannot write {path}: {exc.strerror or exc}")


def open_no_follow(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` (an InputError saying so)."""
    try:
        return os.open(path, flags | _NOFOLLOW | _CLOEXEC, mode)
    except OSError as exc:
        raise _refused(path, exc) from None


def check_writable(path: Path) -> None:
    """Fail now, before any row is sent, if ``path`` cannot be written (or is a link)."""
    os.close(open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT))


def replace_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a new file next to ``path`` and rename it over ``path``: a reader
    never sees half of it, and a link at ``path`` is replaced, never followed."""
    directory = path.parent if str(path.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=directory)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
