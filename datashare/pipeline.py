"""The release run: secrets, agreements, extract, one pass of derivation, packages.

This module only chains the stages, in the order that fails cheapest first: the key files
(before any student data is read), the agreements (lint, in force on ``as_of``: every
refused agreement named at once, see :mod:`datashare.release.admission`), the extract
(validated in full), the agreements against the extract (school year, schools), then the
computation shared by every agreement, and last the all-or-nothing publication. Any
refusal raises a :class:`~datashare.errors.DatashareError` and leaves ``OUT/partners/`` as
it was. A run writes under a narrowed umask (:mod:`datashare._private`).
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from datashare._cleanup import remove_leftovers
from datashare._private import private_files
from datashare.agreement.load import LoadedAgreement, load_agreements
from datashare.errors import AgreementError, ReleaseError
from datashare.extract import Extract, load_extract
from datashare.package.check import preload as preload_output_check
from datashare.package.bag import sha256_file
from datashare.package.coverage import uncovered_packages
from datashare.package.ledger import extract_id, load_history
from datashare.package.lock import lock_output
from datashare.package.publish import PublishResult, publish, recover
from datashare.package.sign import load_private_key
from datashare.release.admission import partner_warnings, refuse_against_extract, refuse_before_extract
from datashare.release.compute import code_table, prepare, release_all
from datashare.release.derive import ATTENDANCE_SUMMARY, attendance_riders, summary_of_riders
from datashare.release.keys import read_secret
from datashare.release.types import PartnerRelease

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    """What one run did: the releases computed, the packages published, stage timings, and
    warnings (also in ``run_report.json``) that do not stop a run."""

    releases: tuple[PartnerRelease, ...]
    published: PublishResult
    timings: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _refuse_uncovered(out: Path) -> None:
    """Refuse to release while ``OUT/partners/`` holds what the audit log (and so the ledger)
    does not know: disclosure control would not see what the partner may hold."""
    audit = out / "district" / "audit.jsonl"
    if not (out / "partners").is_dir():
        return
    missing = uncovered_packages(audit, out)
    if missing:
        shown = "; ".join(f"{u.path} ({u.reason})" for u in missing[:5])
        raise ReleaseError(
            f"{out / 'partners'}: {len(missing)} path(s) the audit log does not cover: {shown}. The ledger "
            "does not know what a partner may hold there, so nothing is released. Remove them (or restore "
            f"the package the log records) and run again; `datashare audit verify {audit}` lists them"
        )


def default_operator() -> str:
    """Who ran the release, for the audit log: ``DATASHARE_OPERATOR`` or the login name."""
    try:
        return os.environ.get("DATASHARE_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


@private_files
def release(
    *,
    extract: str | Path | Extract,
    agreements: Sequence[str | Path] | Sequence[LoadedAgreement],
    key_file: str | Path,
    as_of: dt.date,
    out: str | Path,
    signing_key: str | Path | None = None,
    replace: bool = False,
    operator: str | None = None,
    progress: Progress | None = None,
    processes: bool = False,
) -> RunResult:
    """Release every agreement from one extract, writing every package or none.

    ``agreements`` are agreement files or folders (every ``*.yaml`` in a folder, not in
    ``templates/``), or agreements already loaded. Raises ``KeyFileError`` for a bad key
    file, ``AgreementError``/``AgreementRefused`` for an agreement that may not be
    released, ``ExtractInvalid`` for an invalid extract, ``OutputCheckFailed`` when the
    independent check blocks a package, ``PackageExists`` for a different release at an
    existing package path (unless ``replace``), ``OutputLocked`` when another run holds
    ``out``. The lock on ``out`` is taken after the key files and agreements are checked and
    before the extract is read, and held until the packages are in place; what interrupted
    runs left is removed once it is held (see :mod:`datashare._cleanup`).

    ``processes`` is accepted so that programs written for an earlier version keep working,
    and has no effect: the packages are staged in two threads (see
    :data:`~datashare.package.publish.STAGE_WORKERS`).
    """
    say = progress or (lambda _message: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    if Path(out).exists() and not Path(out).is_dir():
        raise ReleaseError(f"{out}: the output folder is a file; give a folder for --out")
    say("reading the key files")
    secret = read_secret(key_file)
    if signing_key is not None:
        load_private_key(Path(signing_key))
    lap("keys")

    say("loading the agreements")
    paths = [Path(a) for a in agreements if not isinstance(a, LoadedAgreement)]
    loaded = [a for a in agreements if isinstance(a, LoadedAgreement)]
    loaded += load_agreements(paths) if paths else []
    if not loaded:
        raise AgreementError("no agreement to release: give an agreement file or a folder of *.yaml files")
    refuse_before_extract(loaded, as_of)
    lap("agreements")

    say("locking the output folder")
    # The lock is taken before any student data is read (OutputLocked names the holder)
    # and held until the packages are in place.
    with lock_output(out):
        # Complete any commit a killed run left half done, then remove what crashed runs
        # left (staging, extract copies), then read what each partner holds (verified
        # against the audit log), before any student data is read.
        for line in recover(Path(out)):
            say(f"recovered an interrupted run: {line}")
        left = remove_leftovers(out)
        if left:
            say(f"removed what interrupted runs left: {left.staging} staging folder(s), "
                f"{left.workdirs} temporary copy folder(s) of an extract")
        _refuse_uncovered(Path(out))
        partners = sorted({a.agreement.partner.id for a in loaded if a.agreement.partner is not None})
        history = load_history(Path(out) / "district", partners)
        lap("holdings")

        preload_output_check()  # overlaps the slow import with validation
        say("validating the extract")
        owned = not isinstance(extract, Extract)
        data = (
            load_extract(extract, riders={"attendance": attendance_riders()})  # type: ignore[arg-type]
            if owned
            else extract
        )
        try:
            lap("validate")

            say(f"computing {len(loaded)} release(s) as of {as_of.isoformat()}: summarizing the extract")
            tables = dict(data.tables)
            school_ids = set(tables["schools"].select("school_id").collect().get_column("school_id").to_list())
            refuse_against_extract(loaded, as_of, school_year=data.school_year.label, school_ids=school_ids)
            if "attendance" in data.aggregates:
                # Derive once: the validator's pass over attendance already summed each student's days.
                tables[ATTENDANCE_SUMMARY] = summary_of_riders(data.aggregates["attendance"])
            inputs = {name: sha256_file(Path(path)) for name, path in sorted(data.files.items())}
            # The agreements were checked against the extract just above (every refusal named at
            # once), so the shared computation is run directly rather than checking them again.
            with ThreadPoolExecutor(max_workers=1) as pool:
                # The ledger codes of every student (a Python loop) are computed while
                # prepare's polars queries, which release the GIL, run.
                student_ids = tables["students"].select("student_id").collect().get_column("student_id")
                codes = pool.submit(code_table, student_ids, secret)
                prepared = prepare(tables, data.school_year, partners=partners)
            warnings = partner_warnings(loaded, prepared.contact_partners)
            releases = release_all(
                prepared, loaded, secret, as_of, history=history, extract_id=extract_id(inputs), codes=codes.result(),
                progress=say,
            )
            lap("compute")

            published = publish(
                releases,
                Path(out),
                raw_student_ids=student_ids,
                input_files=dict(data.files),
                signing_key=Path(signing_key) if signing_key is not None else None,
                replace=replace,
                operator=operator or default_operator(),
                progress=say,
                input_sha256=inputs,
                warnings=warnings,
            )
        finally:
            if owned:
                data.close()
    lap("publish")
    return RunResult(releases=tuple(releases), published=published, timings=timings, warnings=tuple(warnings))
