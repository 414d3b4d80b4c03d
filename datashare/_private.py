"""Files a run writes are private to the district: folders 0750 (or 0700), files 0640 (or 0600).

Student data must not be world-readable because the district's default umask (often 022)
says so. Two layers make the modes hold whatever the umask: :func:`private_files` narrows
the umask (to at least 027) for the length of a run, so everything a run or a library it
calls creates (bagit, great-expectations, pyarrow, the audit log) starts private; and
:func:`restrict_tree` sets the modes of a staged package explicitly before it is moved into
place, so a file copied with its source's mode is covered too. A stricter umask (077) is
kept: it gives 0700 and 0600.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

DIR_MODE = 0o750
FILE_MODE = 0o640
UMASK = 0o027

_P = ParamSpec("_P")
_T = TypeVar("_T")


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Narrow the process umask to at least :data:`UMASK` for the ``with`` block."""
    old = os.umask(UMASK)
    os.umask(old | UMASK)
    try:
        yield
    finally:
        os.umask(old)


def private_files(func: Callable[_P, _T]) -> Callable[_P, _T]:
    """Run ``func`` under :func:`private_umask`."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with private_umask():
            return func(*args, **kwargs)

    return wrapper


def restrict_tree(root: Path) -> None:
    """Folders :data:`DIR_MODE`, files :data:`FILE_MODE`, under and including ``root``
    (links are neither followed nor changed)."""
    root = Path(root)
    entries = [root, *root.rglob("*")] if root.is_dir() else [root]
    for path in entries:
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            os.chmod(path, DIR_MODE)
        elif stat.S_ISREG(mode):
            os.chmod(path, FILE_MODE)


__all__ = ["DIR_MODE", "FILE_MODE", "UMASK", "private_files", "private_umask", "restrict_tree"]
