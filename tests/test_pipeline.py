"""The release run end to end on synthetic districts: refusals, all-or-nothing, and the
privacy invariants checked on the bytes of everything under OUT/partners/."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import datashare
from datashare._resources import examples_dir
from datashare.cli import app
from datashare.errors import AgreementRefused, ExtractInvalid, KeyFileError
from datashare.package.sign import generate_signing_keys
from datashare.release.keys import init_secret
from datashare.synth import synthesize

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("district")
    synthesize(root / "extract", students=900, schools=5, partners=3, seed=11)
    init_secret(root / "district.key")
    generate_signing_keys(root / "signing.pem", root / "signing.pub")
    return {
        "root": root, "extract": root / "extract", "key": root / "district.key",
        "signing": root / "signing.pem", "public": root / "signing.pub",
    }


@pytest.fixture(scope="module")
def released(district: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    datashare.release(
        extract=district["extract"], agreements=[examples_dir()], key_file=district["key"],
        as_of=AS_OF, out=out, signing_key=district["signing"], operator="test",
    )
    return out


def _identifiers(extract: Path) -> tuple[set[str], set[str], set[str]]:
    students = pl.read_csv(extract / "students.csv", infer_schema=False)
    ids = set(students["student_id"].to_list())
    names = {f"{f} {l}" for f, l in students.select("first_name", "last_name").iter_rows()}
    births = set(students["birth_date"].to_list())
    return ids, names, births


def assert_no_identifier_leaves(out: Path, extract: Path) -> None:
    """No student_id, full name or birth date in any byte of any file under OUT/partners/."""
    ids, names, births = _identifiers(extract)
    files = [p for p in (out / "partners").rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        # a decimal number (a chart coordinate such as 371.000193) is one token, not an id
        tokens = set(re.split(r"[^0-9A-Za-z_-]+", re.sub(r"\d+\.\d+", " ", text)))
        assert not tokens & ids, f"{path} holds a student_id"
        assert not tokens & births, f"{path} holds a birth date"
        assert not any(name in text for name in names), f"{path} holds a student's name"
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            assert "student_id" not in frame.columns
            for column in frame.columns:
                if frame[column].dtype == pl.String:
                    assert not set(frame[column].drop_nulls().to_list()) & ids, (path, column)


def test_release_writes_a_verified_package_per_agreement(released: Path, district) -> None:
    packages = sorted(p.relative_to(released / "partners").as_posix() for p in (released / "partners").glob("*/*") if p.is_dir())
    assert packages == ["bright-path-tutoring/bright-path-tutoring-2025-2026", "el-centro/el-centro-2025-2026"]
    for package in packages:
        result = datashare.verify(released / "partners" / package, public_key=district["public"])
        assert result.valid and result.signed
    assert datashare.verify_audit(released / "district" / "audit.jsonl")
    assert (released / "district" / "run_report.json").is_file()


def test_no_identifier_in_any_released_byte(released: Path, district) -> None:
    assert_no_identifier_leaves(released, district["extract"])


def test_aggregate_only_agreement_gets_no_individual_files(released: Path) -> None:
    bag = released / "partners" / "bright-path-tutoring" / "bright-path-tutoring-2025-2026"
    assert not (bag / "data" / "individual").exists()
    assert (bag / "data" / "aggregate_comparison.csv").is_file()


def test_individual_files_hold_only_consented_eligible_students(released: Path, district) -> None:
    """Recompute eligibility and consent independently from the raw CSV and compare keys."""
    from datashare.release.keys import partner_key, read_secret, student_keys

    extract = district["extract"]
    contacts = pl.read_csv(extract / "service_contacts.csv", infer_schema=False).with_columns(pl.col("contact_date").str.to_date())
    served = (
        contacts.filter((pl.col("partner_id") == "el-centro") & pl.col("contact_date").is_between(dt.date(2025, 7, 1), dt.date(2026, 6, 30)))
        .group_by("student_id").agg(pl.col("contact_date").n_unique().alias("days"))
        .filter(pl.col("days") >= 9)["student_id"]
    )
    students = pl.read_csv(extract / "students.csv", infer_schema=False).with_columns(pl.col("birth_date").str.to_date())
    adult = set(students.filter(pl.col("birth_date") <= dt.date(2008, 6, 30))["student_id"].to_list())
    consents = pl.read_csv(extract / "consents.csv", infer_schema=False).with_columns(pl.col("granted_on", "revoked_on").str.to_date())
    valid = consents.filter(
        (pl.col("partner_id") == "el-centro") & (pl.col("scope") == "individual_data")
        & (pl.col("granted_on") <= AS_OF) & (pl.col("revoked_on").is_null() | (pl.col("revoked_on") > AS_OF))
    )
    ok = {
        sid for sid, by in valid.select("student_id", "signed_by").iter_rows()
        if sid not in adult or by == "eligible_student"
    }
    enrolled = set(pl.read_csv(extract / "enrollments.csv", infer_schema=False)["student_id"].to_list())
    expected_ids = set(served.to_list()) & ok & enrolled
    key = partner_key(read_secret(district["key"]), "el-centro")
    expected = set(student_keys(pl.Series(sorted(expected_ids)), key)["student_key"].to_list())
    bag = released / "partners" / "el-centro" / "el-centro-2025-2026" / "data" / "individual"
    got = set(pl.read_parquet(bag / "students.parquet")["student_key"].to_list())
    assert got == expected
    for table in ("attendance", "discipline", "grades"):
        assert set(pl.read_parquet(bag / f"{table}.parquet")["student_key"].to_list()) <= expected


def test_two_runs_give_byte_identical_data_files(released: Path, district, tmp_path: Path) -> None:
    datashare.release(
        extract=district["extract"], agreements=[examples_dir()], key_file=district["key"],
        as_of=AS_OF, out=tmp_path, operator="other",
    )

    def digests(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / "partners").rglob("data/**/*") if p.is_file()
        }

    assert digests(released) == digests(tmp_path)


def test_a_run_reports_each_step_of_the_release_in_order(district, tmp_path: Path) -> None:
    """An operator of a long run sees which step it is in (the CLI times each one)."""
    said: list[str] = []
    datashare.release(
        extract=district["extract"], agreements=[examples_dir()], key_file=district["key"],
        as_of=AS_OF, out=tmp_path, operator="test", progress=said.append,
    )
    steps = [
        "validating the extract",
        "computing 2 release(s) as of 2026-06-30: summarizing the extract",
        "eligibility and consent of 2 agreement(s)",
        "withholding records that would expose an earlier release",
        "comparison cells and small-cell suppression",
        "holdings audit of 2 partner(s)",
        "pseudonyms and individual tables",
        "gates and ledger records of each agreement",
        "checking and staging 2 package(s)",
        "finishing the staged packages",
        "moving the packages into place",
    ]
    assert [message for message in said if message in steps] == steps


def _out_state(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.rglob("*") if p.is_file()
    }


def test_expired_agreement_refuses_the_whole_run(district, tmp_path: Path) -> None:
    with pytest.raises(AgreementRefused, match="not in force on 2026-09-01"):
        datashare.release(
            extract=district["extract"], agreements=[examples_dir()], key_file=district["key"],
            as_of=dt.date(2026, 9, 1), out=tmp_path / "out",
        )
    assert not (tmp_path / "out" / "partners").exists()


def test_missing_or_unsafe_key_refuses_before_reading_anything(district, tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="nope.key"):
        datashare.release(
            extract=tmp_path / "no-extract", agreements=[examples_dir()], key_file=tmp_path / "nope.key",
            as_of=AS_OF, out=tmp_path / "out",
        )
    unsafe = tmp_path / "unsafe.key"
    unsafe.write_bytes(district["key"].read_bytes())
    unsafe.chmod(0o644)
    with pytest.raises(KeyFileError, match="unsafe.key"):
        datashare.release(
            extract=district["extract"], agreements=[examples_dir()], key_file=unsafe,
            as_of=AS_OF, out=tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()


def test_invalid_extract_refuses_and_leaves_out_as_it_was(released: Path, district, tmp_path: Path) -> None:
    bad = tmp_path / "extract"
    shutil.copytree(district["extract"], bad)
    lines = (bad / "attendance.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",sick"
    (bad / "attendance.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    shutil.copytree(released, out)
    before = _out_state(out)
    with pytest.raises(ExtractInvalid, match="attendance.csv"):
        datashare.release(
            extract=bad, agreements=[examples_dir()], key_file=district["key"], as_of=AS_OF, out=out,
        )
    assert _out_state(out) == before


def test_cli_run_refusal_names_the_cause_without_traceback(district, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "run", "--extract", str(district["extract"]), "--agreements", str(examples_dir()),
        "--key-file", str(tmp_path / "missing.key"), "--as-of", "2026-06-30", "--out", str(tmp_path / "out"),
    ])
    assert result.exit_code != 0
    assert "missing.key" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "partners").exists()


def test_cli_run_and_rerun_is_a_no_op(district, tmp_path: Path) -> None:
    args = [
        "run", "--extract", str(district["extract"]), "--agreements", str(examples_dir()),
        "--key-file", str(district["key"]), "--as-of", "2026-06-30", "--out", str(tmp_path), "--quiet",
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    state = _out_state(tmp_path / "partners")
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "unchanged" in second.output
    assert _out_state(tmp_path / "partners") == state


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), students=st.integers(120, 400), schools=st.integers(1, 4))
def test_property_random_districts_never_leak(tmp_path_factory, seed: int, students: int, schools: int) -> None:
    """Over random small districts: the release validates, and no identifier leaves, and no
    published group is under the agreement's minimum cell size."""
    root = tmp_path_factory.mktemp("prop")
    synthesize(root / "extract", students=students, schools=schools, partners=2, seed=seed)
    init_secret(root / "k.key")
    datashare.release(
        extract=root / "extract", agreements=[examples_dir()], key_file=root / "k.key", as_of=AS_OF, out=root / "out",
    )
    assert_no_identifier_leaves(root / "out", root / "extract")
    for csv in (root / "out" / "partners").rglob("aggregate_comparison.csv"):
        frame = pl.read_csv(csv, infer_schema=False)
        for column in ("served_n", "comparison_n"):
            published = frame[column].drop_nulls().cast(pl.Int64)
            assert (published >= 10).all(), (csv, column)


def test_no_secret_in_any_output_or_message(released: Path, district, tmp_path: Path) -> None:
    """The district secret and the signing key appear in no file under OUT/, no CLI output
    and no error message, in any common encoding."""
    import base64

    secret = district["key"].read_bytes()
    private_pem = district["signing"].read_bytes()
    private_body = b"".join(line for line in private_pem.splitlines() if not line.startswith(b"-----"))
    needles = [secret, secret.hex().encode(), base64.b64encode(secret), base64.b32encode(secret).lower(), private_body]
    for path in released.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
    # A key file of the wrong size: the error names the file, never its content.
    short = tmp_path / "short.key"
    short.write_bytes(secret[:20])
    short.chmod(0o600)
    result = CliRunner().invoke(app, [
        "run", "--extract", str(district["extract"]), "--agreements", str(examples_dir()),
        "--key-file", str(short), "--as-of", "2026-06-30", "--out", str(tmp_path / "out"),
    ])
    assert result.exit_code != 0 and "short.key" in result.output
    text = result.output.encode()
    assert not any(n[:20] in text for n in needles if len(n) >= 20)
    assert secret[:20].hex().encode() not in text


def test_attendance_is_derived_in_the_validators_pass_with_the_same_result(district) -> None:
    """The summary computed as a rider of validation equals a fresh derivation."""
    from datashare.extract import load_extract
    from datashare.release.derive import (
        ATTENDANCE_SUMMARY,
        attendance_riders,
        derive,
        summary_of_riders,
    )

    plain = load_extract(district["extract"])
    ridden = load_extract(district["extract"], riders={"attendance": attendance_riders()})
    assert plain.aggregates == {} and set(ridden.aggregates) == {"attendance"}
    fresh = derive(plain.tables, plain.school_year)
    shared = derive({**ridden.tables, ATTENDANCE_SUMMARY: summary_of_riders(ridden.aggregates["attendance"])}, ridden.school_year)
    assert fresh.student_school.equals(shared.student_school)
    assert fresh.enrolled.equals(shared.enrolled)


def test_loaded_agreements_and_paths_mix_and_none_is_refused(district, tmp_path: Path) -> None:
    from datashare.errors import AgreementError

    loaded = datashare.load_agreement(examples_dir() / "el-centro-2025-2026.yaml")
    result = datashare.release(
        extract=district["extract"], agreements=[loaded, examples_dir() / "bright-path-tutoring-2025-2026.yaml"],
        key_file=district["key"], as_of=AS_OF, out=tmp_path / "out",
    )
    assert sorted(r.agreement_id for r in result.releases) == [
        "bright-path-tutoring-2025-2026", "el-centro-2025-2026",
    ]
    with pytest.raises(AgreementError, match="no agreement to release"):
        datashare.release(
            extract=district["extract"], agreements=[], key_file=district["key"], as_of=AS_OF, out=tmp_path / "o2",
        )
    assert not (tmp_path / "o2").exists()
