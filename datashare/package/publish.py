"""Publish a run's packages all or nothing, and record them in the audit log.

The outgoing tables of every release are checked together (great-expectations, one
validation per template and table, see :func:`~datashare.package.check.check_releases`)
while every package is written, signed and encrypted under ``OUT/.staging-<random>/`` (a
private folder on the same file system as the destination), two at a time in two threads.
A blocked check stops the run and removes the staging folder: nothing staged is ever
moved. Only when the check passes and every package is complete are they moved into
``OUT/partners/<partner_id>/<agreement_id>/`` by ``rename``, together with the new
``district/run_report.json``; the audit entries are appended last. Each rename is
journaled: an exception or an interrupt at any point undoes the renames done so far (a
replaced package is first renamed aside into the staging folder and restored), removes
the folders the run created, and leaves ``OUT/partners/`` and the audit log as they were.

A process killed outright (SIGKILL, power loss) in the middle of the moves cannot undo
them; so before the first move the moves and the audit entries are written to
``district/journal.json``, and the next run (:func:`recover`, under the run lock) makes
the moves not yet made and appends the entries, so that no package sits under
``partners/`` without its ledger files and audit entry. The ledger files move first.

A package already at its path is compared with the new one (``manifest-sha256.txt``,
``release.json``, signature and encrypted copy present or not, and the old one must
verify): identical is reported ``unchanged`` and left alone; different is refused with
:class:`PackageExists` unless ``replace`` is set, and then audited with ``replaced: true``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from datashare._json import loads as json_loads
from datashare._private import restrict_tree
from datashare.errors import DatashareError, PackageExists, ReleaseError
from datashare.package.audit import AuditResult, append_entries, verify_audit
from datashare.package.bag import (
    MANIFEST,
    RELEASE_JSON,
    SIGNATURE,
    TAGMANIFEST,
    dumps_json,
    sha256_file,
    write_package,
)
from datashare.package.check import check_releases
from datashare.package.encrypt import encrypt_package
from datashare.package.ledger import LEDGER_DIR, stage_ledger
from datashare.package.overview import INDEX, district_index
from datashare.package.report import report_rows
from datashare.package.sign import load_private_key, sign_bag
from datashare.package.verify import verify
from datashare.release.types import PartnerRelease

Progress = Callable[[str], None]

STAGE_WORKERS = 2
"""Packages staged at once (at most one per core), in threads: writing Parquet, hashing and
encrypting release the GIL. The packages of a run of 16 or more agreements were staged in
worker processes while each report's charts were drawn with matplotlib, which held the
GIL; with the charts written directly, processes no longer staged faster (200 packages at
a million students: 10.2 s in processes, 10.1 s in threads)."""

STAGE_BATCH = 20
"""The most packages a staging thread takes at once. Their reports' rows are made in one
query (a dozen small polars queries per report when made one by one: 3.5 s against 1.2 s
for 200 reports at a million students), without holding every package's rows at once
(680 MB for 200 reports); a small run is cut in at least two batches per thread."""


@dataclass(frozen=True)
class PublishedPackage:
    """One package of a run: where it is and what happened to it (new, unchanged, replaced)."""

    partner_id: str
    agreement_id: str
    status: str
    path: Path
    encrypted: Path | None
    signed: bool
    release: Mapping[str, object]


@dataclass(frozen=True)
class PublishResult:
    """Every package of the run, the run report and the audit log's new head."""

    packages: tuple[PublishedPackage, ...]
    run_report: Path
    audit: AuditResult | None


@dataclass
class _Plan:
    release: PartnerRelease
    bag: Path
    encrypted: Path | None
    target: Path
    target_encrypted: Path
    status: str = "new"
    ledger: dict[str, Path] = field(default_factory=dict)


def publish(
    releases: Sequence[PartnerRelease],
    out: Path,
    *,
    raw_student_ids: pl.Series,
    input_files: Mapping[str, Path],
    signing_key: Path | None = None,
    replace: bool = False,
    operator: str | None = None,
    progress: Progress | None = None,
    input_sha256: Mapping[str, str] | None = None,
    warnings: Sequence[str] = (),
) -> PublishResult:
    """Check every release, write, sign and encrypt them, then move them all into ``out`` or none.

    ``input_sha256``: the extract files' sha256 when the caller has already computed them.
    ``warnings`` (that did not stop the run) go into ``run_report.json``. Every staged file
    is made private (:func:`~datashare._private.restrict_tree`) before it is moved.
    """
    out = Path(out)
    say = progress or (lambda _message: None)
    seen: set[tuple[str, str]] = set()
    for release in releases:
        ident = (release.partner_id, release.agreement_id)
        if ident in seen:
            raise ReleaseError(f"agreement {release.agreement_id}: named twice in one run")
        seen.add(ident)
    private_key = load_private_key(signing_key) if signing_key is not None else None
    inputs = dict(input_sha256) if input_sha256 is not None else {
        name: sha256_file(Path(path)) for name, path in sorted(input_files.items())
    }

    out.mkdir(parents=True, exist_ok=True)
    # Absolute paths only from here: bagit changes the working directory while it makes a
    # bag (one at a time, see datashare.package.bag), and bags are made in other threads.
    root = Path(os.path.abspath(out))
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        say(f"checking and staging {len(releases)} package(s)")
        # The packages are staged while the output check runs; nothing staged leaves the
        # staging folder unless every table passes, and a blocked check removes it all.
        # The ledger files are written meanwhile, in a thread (writing Parquet releases the
        # GIL); those of a package found unchanged are simply not moved.
        with_ledger = [i for i, r in enumerate(releases) if r.ledger is not None]
        rosters = {
            (r.ledger.extract_id, r.ledger.covered_id): r.roster
            for r in releases
            if r.ledger is not None and r.roster is not None
        }
        workers = min(STAGE_WORKERS, os.cpu_count() or 1)
        # Packages are staged in batches, each batch's report rows made in one query.
        size = max(1, min(STAGE_BATCH, -(-len(releases) // (2 * workers))))
        numbered = list(enumerate(releases))
        stop = threading.Event()  # set when the run fails: a batch stages no further package
        with ThreadPoolExecutor(max_workers=workers) as pool, ThreadPoolExecutor(max_workers=1) as ledger_pool:
            batches = [
                pool.submit(_stage_batch, numbered[start : start + size], staging, private_key, stop)
                for start in range(0, len(numbered), size)
            ]
            ledger = ledger_pool.submit(
                stage_ledger, [releases[i].ledger for i in with_ledger], rosters, staging / "ledger"
            )
            try:
                check_releases(releases, raw_student_ids, root / "district" / "checks")
                say("finishing the staged packages")
                staged = [package for batch in batches for package in batch.result()]
                plans = [_plan(release, *package, out) for release, package in zip(releases, staged, strict=True)]
                staged_ledger = ledger.result()
            except BaseException:
                # The package being staged now finishes before the staging folder is removed;
                # no other is started.
                stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        for position, at in enumerate(with_ledger):
            plans[at].ledger = staged_ledger[position]
        for plan in plans:
            plan.status = _status(plan, replace)
        report = staging / "run_report.json"
        run = {**_run_report(plans, out, operator), "warnings": list(warnings)}
        report.write_text(dumps_json(run), encoding="utf-8")
        records = [_read_json(p.bag / RELEASE_JSON) for p in plans]
        index = district_index(run, records, root / "district" / "checks")
        (staging / INDEX).write_text(index, encoding="utf-8")
        restrict_tree(staging)
        say("moving the packages into place")
        audit = _commit(plans, staging, root, report, inputs, operator)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PublishResult(
        packages=tuple(
            PublishedPackage(
                partner_id=p.release.partner_id,
                agreement_id=p.release.agreement_id,
                status=p.status,
                path=p.target,
                encrypted=p.target_encrypted if p.encrypted else None,
                signed=(p.target / SIGNATURE).exists(),
                release=_read_json(p.target / RELEASE_JSON),
            )
            for p in plans
        ),
        run_report=out / "district" / "run_report.json",
        audit=audit,
    )


def _stage_batch(
    batch: Sequence[tuple[int, PartnerRelease]],
    staging: Path,
    private_key: Ed25519PrivateKey | None,
    stop: threading.Event,
) -> list[tuple[Path, Path | None]]:
    """Stage a batch of packages, each under ``staging / <its position in the run>``, their
    reports' rows made in one query (:func:`~datashare.package.report.report_rows`). Once
    ``stop`` is set (the run failed or was signalled) no further package is started, and
    the packages staged are returned without the rest."""
    compared = [(index, release) for index, release in batch if "aggregate_comparison" in release.tables]
    rows = report_rows([release.tables["aggregate_comparison"] for _index, release in compared])
    reports = {index: part for (index, _release), part in zip(compared, rows, strict=True)}
    staged = []
    for index, release in batch:
        if stop.is_set():
            break
        staged.append(_stage(release, staging / str(index), private_key, reports.get(index)))
    return staged


def _stage(
    release: PartnerRelease, folder: Path, private_key: Ed25519PrivateKey | None, report: pl.DataFrame | None = None
) -> tuple[Path, Path | None]:
    """Write, sign and encrypt one package under ``folder`` (absolute); return the bag and
    the encrypted copy (``None`` without recipients). ``report``: see :func:`write_package`."""
    bag = folder / release.agreement_id
    write_package(release, bag, report)
    if private_key is not None:
        sign_bag(bag, private_key)
    recipients = release.agreement.delivery.age_recipients if release.agreement.delivery else ()
    encrypted = None
    if recipients:
        encrypted = encrypt_package(bag, recipients, folder / f"{release.agreement_id}.tar.age")
    return bag, encrypted


def _plan(release: PartnerRelease, bag: Path, encrypted: Path | None, out: Path) -> _Plan:
    partner_dir = out / "partners" / release.partner_id
    return _Plan(
        release=release,
        bag=bag,
        encrypted=encrypted,
        target=partner_dir / release.agreement_id,
        target_encrypted=partner_dir / f"{release.agreement_id}.tar.age",
    )


def _status(plan: _Plan, replace: bool) -> str:
    """``new``, ``unchanged`` or ``replaced``; :class:`PackageExists` for a refused change."""
    old, new = plan.target, plan.bag
    if not old.exists() and not plan.target_encrypted.exists():
        return "new"
    if _same(old, new) and plan.target_encrypted.exists() == (plan.encrypted is not None):
        return "unchanged"
    if replace or _later(old, plan.release.as_of):
        return "replaced"
    raise PackageExists(
        f"{old}: a different release of agreement {plan.release.agreement_id} is already there; "
        "rerun with --replace to replace it (the audit log will record it)"
    )


def _later(old: Path, as_of: dt.date) -> bool:
    """Whether the release at ``old`` is of an earlier ``as_of``: a later release of an
    agreement supersedes it (the partner keeps both; the ledger knows both)."""
    try:
        previous = dt.date.fromisoformat(str(_read_json(old / RELEASE_JSON)["as_of"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return previous < as_of


def _same(old: Path, new: Path) -> bool:
    if not old.is_dir():
        return False
    for name in (MANIFEST, RELEASE_JSON):
        if not (old / name).is_file() or (old / name).read_bytes() != (new / name).read_bytes():
            return False
    if (old / SIGNATURE).exists() != (new / SIGNATURE).exists():
        return False
    try:
        verify(old)
    except DatashareError:
        return False
    return True


JOURNAL = "journal.json"
"""``district/journal.json``: the moves and audit entries of a commit under way."""


def _commit(
    plans: Sequence[_Plan],
    staging: Path,
    out: Path,
    report: Path,
    inputs: Mapping[str, str],
    operator: str | None,
) -> AuditResult | None:
    """Move the ledger files, every package and the run report into place, then append to
    the audit log.

    The moves and the audit entries are first written to ``district/journal.json`` (atomic
    rename), so a process killed in the middle is completed by the next run
    (:func:`recover`): a partner never holds a package the ledger and the log do not know.
    Any exception, ``KeyboardInterrupt`` included, undoes the moves in reverse order.
    """
    district = out / "district"
    changed = [p for p in plans if p.status != "unchanged"]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    # The staged ledger files are shared by packages (an extract's roster by every agreement
    # covering the same schools): each is hashed once.
    digests: dict[Path, str] = {}

    def ledger_digest(path: Path) -> str:
        if path not in digests:
            digests[path] = sha256_file(path)
        return digests[path]

    entries = [_audit_entry(p, out, inputs, operator, now, ledger_digest) for p in changed]
    moves: list[tuple[Path, Path]] = []
    seen_ledger: set[Path] = set()
    for plan in changed:
        for rel, staged in sorted(plan.ledger.items()):
            final = district / LEDGER_DIR / rel
            if final in seen_ledger:
                continue
            seen_ledger.add(final)
            if final.exists():
                if sha256_file(final) != sha256_file(staged):
                    raise ReleaseError(f"{final}: a different ledger file is already there; the ledger is never rewritten")
                continue
            moves.append((staged, final))
    for index, plan in enumerate(changed):
        if plan.status == "replaced":
            aside = staging / f"replaced-{index}"
            for existing in (plan.target, plan.target_encrypted):
                if existing.exists():
                    moves.append((existing, aside / existing.name))
        moves.append((plan.bag, plan.target))
        if plan.encrypted is not None:
            moves.append((plan.encrypted, plan.target_encrypted))
    final_report = district / "run_report.json"
    if final_report.exists():
        moves.append((final_report, staging / "run_report.previous.json"))
    moves.append((report, final_report))
    overview = district / INDEX  # the run's overview, written beside the run report
    if (report.with_name(INDEX)).exists():
        if overview.exists():
            moves.append((overview, staging / f"previous-{INDEX}"))
        moves.append((report.with_name(INDEX), overview))

    audit_path = district / "audit.jsonl"
    before = verify_audit(audit_path).entries if audit_path.exists() else 0
    journal = district / JOURNAL
    done: list[tuple[Path, Path]] = []
    created: list[Path] = []

    def ensure_dir(path: Path) -> None:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)

    try:
        ensure_dir(district)
        _write_journal(
            journal,
            {
                "staging": _rel(staging, out),
                "moves": [[_rel(src, out), _rel(dst, out)] for src, dst in moves],
                "audit_before": before,
                "audit": entries,
            },
        )
        for src, dst in moves:
            ensure_dir(dst.parent)
            os.rename(src, dst)
            done.append((src, dst))
        result = append_entries(audit_path, entries) if entries else None
    except BaseException:
        for src, dst in reversed(done):
            os.rename(dst, src)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                pass
        journal.unlink(missing_ok=True)
        raise
    journal.unlink(missing_ok=True)
    return result


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, both taken as absolute."""
    return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()


def _write_journal(path: Path, content: Mapping[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(content, sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def recover(out: Path) -> list[str]:
    """Complete a commit that a killed run left half done (``district/journal.json``).

    Every move not yet made is made (the packages were all checked before the first
    move), the audit entries are appended unless the log already holds them, then the
    journal and the run's staging folder are removed. Returns what was done, in words.
    Call it while holding the run lock, before anything else reads the ledger.
    """
    out = Path(os.path.abspath(out))
    journal = out / "district" / JOURNAL
    if not journal.exists():
        journal.with_name(JOURNAL + ".tmp").unlink(missing_ok=True)
        return []
    try:
        content = json_loads(journal.read_text(encoding="utf-8"))
        moves = [(out / src, out / dst) for src, dst in content["moves"]]
        entries = content["audit"]
        before = int(content["audit_before"])
        staging = out / content["staging"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ReleaseError(
            f"{journal}: unreadable ({exc}); an interrupted run left it. Compare OUT/partners with "
            "the audit log by hand (`datashare audit verify`), then remove the journal"
        ) from None
    said = []
    for src, dst in moves:
        if src.exists() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
            said.append(f"moved {dst.relative_to(out)}")
    audit_path = out / "district" / "audit.jsonl"
    now = verify_audit(audit_path).entries if audit_path.exists() else 0
    if now == before and entries:
        append_entries(audit_path, entries)
        said.append(f"recorded {len(entries)} audit entr{'y' if len(entries) == 1 else 'ies'}")
    elif now != before + len(entries) and entries:
        raise ReleaseError(
            f"{journal}: the audit log holds {now} entries where the interrupted run expected "
            f"{before} or {before + len(entries)}; check it with `datashare audit verify`"
        )
    journal.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    return said


def _operator(operator: str | None) -> str:
    if operator:
        return operator
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _read_json(path: Path) -> dict[str, object]:
    return json_loads(path.read_text(encoding="utf-8"))


def _audit_entry(
    plan: _Plan,
    out: Path,
    inputs: Mapping[str, str],
    operator: str | None,
    now: str,
    ledger_digest: Callable[[Path], str],
) -> dict[str, object]:
    release = plan.release
    record = _read_json(plan.bag / RELEASE_JSON)
    outputs = {
        path: meta["sha256"]  # type: ignore[index]
        for path, meta in record["files"].items()  # type: ignore[union-attr]
    }
    for name in (TAGMANIFEST, SIGNATURE, RELEASE_JSON):
        if (plan.bag / name).exists():
            outputs[name] = sha256_file(plan.bag / name)
    if plan.encrypted is not None:
        outputs[plan.target_encrypted.name] = sha256_file(plan.encrypted)
    return {
        "time": now,
        "operator": _operator(operator),
        "agreement": {
            "id": release.agreement_id,
            "version": release.agreement.version,
            "sha256": release.agreement_sha256,
        },
        "partner": release.partner_id,
        "as_of": release.as_of.isoformat(),
        "inputs": dict(inputs),
        "gates": record["gates"],
        "outputs": outputs,
        "package": _rel(plan.target, out),
        "replaced": plan.status == "replaced",
        "ledger": {rel: ledger_digest(path) for rel, path in sorted(plan.ledger.items())},
        "withdrawn": record.get("withdrawn", 0),
    }


def _run_report(plans: Sequence[_Plan], out: Path, operator: str | None) -> dict[str, object]:
    packages = []
    for plan in plans:
        record = _read_json(plan.bag / RELEASE_JSON)
        packages.append(
            {
                "partner": plan.release.partner_id,
                "agreement": record["agreement"],
                "as_of": record["as_of"],
                "status": plan.status,
                "gates": record["gates"],
                "suppression": record["suppression"],
                "files": record["files"],
                "package": plan.target.relative_to(out).as_posix(),
                "encrypted": plan.target_encrypted.relative_to(out).as_posix()
                if plan.encrypted
                else None,
                "signed": (plan.bag / SIGNATURE).exists(),
                "checks": f"district/checks/{plan.release.agreement_id}/index.html",
            }
        )
    return {"operator": _operator(operator), "packages": packages}
