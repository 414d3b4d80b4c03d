"""What an interrupted run leaves behind, and how the next run removes it.

Two kinds of leftovers hold student data:

- ``OUT/.staging-*``: packages being written (see :mod:`datashare.package.publish`). Only a
  run holding the lock on ``OUT/`` may remove them (:func:`remove_leftovers`), so never
  another live run's.
- private copies of the extract: the validator stages each CSV table as Parquet (names and
  birth dates included) in a :class:`WorkFolder`. These live in ``$TMPDIR/datashare-<uid>/``,
  a folder of the user's own with mode 0700, not under ``OUT/``: ``datashare validate`` has
  no ``OUT/``; ``OUT/`` is often a share, synced or backed up, where a copy of ``students``
  would travel further; ``TMPDIR`` is usually local and often memory, emptied at boot. Each
  folder holds an ``owner`` file (pid, host, start time) that its process keeps ``flock``-ed
  while it lives; the kernel drops that lock when the process dies, even by SIGKILL, so a
  later process removes exactly the folders whose owner is gone, and never a live one's,
  whatever output folder either is working on.

A normal exit, an exception, Ctrl-C (``KeyboardInterrupt``) and, once :func:`handle_sigterm`
is installed (the CLI does it), SIGTERM all remove both kinds at once through ``finally``
blocks and ``atexit``. SIGKILL and power loss leave them for the next process.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from datashare.errors import ExtractError, ReleaseError

OWNER = "owner"
"""The file in each work folder recording, and locking for, the process that made it."""

_PENDING = ".new-"
_PENDING_GRACE_SECONDS = 600
"""A pending ``.new-*`` folder holds no data yet; one left by a crash between two system calls
is removed once older than this (a younger one may be another process's, being made)."""


def _root_path() -> Path:
    """``$TMPDIR/datashare-<uid>``: this user's folder of work folders."""
    return Path(tempfile.gettempdir()) / f"datashare-{os.getuid()}"


def owner_record() -> dict[str, object]:
    """Who holds a lock or owns a work folder: this process, its host and when it started."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def work_root() -> Path:
    """``$TMPDIR/datashare-<uid>``, made private (0700) if missing; refused if anyone else could use it."""
    root = _root_path()
    try:
        os.mkdir(root, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ExtractError(f"{root}: cannot make the private folder for temporary copies of the extract ({exc.strerror})") from None
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ExtractError(
            f"{root}: the folder for temporary copies of the extract must be a folder of your own "
            "with mode 0700 (not a link, not readable by others); remove it or set TMPDIR to a private folder"
        )
    return root


class WorkFolder:
    """A private folder for temporary copies of student data, owned by this process until :meth:`remove`.

    Made as ``.new-<random>``, given its locked ``owner`` file, then renamed to
    ``<kind>-<random>``: a folder under its final name always has an owner to ask.
    """

    def __init__(self, kind: str = "extract") -> None:
        root = work_root()
        remove_stale_workdirs(root)
        pending = Path(tempfile.mkdtemp(prefix=_PENDING, dir=root))
        fd = os.open(pending / OWNER, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, (json.dumps(owner_record(), sort_keys=True) + "\n").encode())
            self.path = root / f"{kind}-{pending.name[len(_PENDING):]}"
            os.rename(pending, self.path)
            _LIVE[id(self)] = self.path
        except BaseException:
            shutil.rmtree(pending, ignore_errors=True)
            os.close(fd)
            raise
        self._fd: int | None = fd

    def remove(self) -> None:
        """Delete the folder and everything in it, then let go of the owner lock."""
        if self._fd is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        _LIVE.pop(id(self), None)
        fd, self._fd = self._fd, None
        os.close(fd)


def remove_stale_workdirs(root: Path | None = None) -> int:
    """Remove this user's work folders whose owning process is gone; return how many.

    A folder is stale when its ``owner`` file can be locked (the owner died: its lock died
    with it) or is missing. The lock is held while the folder is removed.
    """
    if root is None:
        root = _root_path()
        try:
            info = os.lstat(root)
        except FileNotFoundError:
            return 0
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return 0  # not ours to clean; WorkFolder refuses to use it
    removed = 0
    for folder in sorted(root.iterdir()):
        if folder.is_symlink() or not folder.is_dir():
            continue
        if _remove_if_owner_gone(folder):
            removed += 1
    return removed


def _remove_if_owner_gone(folder: Path) -> bool:
    if folder.name.startswith(_PENDING):
        # Being made, perhaps, by a live process that has not yet locked its owner file.
        try:
            if time.time() - folder.stat().st_mtime < _PENDING_GRACE_SECONDS:
                return False
        except FileNotFoundError:
            return False
    try:
        fd = os.open(folder / OWNER, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        shutil.rmtree(folder, ignore_errors=True)
        return True
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its owner is alive
        shutil.rmtree(folder, ignore_errors=True)
        return True
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Leftovers:
    """What :func:`remove_leftovers` removed: staging folders under OUT, stale extract copies."""

    staging: int
    workdirs: int

    def __bool__(self) -> bool:
        return bool(self.staging or self.workdirs)


def remove_leftovers(out: str | Path) -> Leftovers:
    """Remove what interrupted runs left: ``OUT/.staging-*`` and dead processes' extract copies.

    The caller must hold the lock on ``out`` (:func:`datashare.package.lock.lock_output`),
    and must have recovered anything a staging folder is still needed for first.
    """
    from datashare.package.lock import LOCK_NAME, holds_lock  # noqa: PLC0415 - avoids an import cycle

    out = Path(out)
    if not holds_lock(out):
        raise ReleaseError(f"{out}: leftovers are only removed while holding the run lock ({out / LOCK_NAME})")
    staging = [p for p in sorted(out.glob(".staging-*")) if p.is_dir() and not p.is_symlink()]
    for folder in staging:
        shutil.rmtree(folder, ignore_errors=True)
    return Leftovers(staging=len(staging), workdirs=remove_stale_workdirs())


_LIVE: dict[int, Path] = {}
"""This process's work folders, by id, for the last-resort removal after SIGTERM."""

_UNSAFE_FILES = ("<frozen importlib.", threading.__file__)
"""Code that takes a lock outside ``try``/``with``: an exception raised there leaks it (the
import lock, for one), and every other thread then waits on it for ever."""

_SIGTERM_GRACE_SECONDS = 30.0


def handle_sigterm(grace_seconds: float = _SIGTERM_GRACE_SECONDS) -> None:
    """Make SIGTERM raise ``SystemExit(143)`` in the main thread, so cleanup runs as on Ctrl-C.

    Python's default for SIGTERM is to die on the spot, leaving the extract copies and
    staging folders behind. With this handler, ``finally`` blocks and ``atexit`` remove them
    and a half-made commit is undone. The exception waits while the main thread is inside
    the import system or ``threading`` (raising there can leak a lock and hang the process).
    Python runs handlers between bytecodes: a SIGTERM that arrives during a long polars
    computation takes effect when it returns. If the process has still not ended
    ``grace_seconds`` after the signal, a watchdog thread removes this process's extract
    copies and ends it (exit status 143), leaving any staging folder to the next run. A
    second SIGTERM kills at once. Call it from the main thread (the ``datashare`` CLI does).
    """
    wake_read, wake_write = os.pipe()
    main = threading.main_thread().ident
    state = {"signalled": False, "deferred": False}

    def _watchdog() -> None:
        os.read(wake_read, 1)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
            if state["deferred"]:  # ask again, now that the main thread may have moved on
                state["deferred"] = False
                signal.pthread_kill(main, signal.SIGTERM)  # type: ignore[arg-type]
        for path in list(_LIVE.values()):
            shutil.rmtree(path, ignore_errors=True)
        os._exit(128 + signal.SIGTERM)

    def _terminate(signum: int, frame: FrameType | None) -> None:
        if not state["signalled"]:
            state["signalled"] = True
            os.write(wake_write, b"x")
        while frame is not None:
            if frame.f_code.co_filename.startswith(_UNSAFE_FILES):
                state["deferred"] = True
                return
            frame = frame.f_back
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(128 + signum)

    threading.Thread(target=_watchdog, name="datashare-sigterm-watchdog", daemon=True).start()
    signal.signal(signal.SIGTERM, _terminate)
