"""One run at a time on OUT/, and nothing left behind by a crash.

Real processes, real signals: a `datashare run` is started as a subprocess on a small
synthetic district and stopped with SIGTERM or SIGKILL at points it reaches (an extract copy
on disk, the release computed, packages being staged, the first package moved); then the
next run must succeed, leave no staging folder and no copy of the extract, and leave an
audit log that covers every package under partners/."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import datashare
from datashare._cleanup import WorkFolder, remove_leftovers, remove_stale_workdirs, work_root
from datashare._resources import examples_dir
from datashare.cli import app
from datashare.errors import ExtractError, OutputLocked, ReleaseError
from datashare.package.audit import verify_audit
from datashare.package.coverage import uncovered_packages, verify_coverage
from datashare.package.lock import LOCK_NAME, lock_output
from datashare.release.keys import init_secret
from datashare.synth import synthesize

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("district")
    synthesize(root / "extract", students=300, schools=3, partners=3, seed=5)
    init_secret(root / "district.key")
    return {"extract": root / "extract", "key": root / "district.key"}


@pytest.fixture
def tmpdir_(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TMPDIR of this test's own, for this process and the runs it starts."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def _copies(tmp: Path) -> list[Path]:
    """The private extract copies (work folders) under ``tmp``."""
    root = tmp / f"datashare-{os.getuid()}"
    return sorted(root.iterdir()) if root.is_dir() else []


def _staging(out: Path) -> list[Path]:
    return sorted(out.glob(".staging-*"))


def _start_run(district: dict[str, Path], out: Path, tmp: Path, log: Path, *prefix: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    command = [
        "run", "--extract", str(district["extract"]), "--agreements", str(examples_dir()),
        "--key-file", str(district["key"]), "--as-of", AS_OF.isoformat(), "--out", str(out),
    ]
    head = list(prefix) or [sys.executable, "-m", "datashare"]
    with log.open("wb") as handle:
        return subprocess.Popen([*head, *command], stdout=handle, stderr=subprocess.STDOUT, env=env)


def _wait_for(proc: subprocess.Popen[bytes], condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before the point to stop it")
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("the run never reached the point to stop it")


def _copy_holds_a_table(tmp: Path) -> bool:
    return any(any(folder.glob("*.parquet")) for folder in _copies(tmp))


def _staging_holds_a_file(out: Path) -> bool:
    return any(p.is_file() for folder in _staging(out) for p in folder.rglob("*"))


def _logged(log: Path, text: str) -> Callable[[], bool]:
    return lambda: text in log.read_text(encoding="utf-8", errors="replace")


def _release(district: dict[str, Path], out: Path) -> datashare.RunResult:
    return datashare.release(
        extract=district["extract"], agreements=[examples_dir()], key_file=district["key"],
        as_of=AS_OF, out=out, operator="test",
    )


def _assert_clean_and_covered(out: Path, tmp: Path) -> None:
    assert _staging(out) == []
    assert _copies(tmp) == []
    assert verify_audit(out / "district" / "audit.jsonl").entries >= 2
    packages = sorted(p for p in (out / "partners").glob("*/*") if p.is_dir())
    assert verify_coverage(out / "district" / "audit.jsonl") == len(packages) == 2
    result = CliRunner().invoke(app, ["audit", "verify", str(out / "district" / "audit.jsonl")])
    assert result.exit_code == 0, result.output


# --- the lock -------------------------------------------------------------------------------


def test_a_second_run_stops_at_once_naming_the_holder(district, tmp_path: Path, tmpdir_: Path) -> None:
    out = tmp_path / "out"
    with lock_output(out) as held:
        started = time.monotonic()
        with pytest.raises(OutputLocked) as caught:
            _release(district, out)
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert f"pid {os.getpid()}" in message
        assert f"host {socket.gethostname()}" in message
        assert f"started {held.holder['started']}" in message
        assert _copies(tmpdir_) == []  # refused before the extract was read
        holder = json.loads((out / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid()
    assert (out / LOCK_NAME).read_text() == ""  # emptied on release
    assert not (out / "partners").exists()
    with lock_output(out):  # free again
        pass


@pytest.mark.slow
def test_two_concurrent_runs_the_second_fails_naming_the_first(district, tmp_path: Path, tmpdir_: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "first.log"
    first = _start_run(district, out, tmpdir_, log)
    try:
        _wait_for(first, lambda: (out / LOCK_NAME).is_file() and (out / LOCK_NAME).stat().st_size > 0)
        result = CliRunner().invoke(app, [
            "run", "--extract", str(district["extract"]), "--agreements", str(examples_dir()),
            "--key-file", str(district["key"]), "--as-of", AS_OF.isoformat(), "--out", str(out), "--quiet",
        ])
        assert result.exit_code != 0
        assert f"pid {first.pid} on host {socket.gethostname()}" in result.output
        assert "Traceback" not in result.output
    finally:
        assert first.wait(timeout=180) == 0, log.read_text()
    assert sorted(p.name for p in (out / "partners").iterdir()) == ["bright-path-tutoring", "el-centro"]
    _assert_clean_and_covered(out, tmpdir_)


def test_a_killed_holder_does_not_block_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = "import sys, time; from datashare.package.lock import lock_output; lock_output(sys.argv[1]); print('held', flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputLocked, match=f"pid {holder.pid} "):
            lock_output(out)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == holder.pid  # the record stays...
    with lock_output(out) as lock:  # ...but the lock died with the process
        assert lock.holder["pid"] == os.getpid()


def test_leftovers_are_only_removed_under_the_lock(tmp_path: Path) -> None:
    (tmp_path / ".staging-abc" / "0").mkdir(parents=True)
    with pytest.raises(ReleaseError, match="only removed while holding the run lock"):
        remove_leftovers(tmp_path)
    assert (tmp_path / ".staging-abc").is_dir()
    with lock_output(tmp_path):
        assert remove_leftovers(tmp_path).staging == 1
    assert _staging(tmp_path) == []


# --- private copies of the extract ----------------------------------------------------------


def test_work_folders_of_live_owners_stay_and_of_dead_ones_go(tmpdir_: Path) -> None:
    mine = WorkFolder("extract")
    (mine.path / "students.parquet").write_bytes(b"x")
    code = (
        "import sys, time; from datashare._cleanup import WorkFolder; w = WorkFolder('extract'); "
        "open(w.path / 'students.parquet', 'wb').write(b'x'); print(w.path, flush=True); time.sleep(120)"
    )
    env = {**os.environ, "TMPDIR": str(tmpdir_)}
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert other.stdout is not None
        theirs = Path(other.stdout.readline().strip())
        assert theirs.is_dir() and theirs != mine.path
        assert remove_stale_workdirs() == 0  # both owners alive
        assert theirs.is_dir()
        owner = json.loads((theirs / "owner").read_text())
        assert owner["pid"] == other.pid and owner["host"] == socket.gethostname()
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    assert theirs.is_dir()
    assert remove_stale_workdirs() == 1
    assert not theirs.exists()
    assert mine.path.is_dir()
    mine.remove()
    assert _copies(tmpdir_) == []


def test_a_work_root_others_can_enter_is_refused(tmpdir_: Path) -> None:
    root = tmpdir_ / f"datashare-{os.getuid()}"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    with pytest.raises(ExtractError, match="mode 0700"):
        WorkFolder("extract")
    root.chmod(0o700)
    assert work_root() == root


def test_validation_leaves_no_copy_behind(district, tmpdir_: Path) -> None:
    assert datashare.validate(district["extract"]).valid
    with datashare.load_extract(district["extract"]) as extract:
        assert len(_copies(tmpdir_)) == 1
        assert extract.tables["students"].collect().height == 300
    assert _copies(tmpdir_) == []


# --- signals ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("point", ["validating", "staging"])
def test_sigterm_removes_the_extract_copy_and_the_staging_folder(district, tmp_path: Path, tmpdir_: Path, point: str) -> None:
    out, log = tmp_path / "out", tmp_path / "run.log"
    if point == "validating":
        run = _start_run(district, out, tmpdir_, log)
        _wait_for(run, lambda: _copy_holds_a_table(tmpdir_))
        assert _copies(tmpdir_)
        run.send_signal(signal.SIGTERM)
    else:
        run = _start_run(district, out, tmpdir_, log, *_when_bagging(signal.SIGTERM))
    assert run.wait(timeout=120) == 128 + signal.SIGTERM, log.read_text()
    assert "Traceback" not in log.read_text()
    assert _copies(tmpdir_) == []
    assert _staging(out) == []
    assert not (out / "partners").exists()


def _kill(run: subprocess.Popen[bytes]) -> None:
    run.send_signal(signal.SIGKILL)
    assert run.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_at_several_points_then_a_rerun_cleans_up(district, tmp_path: Path, tmpdir_: Path) -> None:
    """Each killed run leaves its copy (and staging); the next run, once it holds the lock,
    removes what the previous one left; a last full run leaves nothing and covers all."""
    out = tmp_path / "out"
    left: list[Path] = []
    points = [
        ("an extract copy on disk", (), lambda run, log: lambda: _copy_holds_a_table(tmpdir_)),
        ("the release computed", (), lambda run, log: _logged(log, "computing 2 release(s)")),
        ("packages being staged", _when_bagging(signal.SIGKILL), lambda run, log: lambda: run.poll() == -signal.SIGKILL),
    ]
    for number, (_name, prefix, condition) in enumerate(points):
        log = tmp_path / f"run-{number}.log"
        run = _start_run(district, out, tmpdir_, log, *prefix)
        _wait_for(run, condition(run, log))
        _kill(run)
        copies = _copies(tmpdir_)
        assert not set(copies) & set(left), "a run did not remove the copy a killed run left"
        assert copies, "the killed run left no copy: the point was not reached"
        left = copies
    assert _staging(out), "the run killed while staging left no staging folder"
    assert _staging_holds_a_file(out), "the run was killed before it staged a file"
    assert not (out / "partners").exists()
    result = _release(district, out)
    assert {p.status for p in result.published.packages} == {"new"}
    _assert_clean_and_covered(out, tmpdir_)


_SIGNAL_WHEN_BAGGING = """
import os, signal, sys, tempfile
from pathlib import Path
import bagit
sent = signal.Signals[sys.argv[1]]
original = bagit.make_bag
def make_bag(dest, *args, **kwargs):
    # The point is reached: the extract's copy and a package's files are on disk.
    assert any((Path(tempfile.gettempdir()) / f"datashare-{os.getuid()}").iterdir())
    assert any(p.is_file() for p in Path(dest).rglob("*"))
    os.kill(os.getpid(), sent)
    return original(dest, *args, **kwargs)
bagit.make_bag = make_bag
from datashare.cli import main
sys.argv = ["datashare", *sys.argv[2:]]
main()
"""


def _when_bagging(sent: signal.Signals) -> tuple[str, ...]:
    """A run's command prefix: the run sends itself ``sent`` as bagit starts a package
    (staging two small packages takes milliseconds, too short to catch by polling)."""
    return (sys.executable, "-c", _SIGNAL_WHEN_BAGGING, sent.name)


_KILL_AFTER_FIRST_MOVE = """
import os, signal, sys
from pathlib import Path
partners = Path(sys.argv[1]).resolve() / "partners"
for name in ("rename", "replace"):
    original = getattr(os, name)
    def moved(src, dst, *args, _original=original, **kwargs):
        _original(src, dst, *args, **kwargs)
        if Path(os.path.abspath(dst)).parent.parent == partners:
            os.kill(os.getpid(), signal.SIGKILL)
    setattr(os, name, moved)
from datashare.cli import main
sys.argv = ["datashare", *sys.argv[2:]]
main()
"""


@pytest.mark.slow
def test_sigkill_between_moving_packages_then_a_rerun_records_them(district, tmp_path: Path, tmpdir_: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "run.log"
    run = _start_run(district, out, tmpdir_, log, sys.executable, "-c", _KILL_AFTER_FIRST_MOVE, str(out))
    assert run.wait(timeout=180) == -signal.SIGKILL, log.read_text()
    assert len([p for p in (out / "partners").glob("*/*") if p.is_dir()]) == 1
    assert uncovered_packages(out / "district" / "audit.jsonl", out)
    _release(district, out)
    _assert_clean_and_covered(out, tmpdir_)


# --- audit coverage ---------------------------------------------------------------------------


def test_audit_verify_names_every_package_the_log_does_not_cover(district, tmp_path: Path, tmpdir_: Path) -> None:
    out = tmp_path / "out"
    _release(district, out)
    audit = out / "district" / "audit.jsonl"
    assert verify_coverage(audit) == 2
    partners = out / "partners"
    shutil.copytree(partners / "el-centro" / "el-centro-2025-2026", partners / "el-centro" / "el-centro-copy")
    (partners / "el-centro" / "notes.txt").write_text("x")
    release_json = partners / "bright-path-tutoring" / "bright-path-tutoring-2025-2026" / "release.json"
    release_json.write_text(release_json.read_text().replace('"as_of"', '"as_of" ', 1))
    found = {u.path: u.reason for u in uncovered_packages(audit)}
    assert found == {
        "partners/bright-path-tutoring/bright-path-tutoring-2025-2026":
            "its release.json is not the one the latest audit entry for it records",
        "partners/el-centro/el-centro-copy": "no audit entry for this package",
        "partners/el-centro/notes.txt": "not a package",
    }
    result = CliRunner().invoke(app, ["audit", "verify", str(audit)])
    assert result.exit_code == 1
    assert "3 path(s) under partners/" in result.output
    assert "partners/el-centro/el-centro-copy" in result.output
    assert "Traceback" not in result.output
    verify_audit(audit)  # the chain itself is intact: only coverage fails


def test_an_out_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    with pytest.raises(ReleaseError, match="cannot open the run lock") as caught:
        lock_output(tmp_path / "out")
    assert not isinstance(caught.value, OutputLocked)


def _python_with_sigterm_handled(body: str, tmp: Path, grace: float) -> subprocess.Popen[str]:
    code = f"import datashare\ndatashare.handle_sigterm(grace_seconds={grace})\n" + body
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)


def test_sigterm_waits_while_the_main_thread_is_importing(tmp_path: Path) -> None:
    """An exception raised inside the import system can leak its lock and hang every thread;
    the handler lets such code finish first (simulated here by code bearing its file name)."""
    marker = tmp_path / "finished"
    body = (
        "import time\n"
        "loop = 'print(\"ready\", flush=True)\\nt = time.monotonic()\\n"
        "while time.monotonic() - t < 1.0: pass\\nopen(marker, \"w\").close()'\n"
        f"marker = {str(marker)!r}\n"
        "exec(compile(loop, '<frozen importlib._bootstrap>', 'exec'))\n"
        "time.sleep(60)\n"
    )
    proc = _python_with_sigterm_handled(body, tmp_path, grace=60)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert marker.exists()


def test_sigterm_watchdog_removes_the_copies_when_cleanup_hangs(tmp_path: Path) -> None:
    """A thread that never ends keeps Python from exiting after SystemExit: the watchdog
    removes the extract copies after the grace period and ends the process."""
    body = (
        "import threading, time\n"
        "from datashare._cleanup import WorkFolder\n"
        "w = WorkFolder('extract'); open(w.path / 'students.parquet', 'wb').write(b'x')\n"
        "threading.Thread(target=time.sleep, args=(600,)).start()\n"
        "print(w.path, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = _python_with_sigterm_handled(body, tmp_path, grace=1.0)
    assert proc.stdout is not None
    copy = Path(proc.stdout.readline().strip())
    assert (copy / "students.parquet").is_file()
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert time.monotonic() - started >= 0.9
    assert not copy.exists()
