"""One run at a time on an output folder: an ``flock`` on ``OUT/.lock`` held for the whole run.

``flock`` (not ``fcntl``/POSIX record locks) because it belongs to the open file, not to
the process: the kernel drops it when the holder's last descriptor closes, which a killed
process (SIGKILL, out of memory, power loss) always does, so a lock file left behind never
blocks the next run. The descriptor is not inherited by programs the run starts, so a child
cannot keep a dead run's lock alive. The lock file itself stays (unlinking it would let two
runs lock two different files); after taking the lock the run writes its pid, host and
start time into it, so that a refused run can name the holder, and empties it on release.

Local file systems only: ``flock`` over NFS is emulated with byte-range locks by Linux and
not at all by some servers, so keep ``OUT/`` on a local disk or one volume mounted by one
host.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from pathlib import Path

from datashare._cleanup import owner_record
from datashare._json import loads as json_loads
from datashare.errors import OutputLocked, ReleaseError

LOCK_NAME = ".lock"
"""The lock file, at the top of ``OUT/`` (never under ``partners/``)."""

_HELD: dict[Path, OutputLock] = {}
"""The output folders this process holds, so that cleaning can insist on the lock."""


class OutputLock:
    """The held lock on one output folder; :meth:`release` (or ``with``) lets it go."""

    def __init__(self, out: Path, fd: int, holder: dict[str, object]) -> None:
        self.out = out
        self.holder = holder
        self._fd: int | None = fd

    def release(self) -> None:
        """Empty the holder record and drop the lock (closing the file drops it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _HELD.pop(self.out, None)
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # the lock still goes with the descriptor
        os.close(fd)

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _key(out: Path) -> Path:
    return Path(os.path.realpath(out))


def lock_output(out: str | Path) -> OutputLock:
    """Take the lock on ``out`` (created if missing) or raise :class:`OutputLocked` at once.

    Never waits: a second run on the same folder stops with a message naming the holder's
    pid, host and start time. :class:`ReleaseError` when ``out`` cannot hold a lock file.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise ReleaseError(f"{out / LOCK_NAME}: cannot open the run lock ({exc.strerror}); OUT must be a folder you can write") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _read_holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ReleaseError(f"{path}: cannot take the run lock ({exc.strerror})") from None
        raise OutputLocked(
            f"{out}: another datashare run holds this output folder ({describe_holder(holder)}); "
            f"wait for it to finish. The lock ({path}) is released when that process ends, "
            "even if it is killed, so there is nothing to delete by hand."
        ) from None
    holder = owner_record()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder, sort_keys=True) + "\n").encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise ReleaseError(f"{path}: cannot write the run lock ({exc.strerror})") from None
    lock = OutputLock(_key(out), fd, holder)
    _HELD[lock.out] = lock
    return lock


def holds_lock(out: str | Path) -> bool:
    """Whether this process holds the lock on ``out``."""
    return Path(out).exists() and _key(Path(out)) in _HELD


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json_loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def describe_holder(holder: dict[str, object]) -> str:
    """``pid 123 on host h, started 2026-...``, or a plain phrase when the record is not written yet."""
    if not holder:
        return "a run that has just started and not yet written its pid, host and start time"
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started {holder.get('started', '?')}"
