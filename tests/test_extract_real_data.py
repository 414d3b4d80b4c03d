"""The validator on data as districts have it: every case a report, never a traceback,
never a student value in a finding (issues 11 and 13)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from extract_fixtures import HEADERS, ROWS, write_extract
from typer.testing import CliRunner

from datashare.cli import app
from datashare.extract import load_extract, validate


def found(report, severity: str | None = None) -> list[tuple[str, str | None, str, tuple[int, ...]]]:
    return [
        (f.table, f.column, f.code, f.rows)
        for f in report.findings
        if severity is None or f.severity == severity
    ]


def with_row(table: str, index: int, line: str) -> dict[str, list[str]]:
    rows = list(ROWS[table])
    rows[index] = line
    return {table: rows}


def with_calendar(folder: Path, days: list[str]) -> Path:
    (folder / "calendar.csv").write_text("\n".join(["school_id,date", *days]) + "\n", encoding="utf-8")
    return folder


# The fixture's attendance days, as a calendar of both schools.
CALENDAR = [
    f"{school},{day}"
    for school in ("0101", "0202")
    for day in ("2025-08-18", "2025-08-19", "2025-08-20", "2026-02-02")
]


# --------------------------------------------------------------------------- calendar form


def test_calendar_form_is_valid_with_exceptions_only(tmp_path: Path) -> None:
    exceptions = [r for r in ROWS["attendance"] if not r.endswith(",present")]
    folder = with_calendar(write_extract(tmp_path, {"attendance": exceptions}), CALENDAR)
    report = validate(folder)
    assert report.valid, report.findings
    assert "calendar" in {t.table for t in report.tables}
    extract = load_extract(folder)
    assert extract.tables["calendar"].collect().height == len(CALENDAR)
    extract.close()


def test_attendance_off_the_calendar_is_outside_calendar(tmp_path: Path) -> None:
    calendar = [c for c in CALENDAR if c != "0101,2025-08-20"]
    folder = with_calendar(write_extract(tmp_path), calendar)
    assert ("attendance", "date", "outside_calendar", (4,)) in found(validate(folder), "error")


def test_attendance_on_a_calendar_day_outside_the_enrollment_is_outside_calendar(tmp_path: Path) -> None:
    # 000124 left 0202 on 2026-01-16 and came back on 2026-02-02; 2026-01-20 is a school day.
    folder = with_calendar(
        write_extract(tmp_path, with_row("attendance", 4, "000124,0202,2026-01-20,excused_absence")),
        [*CALENDAR, "0202,2026-01-20"],
    )
    report = validate(folder)
    assert ("attendance", "date", "outside_calendar", (6,)) in found(report, "error")
    assert "outside_enrollment" not in {f.code for f in report.findings}


def test_empty_attendance_in_the_calendar_form_is_a_warning(tmp_path: Path) -> None:
    folder = with_calendar(write_extract(tmp_path, {"attendance": []}), CALENDAR)
    report = validate(folder)
    assert report.valid
    assert found(report, "warning") == [("attendance", None, "no_exceptions", ())]


def test_header_only_calendar_is_an_error(tmp_path: Path) -> None:
    folder = with_calendar(write_extract(tmp_path), [])
    assert ("calendar", None, "empty_calendar", ()) in found(validate(folder), "error")


def test_calendar_rules(tmp_path: Path) -> None:
    folder = with_calendar(write_extract(tmp_path), [*CALENDAR, "0909,2025-08-18", "0101,2026-07-01", CALENDAR[0]])
    errors = found(validate(folder), "error")
    assert ("calendar", "school_id", "unknown_school", (10,)) in errors
    assert ("calendar", "date", "outside_school_year", (11,)) in errors
    assert ("calendar", "school_id+date", "duplicate_key", (2, 12)) in errors


# ------------------------------------------------------------------------------ new rules


def test_weekend_attendance_is_a_warning_without_a_calendar(tmp_path: Path) -> None:
    report = validate(write_extract(tmp_path, with_row("attendance", 1, "000123,0101,2025-08-23,tardy")))
    assert report.valid
    assert ("attendance", "date", "weekend_attendance", (3,)) in found(report, "warning")


def test_overlapping_enrollments_at_one_school(tmp_path: Path) -> None:
    rows = [*ROWS["enrollments"], "000124,0202,2025-2026,2026-01-10,2026-01-30,06"]
    report = validate(write_extract(tmp_path, {"enrollments": rows}))
    assert ("enrollments", "entry_date", "overlapping_enrollment", (6,)) in found(report, "error")
    # an open-ended enrollment overlaps any later one
    rows = [*ROWS["enrollments"], "000123,0101,2025-2026,2026-03-02,,05"]
    assert ("enrollments", "entry_date", "overlapping_enrollment", (6,)) in found(validate(write_extract(tmp_path / "b", {"enrollments": rows})), "error")


def test_ids_with_surrounding_whitespace_are_an_error(tmp_path: Path) -> None:
    students = [*ROWS["students"], "000123 ,Ann,Lopez,2014-03-02,05,F,Hispanic,true,false,true"]
    report = validate(write_extract(tmp_path, {"students": students}))
    assert ("students", "student_id", "id_whitespace", (5,)) in found(report, "error")
    assert "000123" not in json.dumps(report.to_dict())


def test_nul_bytes_and_invalid_utf8_in_text_cells(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    path = folder / "schools.csv"
    path.write_bytes(path.read_bytes().replace(b"Maple", b"Ma\x00ple").replace(b"Oak", b"O\xff\xfek"))
    report = validate(folder)
    assert ("schools", "school_name", "invalid_text", (2, 3)) in found(report, "error")
    assert "empty" not in report.errors[0].message


def test_an_empty_id_says_empty(tmp_path: Path) -> None:
    report = validate(write_extract(tmp_path, with_row("schools", 0, "   ,Maple Elementary,apple-tree")))
    [finding] = [f for f in report.errors if f.code == "empty_id"]
    assert "empty" in finding.message and "not text" not in finding.message


def test_duplicate_column_is_an_error_not_a_rename(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    lines = (folder / "schools.csv").read_text().splitlines()
    (folder / "schools.csv").write_text("\n".join([lines[0] + ",school_name", *(l + ",x" for l in lines[1:])]) + "\n")
    report = validate(folder)
    assert ("schools", "school_name", "duplicate_column", ()) in found(report, "error")
    assert "duplicated" not in json.dumps(report.to_dict())


def test_students_without_header_leak_no_value(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    path = folder / "students.csv"
    path.write_text("\n".join(ROWS["students"]) + "\n")
    report = validate(folder)
    assert ("students", None, "missing_header", ()) in found(report, "error")
    text = json.dumps(report.to_dict())
    for value in ("000123", "Ana", "Lopez", "2014-03-02", "Hispanic"):
        assert value not in text
    assert "ignored_column" not in {f.code for f in report.findings}  # one finding says it all


@pytest.mark.parametrize("table", ["attendance", "discipline", "grades"])
def test_header_only_table_is_not_supplied(tmp_path: Path, table: str) -> None:
    report = validate(write_extract(tmp_path, {table: []}))
    assert report.valid
    assert found(report, "warning") == [(table, None, "not_supplied", ())]


# ------------------------------------------------------------------- survives real data


@pytest.mark.parametrize("entry", ["", "9/2/2019"])
def test_blank_or_us_entry_dates_are_findings_not_a_crash(tmp_path: Path, entry: str) -> None:
    rows = [r.replace("2025-08-18", entry) for r in ROWS["enrollments"]]
    report = validate(write_extract(tmp_path, {"enrollments": rows}))
    code = "missing_value" if entry == "" else "invalid_date"
    assert ("enrollments", "entry_date", code, (2, 3, 5)) in found(report, "error")
    assert ("attendance", "date", "outside_enrollment") in {(t, c, k) for t, c, k, _ in found(report)}


def test_a_broken_column_hides_only_its_own_rules(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, {
        **with_row("attendance", 1, "000123,0101,2025-08-19,sick"),
        **with_row("enrollments", 0, "000999,0101,2025-2026,2025-08-18,,05"),
    })
    pl.DataFrame({"school_id": [101, 202], "school_name": ["a", "b"]}).write_parquet(folder / "schools.parquet")
    (folder / "schools.csv").unlink()
    codes = {(t, c) for t, _, c, _ in found(validate(folder), "error")}
    assert ("schools", "wrong_dtype") in codes
    assert ("attendance", "invalid_value") in codes  # other tables still checked
    assert ("enrollments", "unknown_student") in codes  # id rules need students, not schools


def test_id_rules_run_when_the_school_year_is_unknown(tmp_path: Path) -> None:
    rows = [r.replace(",2025-2026,", ",2025,") for r in ROWS["enrollments"]]
    folder = write_extract(tmp_path, {"enrollments": rows, **with_row("consents", 0, "C-1,000888,el-centro,individual_data,2025-09-01,,parent")})
    report = validate(folder)
    assert report.school_year is None
    codes = {(t, c) for t, _, c, _ in found(report, "error")}
    assert ("enrollments", "no_school_year") in codes and ("consents", "unknown_student") in codes


def test_report_into_a_missing_folder_is_created(tmp_path: Path) -> None:
    folder = write_extract(tmp_path / "x")
    target = tmp_path / "missing" / "dir" / "r.json"
    result = CliRunner().invoke(app, ["validate", str(folder), "--report", str(target)])
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["valid"] is True


def test_report_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_extract(tmp_path / "x")
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(app, ["validate", str(folder), "--report", str(tmp_path / "file" / "r.json")])
    assert result.exit_code == 2 and "cannot write the validation report" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("cell", ["[/x]", "[link=https://evil.example]click[/link]", "[bold]x"])
def test_rich_markup_in_a_header_neither_crashes_nor_renders(tmp_path: Path, cell: str) -> None:
    folder = write_extract(tmp_path)
    lines = (folder / "schools.csv").read_text().splitlines()
    (folder / "schools.csv").write_text("\n".join([f"{lines[0]},\"{cell}\"", *(l + ",1" for l in lines[1:])]) + "\n")
    result = CliRunner().invoke(app, ["validate", str(folder)], color=True)
    assert result.exit_code == 0, result.output
    assert "\x1b]8;" not in result.output  # no terminal hyperlink
    assert "column 4" in result.output
