"""The record of what each partner holds, and the run's behaviour over a school year:
the ledger and its audit coverage, withdrawal notices, withheld records, refusals, and a
run killed in the middle of its commit."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from typer.testing import CliRunner

import datashare
from datashare._resources import examples_dir
from datashare.cli import app
from datashare.errors import AgreementRefused, AuditError, ReleaseError
from datashare.package.audit import verify_audit
from datashare.package.ledger import load_history, verify_ledger
from datashare.release.keys import init_secret, partner_key, student_keys
from datashare.synth import synthesize

OCTOBER, JANUARY, JUNE = dt.date(2025, 10, 31), dt.date(2026, 1, 31), dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("year")
    synthesize(root / "extract", students=1500, schools=6, partners=2, seed=5)
    init_secret(root / "district.key")
    return {"root": root, "extract": root / "extract", "key": root / "district.key"}


def _run(district: dict[str, Path], out: Path, as_of: dt.date, **kwargs: object) -> datashare.RunResult:
    return datashare.release(
        extract=kwargs.pop("extract", district["extract"]),
        agreements=kwargs.pop("agreements", [examples_dir()]),
        key_file=district["key"],
        as_of=as_of,
        out=out,
        operator="test",
        **kwargs,
    )


def _released_students(package: Path) -> int:
    """Students in a package's individual records (none for an aggregate-only agreement)."""
    students = package / "data" / "individual" / "students.parquet"
    return pl.read_parquet(students)["student_key"].n_unique() if students.exists() else 0


@pytest.fixture(scope="module")
def year(district: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """October, January and June releases of the example agreements into one OUT; each
    package copied aside as the partner keeps it."""
    out = tmp_path_factory.mktemp("out")
    kept: dict[dt.date, dict[str, object]] = {}
    for as_of in (OCTOBER, JANUARY, JUNE):
        result = _run(district, out, as_of)
        kept[as_of] = {p.agreement_id: dict(p.release) for p in result.published.packages}
        el_centro = out / "partners" / "el-centro" / "el-centro-2025-2026" / "data"
        kept[as_of]["withdrawn.csv"] = (
            pl.read_csv(el_centro / "withdrawn.csv") if (el_centro / "withdrawn.csv").exists() else None
        )
        kept[as_of]["students"] = pl.read_parquet(el_centro / "individual" / "students.parquet")
        kept[as_of]["released"] = {p.agreement_id: _released_students(p.path) for p in result.published.packages}
    return {"out": out, "kept": kept}


def test_ledger_records_every_release_and_is_covered_by_the_audit_chain(year: dict[str, object]) -> None:
    out = year["out"]
    recorded = verify_ledger(out / "district")
    releases = sorted(p for p in recorded if p.endswith("release.json"))
    assert len(releases) == 6  # two agreements, three dates
    history = load_history(out / "district", ["el-centro"])
    assert sorted(r.as_of for r in history.releases) == [OCTOBER, JANUARY, JUNE]
    for record in history.releases:
        assert record.groups.columns == ["unit", "metric", "side", "status", "n"]
        assert record.served.dtype == pl.Int64 and record.released.columns == ["student", "student_key"]
        assert record.groups.height > 0
    entries = [json.loads(line) for line in (out / "district" / "audit.jsonl").read_text().splitlines()]
    assert all("ledger" in entry and entry["ledger"] for entry in entries)


def test_no_student_value_in_the_ledger(year: dict[str, object], district: dict[str, Path]) -> None:
    students = pl.read_csv(district["extract"] / "students.csv", infer_schema=False)
    ids = set(students["student_id"])
    births = set(students["birth_date"])
    for path in (year["out"] / "district" / "ledger").rglob("*"):
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            assert "student_id" not in frame.columns
            for column in frame.columns:
                if frame[column].dtype == pl.String:
                    values = set(frame[column].drop_nulls())
                    assert not values & ids and not values & births, (path, column)
        elif path.is_file():
            text = path.read_text()
            assert not any(i in text for i in ids if len(i) > 4)


def test_revoked_consents_give_withdrawal_notices(year: dict[str, object], district: dict[str, Path]) -> None:
    kept = year["kept"]
    october_keys = set(kept[OCTOBER]["students"]["student_key"])
    for as_of in (JANUARY, JUNE):
        released = set(kept[as_of]["students"]["student_key"])
        gone = october_keys - released
        notice = kept[as_of]["withdrawn.csv"]
        release = kept[as_of]["el-centro-2025-2026"]
        if gone:
            assert notice is not None and gone <= set(notice["student_key"])
            assert set(notice["reason"]) <= {
                "consent_revoked", "consent_expired", "consent_invalid", "not_eligible", "withheld"
            }
            assert release["withdrawn"] == notice.height
            assert not set(notice["student_key"]) & released


def test_a_revocation_in_march_is_a_withdrawal_notice_in_the_next_package(
    district: dict[str, Path], tmp_path: Path
) -> None:
    """The district's March extract records a parent revoking consent: the next package
    lists that student for destruction, and releases nothing of them."""
    out = tmp_path / "out"
    _run(district, out, JANUARY)
    first = pl.read_parquet(out / "partners/el-centro/el-centro-2025-2026/data/individual/students.parquet")
    march = tmp_path / "march"
    shutil.copytree(district["extract"], march)
    consents = pl.read_csv(march / "consents.csv", infer_schema=False)
    secret = district["key"].read_bytes()
    keys = student_keys(consents["student_id"], partner_key(secret, "el-centro"))
    released_ids = keys.filter(pl.col("student_key").is_in(first["student_key"].implode()))["student_id"]
    revoked = sorted(released_ids)[0]
    consents = consents.with_columns(
        revoked_on=pl.when(pl.col("student_id") == revoked).then(pl.lit("2026-03-01")).otherwise("revoked_on")
    )
    consents.write_csv(march / "consents.csv")
    result = _run(district, out, dt.date(2026, 3, 15), extract=march)
    package = out / "partners/el-centro/el-centro-2025-2026"
    notice = pl.read_csv(package / "data/withdrawn.csv")
    key = keys.filter(pl.col("student_id") == revoked)["student_key"].item()
    assert notice.filter(pl.col("student_key") == key)["reason"].to_list() == ["consent_revoked"]
    assert key not in set(pl.read_parquet(package / "data/individual/students.parquet")["student_key"])
    release = next(p.release for p in result.published.packages if p.agreement_id == "el-centro-2025-2026")
    assert release["withdrawn"] == notice.height
    assert "Withdrawn students" in (package / "data/README.md").read_text()


def test_gates_add_up_and_withheld_records_are_not_released(year: dict[str, object]) -> None:
    """Each agreement's gates count its own withheld students, not those of the other
    agreements computed beside it, and add up to the records its package holds."""
    withheld = 0
    for as_of in (OCTOBER, JANUARY, JUNE):
        released = year["kept"][as_of]["released"]
        assert len(released) == 2
        for agreement, count in released.items():
            gates = year["kept"][as_of][agreement]["gates"]
            assert gates["released"] == gates["consented"] - gates["withheld"], (as_of, agreement)
            assert count == gates["released"], (as_of, agreement)
            withheld += gates["withheld"]
    assert withheld > 0  # the year withholds records, so the counts above are put to the test


def test_an_earlier_as_of_than_the_last_release_is_refused(year: dict[str, object], district: dict[str, Path]) -> None:
    before = (year["out"] / "district" / "audit.jsonl").read_bytes()
    with pytest.raises(AgreementRefused, match="already released as of 2026-06-30"):
        _run(district, year["out"], JANUARY)
    assert (year["out"] / "district" / "audit.jsonl").read_bytes() == before


def test_a_rerun_of_the_same_release_changes_nothing(year: dict[str, object], district: dict[str, Path]) -> None:
    ledger = sorted(p.relative_to(year["out"]) for p in (year["out"] / "district" / "ledger").rglob("*"))
    result = _run(district, year["out"], JUNE, processes=True)  # still accepted, and changes nothing
    assert {p.status for p in result.published.packages} == {"unchanged"}
    assert sorted(p.relative_to(year["out"]) for p in (year["out"] / "district" / "ledger").rglob("*")) == ledger


def test_an_edited_ledger_is_caught_before_any_release(district: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(district, out, OCTOBER)
    served = next((out / "district" / "ledger" / "releases" / "el-centro").rglob("served.parquet"))
    frame = pl.read_parquet(served)
    frame.head(frame.height - 1).write_parquet(served)  # a partner's student dropped from the record
    with pytest.raises(AuditError, match="served.parquet: this ledger file differs"):
        _run(district, out, JANUARY)
    checked = CliRunner().invoke(app, ["audit", "verify", str(out / "district" / "audit.jsonl")])
    assert checked.exit_code == 1 and "served.parquet: this ledger file differs" in checked.output
    served.unlink()
    with pytest.raises(AuditError, match="records this ledger file but it is missing"):
        _run(district, out, JANUARY)
    assert not (out / "partners" / "el-centro" / "el-centro-2025-2026" / "data" / "withdrawn.csv").exists()


KILLER = textwrap.dedent(
    """
    import datetime as dt, importlib, os, sys
    from pathlib import Path
    import datashare

    publish = importlib.import_module("datashare.package.publish")
    limit = int(sys.argv[4])
    state = {"committing": False, "renames": 0}
    real_rename, real_journal = os.rename, publish._write_journal

    def journal(*args, **kwargs):
        real_journal(*args, **kwargs)
        state["committing"] = True

    def rename(src, dst):
        # Die outright (no cleanup, like SIGKILL) after `limit` moves of the commit.
        if state["committing"] and limit >= 0:
            if state["renames"] >= limit:
                os._exit(9)
            state["renames"] += 1
        real_rename(src, dst)

    def append(*args, **kwargs):
        os._exit(9)

    publish._write_journal = journal
    os.rename = rename
    if limit < 0:
        publish.append_entries = append
    datashare.release(
        extract=sys.argv[1], agreements=[sys.argv[5]], key_file=sys.argv[2],
        as_of=dt.date(2026, 1, 31), out=Path(sys.argv[3]), operator="test",
    )
    """
)


@pytest.mark.parametrize("limit", [0, 5, 9, 11, 14, -1])
def test_a_run_killed_during_its_commit_is_completed_by_the_next(
    district: dict[str, Path], tmp_path: Path, limit: int
) -> None:
    """Killed after some moves (or after all of them, before the audit entries): the next
    run finishes the commit, so every package under partners/ is in the audit log and the
    ledger, and no staging folder is left."""
    out = tmp_path / "out"
    _run(district, out, OCTOBER)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    done = subprocess.run(
        [sys.executable, str(script), str(district["extract"]), str(district["key"]), str(out), str(limit), str(examples_dir())],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 9, done.stderr
    assert (out / "district" / "journal.json").exists()
    result = _run(district, out, JANUARY)
    assert not (out / "district" / "journal.json").exists()
    assert not list(out.glob(".staging-*"))
    audit = verify_audit(out / "district" / "audit.jsonl")
    assert audit.entries == 4  # two packages in October, two in January: none lost, none twice
    verify_ledger(out / "district")
    entries = [json.loads(line) for line in (out / "district" / "audit.jsonl").read_text().splitlines()]
    for package in (out / "partners").glob("*/*"):
        if not package.is_dir():
            continue
        release = json.loads((package / "release.json").read_text())
        assert release["as_of"] == JANUARY.isoformat()
        assert any(
            e["package"] == package.relative_to(out).as_posix() and e["as_of"] == release["as_of"] for e in entries
        )
        datashare.verify(package)
    assert {p.status for p in result.published.packages} == {"unchanged"}
    assert len(os.listdir(out / "district" / "ledger" / "releases" / "el-centro" / "el-centro-2025-2026")) == 2


def test_a_package_the_log_does_not_cover_stops_the_run(district: dict[str, Path], tmp_path: Path) -> None:
    """A package put under partners/ by hand is something a partner may hold that the
    ledger does not know: the run refuses, naming it, and releases nothing."""
    out = tmp_path / "out"
    _run(district, out, OCTOBER)
    stray = out / "partners" / "el-centro" / "el-centro-copy"
    shutil.copytree(out / "partners" / "el-centro" / "el-centro-2025-2026", stray)
    before = (out / "district" / "audit.jsonl").read_bytes()
    with pytest.raises(ReleaseError, match=r"el-centro/el-centro-copy .*audit verify"):
        _run(district, out, JANUARY)
    assert (out / "district" / "audit.jsonl").read_bytes() == before
    shutil.rmtree(stray)
    _run(district, out, JANUARY)
