"""Every validation rule, each triggered by one bad input; asserts on code, table, column, rows."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import polars as pl
import pytest
from extract_fixtures import HEADERS, ROWS, write_extract

from datashare.errors import ExtractError, ExtractInvalid
from datashare.extract import load_extract, validate
from datashare.extract.read import TableFile


def errors(report) -> list[tuple[str, str | None, str, tuple[int, ...]]]:
    return [(f.table, f.column, f.code, f.rows) for f in report.findings if f.severity == "error"]


def with_row(table: str, index: int, line: str) -> dict[str, list[str]]:
    rows = list(ROWS[table])
    rows[index] = line
    return {table: rows}


def test_clean_extract_is_valid(tmp_path: Path) -> None:
    report = validate(write_extract(tmp_path))
    assert report.valid, report.findings
    assert report.school_year == "2025-2026"
    assert {t.table: t.rows for t in report.tables}["attendance"] == len(ROWS["attendance"])


def test_identifiers_keep_leading_zeros(tmp_path: Path) -> None:
    extract = load_extract(write_extract(tmp_path))
    ids = extract.tables["students"].select("student_id").collect()["student_id"].to_list()
    assert ids == ["000123", "000124", "000125"]
    assert extract.tables["schools"].collect_schema()["school_id"] == pl.String


def test_typed_tables_have_canonical_dtypes(tmp_path: Path) -> None:
    extract = load_extract(write_extract(tmp_path))
    schema = extract.tables["grades"].collect_schema()
    assert schema["grade_points"] == pl.Float64
    assert extract.tables["attendance"].collect_schema()["date"] == pl.Date
    students = extract.tables["students"].collect()
    assert students["english_learner"].to_list() == [True, False, False]
    assert students["special_education"].to_list() == [False, False, True]


# (table, row index, bad line, expected (column, code)); the finding's row is the CSV line.
CELL_CASES = [
    ("attendance", 0, "000123,0101,2025-8-18,present", "date", "invalid_date"),
    ("attendance", 1, "000123,0101,2025-08-19,sick", "status", "invalid_value"),
    ("discipline", 1, "I-2,000123,0101,2025-11-12,disruption,referral,-1", "days_removed", "out_of_range"),
    ("grades", 0, "000123,0101,2025-2026,S1,MATH5,math,B,three,1,1", "grade_points", "invalid_number"),
    ("grades", 1, "000124,0202,2025-2026,S1,ELA6,ela,F,6,1,0", "grade_points", "out_of_range"),
    ("students", 2, "000125,Cy,Nguyen,2014-07-09,5,X,Asian,0,1,0", "grade_level", "invalid_value"),
    ("students", 1, "000124,Ben,Okafor,2013-11-20,06,M,Black,maybe,false,false", "english_learner", "invalid_bool"),
    ("students", 0, "000123,,Lopez,2014-03-02,05,F,Hispanic,true,false,true", "first_name", "missing_value"),
    ("enrollments", 0, "000123,0101,2025,2025-08-18,,05", "school_year", "invalid_school_year"),
    ("consents", 0, "C-1,000123,el-centro,individual_data,2025-09-01,,teacher", "signed_by", "invalid_value"),
    ("service_contacts", 0, "el-centro,000123,2025-09-03,tutoring,-5,0101", "minutes", "out_of_range"),
    ("schools", 0, "   ,Maple Elementary,apple-tree", "school_id", "empty_id"),
    # NaN, the infinities and a number past the float range parse as floats: not numbers.
    ("grades", 0, "000123,0101,2025-2026,S1,MATH5,math,B,3,NaN,1", "credits_attempted", "invalid_number"),
    ("discipline", 1, "I-2,000123,0101,2025-11-12,disruption,referral,inf", "days_removed", "invalid_number"),
    ("grades", 1, "000124,0202,2025-2026,S1,ELA6,ela,F,0,1,1e400", "credits_earned", "invalid_number"),
    ("service_contacts", 0, "el-centro,000123,2025-09-03,tutoring,Infinity,0101", "minutes", "invalid_number"),
]


@pytest.mark.parametrize(("table", "index", "line", "column", "code"), CELL_CASES)
def test_bad_cell_is_a_finding_at_its_line(tmp_path, table, index, line, column, code) -> None:
    report = validate(write_extract(tmp_path, with_row(table, index, line)))
    assert not report.valid
    assert (table, column, code, (index + 2,)) in errors(report)


def test_bad_value_in_a_lazyframe_is_caught_by_pandera() -> None:
    """Data-level validation is on: pandera checks cells of a LazyFrame, not only its schema."""
    import pandera.polars as pa
    from pandera.config import ValidationDepth, config_context

    from datashare.extract.schema import load_schemas, pandera_schema

    schema = pandera_schema(load_schemas()["attendance"], {c: pl.String for c in HEADERS["attendance"].split(",")})
    bad = pl.LazyFrame({"student_id": ["1"], "school_id": ["2"], "date": ["2025-09-01"], "status": ["sick"]})
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA), pytest.raises(pa.errors.SchemaErrors) as caught:
        schema.validate(bad, lazy=True)
    assert caught.value.failure_cases["column"].to_list() == ["status"]


def test_duplicate_key_names_every_row(tmp_path: Path) -> None:
    rows = [*ROWS["attendance"], ROWS["attendance"][1]]
    report = validate(write_extract(tmp_path, {"attendance": rows}))
    assert ("attendance", "student_id+school_id+date", "duplicate_key", (3, len(rows) + 1)) in errors(report)


@pytest.mark.parametrize(
    ("table", "line", "key", "first"),
    [
        ("students", "000124,Bea,Okafor,2013-11-20,06,F,Black,false,false,false", "student_id", 1),
        ("consents", "C-1,000124,el-centro,individual_data,2025-09-02,,parent", "consent_id", 0),
        ("grades", "000123,0101,2025-2026,S1,MATH5,math,A,4,1,1", "student_id+course_id+term", 0),
        ("discipline", "I-2,000123,0101,2025-11-13,fighting,referral,0", "incident_id+student_id", 1),
    ],
)
def test_a_repeated_key_without_grouped_pass_is_found(tmp_path: Path, table: str, line: str, key: str, first: int) -> None:
    """A table without a grouped pass proves its key unique by hashing: a repeat is still found."""
    rows = [*ROWS[table], line]
    report = validate(write_extract(tmp_path, {table: rows}))
    first += 2  # the CSV line
    assert (table, key, "duplicate_key", (first, len(rows) + 1)) in errors(report)


def test_repeated_header_is_one_finding(tmp_path: Path) -> None:
    rows = [*ROWS["grades"][:1], HEADERS["grades"], *ROWS["grades"][1:]]
    report = validate(write_extract(tmp_path, {"grades": rows}))
    assert errors(report) == [("grades", None, "repeated_header", (3,))]


CROSS_CASES = [
    ("enrollments", 0, "000999,0101,2025-2026,2025-08-18,,05", "student_id", "unknown_student"),
    ("attendance", 0, "000123,0909,2025-08-18,present", "school_id", "unknown_school"),
    ("discipline", 0, "I-1,000124,0202,2026-07-01,fighting,out_of_school_suspension,2", "incident_date", "outside_school_year"),
    ("attendance", 4, "000124,0202,2026-01-20,present", "date", "outside_enrollment"),
    ("consents", 1, "C-2,000124,el-centro,individual_data,2025-09-01,2025-08-31,guardian", "revoked_on", "revoked_before_granted"),
    ("enrollments", 3, "000125,0101,2025-2026,2025-08-18,2025-08-01,05", "exit_date", "exit_before_entry"),
    ("grades", 2, "000125,0101,2024-2025,S1,MATH5,math,A,4.0,0.5,0.5", "school_year", "wrong_school_year"),
    ("service_contacts", 0, "el-centro,000777,2025-09-03,tutoring,45,0101", "student_id", "unknown_student"),
    ("service_contacts", 0, "el-centro,000123,2025-09-03,tutoring,45,0999", "school_id", "unknown_school"),
    ("consents", 0, "C-1,000888,el-centro,individual_data,2025-09-01,,parent", "student_id", "unknown_student"),
    ("grades", 0, "000999,0101,2025-2026,S1,MATH5,math,B,3.0,1,1", "student_id", "unknown_student"),
    ("discipline", 0, "I-1,000124,0909,2025-11-12,fighting,out_of_school_suspension,2", "school_id", "unknown_school"),
    # A table's own rule, counted in its own pass like the id rules.
    ("students", 1, "000124,Ben,Okafor,2026-07-01,06,M,Black,false,false,false", "birth_date", "birth_date_out_of_range"),
    ("students", 2, "000125,Cy,Nguyen,0001-01-01,05,F,Asian,0,1,0", "birth_date", "birth_date_out_of_range"),
]


@pytest.mark.parametrize(("table", "index", "line", "column", "code"), CROSS_CASES)
def test_cross_table_rule(tmp_path, table, index, line, column, code) -> None:
    report = validate(write_extract(tmp_path, with_row(table, index, line)))
    assert (table, column, code, (index + 2,)) in errors(report)
    # Counted once: in the table's own pass or in the cross-table stage, never both.
    [finding] = [f for f in report.findings if (f.table, f.column, f.code) == (table, column, code)]
    assert finding.count == 1


def test_text_and_cross_table_rules_in_one_table(tmp_path: Path) -> None:
    """A row breaking a text rule and another an id rule: both found, each once, with its row."""
    rows = list(ROWS["service_contacts"])
    rows[0] = "el-centro,000777,2025-09-03,tutoring,45,0101"
    rows[1] = "el-centro ,000123,2025-09-04,tutoring,45,0101"
    report = validate(write_extract(tmp_path, {"service_contacts": rows}))
    found = [(f.column, f.code, f.rows) for f in report.findings if f.table == "service_contacts"]
    assert sorted(found) == [("partner_id", "id_whitespace", (3,)), ("student_id", "unknown_student", (2,))]


def test_contacts_outside_the_school_year_are_allowed(tmp_path: Path) -> None:
    report = validate(write_extract(tmp_path))  # the fixture has a contact on 2025-06-20
    assert report.valid


def test_missing_table_and_both_formats(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    (folder / "grades.csv").unlink()
    pl.read_csv(folder / "schools.csv", infer_schema=False).write_parquet(folder / "schools.parquet")
    report = validate(folder)
    assert ("grades", None, "missing_table", ()) in errors(report)
    assert ("schools", None, "both_formats", ()) in errors(report)


def test_zero_byte_file_and_header_only_file(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, {"discipline": []})
    assert validate(folder).valid  # a header-only file is a valid empty table
    (folder / "discipline.csv").write_bytes(b"")
    assert ("discipline", None, "empty_file", ()) in errors(validate(folder))


def test_missing_required_column_and_ignored_extra_column(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    text = (folder / "attendance.csv").read_text().replace("status", "state")
    (folder / "attendance.csv").write_text(text)
    report = validate(folder)
    assert ("attendance", "status", "missing_column", ()) in errors(report)
    infos = [f for f in report.findings if f.severity == "info"]
    # An unknown header cell is user data: named by its position, never by its text.
    assert [(f.code, f.column) for f in infos] == [("ignored_column", None)]
    assert "column 4" in infos[0].message and "state" not in infos[0].message


def test_missing_optional_column_is_fine(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    frame = pl.read_csv(folder / "consents.csv", infer_schema=False).drop("revoked_on")
    frame.write_csv(folder / "consents.csv")
    report = validate(folder)
    assert report.valid
    consents = load_extract(folder).tables["consents"].collect()
    assert consents["revoked_on"].dtype == pl.Date and consents["revoked_on"].null_count() == 2


def test_ragged_csv_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    with (folder / "grades.csv").open("a") as fh:
        fh.write(ROWS["grades"][0] + ",extra,fields\n")
    report = validate(folder)
    assert [(f.table, f.code) for f in report.errors] == [("grades", "unreadable_file")]
    assert "000123" not in report.errors[0].message
    # The line is named (the header is line 1, then the fixture's rows, then the long one).
    long_line = len(ROWS["grades"]) + 2
    assert report.errors[0].rows == (long_line,)
    assert f"1 line(s) have more fields than the header, the first at line(s) {long_line}" in report.errors[0].message


def test_short_csv_line_gives_missing_values_at_its_line(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    with (folder / "grades.csv").open("a") as fh:
        fh.write("000125,0101,2025-2026,S2\n")
    line = len(ROWS["grades"]) + 2
    found = {(f.column, f.code, f.rows) for f in validate(folder).errors}
    assert ("grade_points", "missing_value", (line,)) in found


def test_parquet_with_typed_dates_and_text_dates(tmp_path: Path) -> None:
    folder = write_extract(tmp_path)
    for table in ("attendance", "consents"):
        frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False)
        (folder / f"{table}.csv").unlink()
        if table == "attendance":
            frame = frame.with_columns(pl.col("date").str.to_date())
        frame.write_parquet(folder / f"{table}.parquet")
    assert validate(folder).valid
    extract = load_extract(folder)
    assert extract.tables["attendance"].collect_schema()["date"] == pl.Date


def test_parquet_rows_are_one_based_and_wrong_dtype_is_found(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, with_row("attendance", 2, "000123,0101,2025-08-20,absent"))
    pl.read_csv(folder / "attendance.csv", infer_schema=False).write_parquet(folder / "attendance.parquet")
    (folder / "attendance.csv").unlink()
    assert ("attendance", "status", "invalid_value", (3,)) in errors(validate(folder))
    pl.DataFrame({"school_id": [101], "school_name": ["x"]}).write_parquet(folder / "schools.parquet")
    (folder / "schools.csv").unlink()
    assert ("schools", "school_id", "wrong_dtype", ()) in errors(validate(folder))


@pytest.mark.parametrize(("column", "value", "nullable"), [
    ("credits_attempted", float("inf"), False), ("days_removed", float("-inf"), False), ("minutes", float("nan"), True),
])
def test_non_finite_float_cells_in_parquet_are_invalid_numbers(tmp_path: Path, column: str, value: float, nullable: bool) -> None:
    """A float column of a Parquet file: infinities, and NaN where empty cells are allowed (a
    required column reports NaN as empty), are no numbers; the row is named once."""
    table = {"credits_attempted": "grades", "days_removed": "discipline", "minutes": "service_contacts"}[column]
    folder = write_extract(tmp_path)
    frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False).with_columns(pl.col(column).cast(pl.Float64))
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(value).otherwise(pl.col(column)).alias(column))
    (folder / f"{table}.csv").unlink()
    frame.write_parquet(folder / f"{table}.parquet")
    found = [(f.code, f.rows) for f in validate(folder).findings if f.column == column and f.severity == "error"]
    assert found == [("invalid_number", (2,))]


def test_all_findings_in_one_run(tmp_path: Path) -> None:
    overrides = {
        **with_row("attendance", 1, "000123,0101,2025-08-19,sick"),
        **with_row("grades", 0, "000123,0101,2025-2026,S1,MATH5,math,B,9,1,1"),
        **with_row("consents", 0, "C-1,000123,el-centro,individual_data,2025-09-01,,nobody"),
    }
    report = validate(write_extract(tmp_path, overrides))
    assert {f.table for f in report.errors} == {"attendance", "grades", "consents"}


def test_inputs_are_never_modified(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, with_row("attendance", 1, "000123,0101,2025-08-19,sick"))
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    validate(folder)
    with pytest.raises(ExtractInvalid):
        load_extract(folder)
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_report_never_holds_cell_values(tmp_path: Path) -> None:
    bad = "000123,Ana,Lopez,2014-02-30,05,F,Hispanic,true,false,true"
    report = validate(write_extract(tmp_path, with_row("students", 0, bad)))
    assert ("students", "birth_date", "invalid_date", (2,)) in errors(report)
    text = str(report.to_dict())
    for value in ("Ana", "Lopez", "2014-02-30", "000123"):
        assert value not in text


def test_load_extract_raises_with_the_report(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, with_row("attendance", 1, "000123,0101,2025-08-19,sick"))
    with pytest.raises(ExtractInvalid) as caught:
        load_extract(folder)
    assert caught.value.report.errors[0].code == "invalid_value"
    assert "attendance.csv" in str(caught.value)


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="does not exist"):
        validate(tmp_path / "nowhere")


def test_json_report(tmp_path: Path) -> None:
    import json

    report = validate(write_extract(tmp_path / "x", with_row("attendance", 1, "000123,0101,2025-08-19,sick")))
    report.write_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["valid"] is False
    assert data["findings"][0] | {"message": None, "file": None} == {
        "code": "invalid_value", "severity": "error", "table": "attendance", "column": "status",
        "count": 1, "rows": [3], "message": None, "file": None,
        "fix": "use one of the allowed values",
    }


def test_csv_tables_are_staged_privately_and_removed(tmp_path: Path) -> None:
    folder = write_extract(tmp_path / "x")
    validate(folder)
    extract = load_extract(folder)
    staged = extract.workdir.path
    assert sorted(p.name for p in staged.iterdir() if p.name != "owner") == sorted(f"{t}.parquet" for t in ROWS)
    assert staged.stat().st_mode & 0o077 == 0
    assert extract.tables["attendance"].collect().height == len(ROWS["attendance"])
    extract.close()
    assert not staged.exists()


def test_every_direct_identifier_of_the_schemas_is_refused_by_agreements() -> None:
    """The schemas mark direct identifiers; the agreement catalogue must never release them."""
    from datashare.agreement.fields import is_direct_identifier
    from datashare.extract import load_schemas

    marked = {c.name for s in load_schemas().values() for c in s.columns if c.identifier == "direct"}
    assert marked >= {"student_id", "first_name", "last_name", "birth_date"}
    assert all(is_direct_identifier(name) for name in marked)


def test_a_bad_school_year_option_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="2025-2027.*give --school-year like 2025-2026"):
        validate(write_extract(tmp_path), school_year="2025-2027")


def test_an_invalid_label_is_never_taken_as_the_extracts_year(tmp_path: Path) -> None:
    """The most common school_year of enrollments is used only if it is a valid label."""
    rows = [r.replace(",2025-2026,", ",2025-2027,") for r in ROWS["enrollments"][:3]] + ROWS["enrollments"][3:]
    report = validate(write_extract(tmp_path, {"enrollments": rows}))
    assert report.school_year == "2025-2026"
    assert ("enrollments", "school_year", "invalid_school_year", (2, 3, 4)) in errors(report)


def typed_parquet_extract(folder: Path, table: str, column: str, index: int, value: object) -> Path:
    """The tiny extract as Parquet with canonical dtypes, one cell of ``table`` replaced."""
    write_extract(folder)
    with load_extract(folder) as extract:
        frames = {name: lf.collect() for name, lf in extract.tables.items()}
    for name, frame in frames.items():
        if name == table:
            cells = frame[column].to_list()
            cells[index] = value
            frame = frame.with_columns(pl.Series(column, cells, dtype=frame[column].dtype, strict=False))
        (folder / f"{name}.csv").unlink()
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


# A failing cell of every kind of rule, in typed Parquet: in a leading key column (checked on
# the grouped pass's groups), in another column of a grouped table, in a table without one.
PARQUET_CASES = [
    ("attendance", "student_id", 1, None, "missing_value"),
    ("attendance", "school_id", 2, "  ", "empty_id"),
    ("attendance", "date", 0, None, "missing_value"),
    ("attendance", "status", 3, "sick", "invalid_value"),
    ("grades", "grade_points", 1, float("nan"), "missing_value"),
    ("grades", "grade_points", 2, 6.0, "out_of_range"),
    ("grades", "subject", 0, None, "missing_value"),
    ("enrollments", "school_year", 3, "2025-2027", "invalid_school_year"),
    ("discipline", "days_removed", 0, -1.0, "out_of_range"),
    ("students", "birth_date", 2, None, "missing_value"),
    ("students", "student_id", 0, "", "empty_id"),
    ("service_contacts", "minutes", 1, -3.0, "out_of_range"),
    ("service_contacts", "partner_id", 2, " ", "empty_id"),
    ("grades", "course_id", 1, "\t", "empty_id"),
    ("enrollments", "school_id", 1, "", "empty_id"),
    ("consents", "signed_by", 1, "nobody", "invalid_value"),
    ("schools", "school_name", 1, None, "missing_value"),
]


@pytest.mark.parametrize(("table", "column", "index", "value", "code"), PARQUET_CASES)
def test_bad_typed_parquet_cell_is_found_at_its_row(tmp_path, table, column, index, value, code) -> None:
    """Pandera reads a table's data only when the validator's own pass counts a failing
    cell: that count must never hide one."""
    report = validate(typed_parquet_extract(tmp_path, table, column, index, value))
    assert (table, column, code, (index + 1,)) in errors(report)
    finding = next(f for f in report.findings if (f.table, f.column, f.code) == (table, column, code))
    assert finding.count == 1



def test_text_rules_match_their_plain_definitions() -> None:
    """The id_whitespace and invalid_text regexes flag exactly what stripping and searching do."""
    from datashare.extract.schema import cell_rules, load_schemas
    from datashare.extract.text import text_flags, text_screen

    cells = ["7", " 7", "7 ", "\t7\n", "\u00a07", "7\u2003", " ", "", "\u3000", "a b", " a b ", "x\x00", "\ufffd", None]
    col = pl.col("school_id")
    stripped = col.str.strip_chars()
    plain = {
        "id_whitespace": (stripped != col) & (stripped.str.len_chars() > 0),
        "invalid_text": col.str.contains("\x00", literal=True) | col.str.contains("\ufffd", literal=True),
    }
    frame = pl.DataFrame({"school_id": cells})
    spec = load_schemas()["schools"].column("school_id")
    for flag in text_flags(spec):
        expected = frame.select(plain[flag.code].fill_null(False)).to_series().to_list()
        assert frame.select(flag.expr.fill_null(False)).to_series().to_list() == expected, flag.code
    # The one-regex screen of a column is true exactly where one of its rules is, or the id is
    # empty (the empty_id rule, which the screen counts in place of the invalid-row flag).
    either = pl.any_horizontal([e.fill_null(False) for e in plain.values()] + [(stripped.str.len_chars() == 0).fill_null(False)])
    assert frame.select(text_screen(spec)).to_series().to_list() == frame.select(either).to_series().to_list()
    # The empty_id rule finds non-whitespace without stripping; it agrees with stripping.
    [empty] = [r for r in cell_rules(spec, pl.String()) if r.code == "empty_id"]
    assert frame.select(empty.ok(col)).to_series().to_list() == frame.select(stripped.str.len_chars() > 0).to_series().to_list()


def test_grouped_pass_in_student_ranges_finds_the_same(tmp_path: Path, monkeypatch) -> None:
    """A big table is grouped in ranges of student_id: every row, a null id too, is counted."""
    grouped = importlib.import_module("datashare.extract.grouped")

    rows = [
        *ROWS["attendance"], ROWS["attendance"][1], ROWS["attendance"][4],  # two repeated keys
        ",0101,2025-08-21,present", "000999,0101,2025-08-21,present", "000125,0101,2025-08-19,sick",
    ]
    folder = write_extract(tmp_path, {"attendance": rows})
    whole = validate(folder)
    monkeypatch.setattr(grouped, "PASS_ROWS", 3)
    monkeypatch.setattr(grouped, "clustered", lambda read: False)
    split = validate(folder)
    assert split.findings == whole.findings
    codes = {(f.code, f.rows) for f in split.errors if f.table == "attendance"}
    assert {("duplicate_key", (3, 6, 8, 9)), ("missing_value", (10,)), ("invalid_value", (12,))} <= codes
    ids = pl.DataFrame({"student_id": ["000123", None, "000124", "000125", "000126", "0001240"]})
    ranges = grouped.key_ranges(pl.col("student_id"), ["000124", "000125"])
    assert sorted(ids.filter(r).height for r in ranges) == [2, 2, 2]
    assert pl.concat([ids.filter(r) for r in ranges]).sort("student_id").equals(ids.sort("student_id"))


@pytest.mark.parametrize(
    ("table", "index", "line", "column", "code"),
    [
        ("grades", 1, "000124,0202,2025-2026,S1,ELA6,el\x00a,F,0,1,0", "subject", "invalid_text"),
        ("discipline", 0, "I-1,000124,0202 ,2025-10-01,fighting,out_of_school_suspension,2", "school_id", "id_whitespace"),
        ("attendance", 2, " 000123,0101,2025-08-20,unexcused_absence", "student_id", "id_whitespace"),
    ],
)
def test_text_rule_of_a_grouped_table_is_found_at_its_line(tmp_path, table, index, line, column, code) -> None:
    """A grouped table's text rules are counted in its grouped pass (on the groups for the
    key's leading columns); a hit is still read back to its line."""
    report = validate(write_extract(tmp_path, with_row(table, index, line)))
    assert (table, column, code, (index + 2,)) in errors(report)


def test_a_file_sorted_by_student_is_grouped_in_one_pass(tmp_path: Path) -> None:
    """Row groups holding disjoint ranges of students (by their footer statistics) need no
    ranges: the group-by ends each group as it reads it."""
    grouped = importlib.import_module("datashare.extract.grouped")
    frame = pl.DataFrame({"student_id": [f"{i:04d}" for i in range(400)], "school_id": ["1"] * 400})
    frame.write_parquet(tmp_path / "sorted.parquet", row_group_size=50)
    frame.sample(fraction=1.0, shuffle=True, seed=1).write_parquet(tmp_path / "shuffled.parquet", row_group_size=50)

    class Read:
        staged = None

    for name, clustered in (("sorted", True), ("shuffled", False)):
        Read.file = TableFile("attendance", tmp_path / f"{name}.parquet", "parquet")
        assert grouped.clustered(Read()) is clustered


def test_school_year_cells_agree_with_the_school_year_parser() -> None:
    """The per-cell school_year rule accepts exactly the labels SchoolYear.parse accepts."""
    from datashare.extract.schema import school_year_ok
    from datashare.schoolyear import SchoolYear

    cells = ["2025-2026", "2025-2027", "2025/2026", "\u0662\u0660\u0662\u0665-\u0662\u0660\u0662\u0666",
             " 2025-2026", "2025-2026 ", "", "2025-20260", "0999-1000", "9999-10000", "2026-2025", "abcd-efgh"]

    def parses(label: str) -> bool:
        try:
            SchoolYear.parse(label)
        except ValueError:
            return False
        return True

    got = pl.DataFrame({"y": [*cells, None]}).select(school_year_ok(pl.col("y"))).to_series().to_list()
    assert got == [parses(c) for c in cells] + [False]


def test_an_id_known_in_students_is_clean_only_when_the_students_ids_are(tmp_path: Path) -> None:
    """Text rules of an id found in students are skipped only when every student id passed
    them: a student id with a trailing space is reported in each table that holds it."""
    students = list(ROWS["students"])
    students[0] = students[0].replace("000123,", "000123 ,", 1)
    contacts = [r.replace(",000123,", ",000123 ,") for r in ROWS["service_contacts"]]
    report = validate(write_extract(tmp_path, {"students": students, "service_contacts": contacts}))
    found = {(f.table, f.column, f.code) for f in report.findings}
    assert ("students", "student_id", "id_whitespace") in found
    assert ("service_contacts", "student_id", "id_whitespace") in found


def test_an_unknown_id_still_gets_the_text_rules(tmp_path: Path) -> None:
    """With clean student ids, only the ids not found among them are searched: one with a
    leading space is both unknown and reported for its whitespace."""
    contacts = list(ROWS["service_contacts"])
    contacts[1] = "el-centro, 000123,2025-09-03,tutoring,30,"
    report = validate(write_extract(tmp_path, {"service_contacts": contacts}))
    found = {(f.column, f.code, f.rows) for f in report.findings if f.table == "service_contacts"}
    assert found == {("student_id", "id_whitespace", (3,)), ("student_id", "unknown_student", (3,))}


def test_text_rule_hits_alone_do_not_run_pandera(tmp_path: Path, monkeypatch) -> None:
    """The one-regex screen also counts empty ids, which pandera reports; a hit that is only
    whitespace or a bad byte is reported by the text rules, and pandera is not run for it."""
    validator = importlib.import_module("datashare.extract.validate")

    def must_not_run(read):
        raise AssertionError(f"pandera ran for {read.schema.name}")

    monkeypatch.setattr(validator, "_pandera_findings", must_not_run)
    contacts = list(ROWS["service_contacts"])
    contacts[1] = "el-centro ,000123,2025-09-03,tutoring,30,"
    attendance = [r.replace("000125,0101,", "000125,0101 ,", 1) for r in ROWS["attendance"]]
    report = validate(write_extract(tmp_path, {"service_contacts": contacts, "attendance": attendance}))
    codes = {(f.table, f.column, f.code) for f in report.findings}
    assert ("service_contacts", "partner_id", "id_whitespace") in codes
    assert ("attendance", "school_id", "id_whitespace") in codes


def test_a_parquet_column_of_nulls_only_is_empty_text(tmp_path: Path) -> None:
    """pandas and pyarrow store a column holding only None as Arrow's null type: an optional
    column so stored is valid and empty; a required one is reported as missing values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = write_extract(tmp_path)
    for table, column in (("consents", "revoked_on"), ("students", "gender")):
        frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False).to_arrow()
        frame = frame.set_column(frame.schema.get_field_index(column), column, pa.nulls(frame.num_rows))
        (folder / f"{table}.csv").unlink()
        pq.write_table(frame, folder / f"{table}.parquet")
    assert pq.read_schema(folder / "students.parquet").field("gender").type == pa.null()
    assert validate(folder).valid
    extract = load_extract(folder)
    assert extract.tables["consents"].collect()["revoked_on"].null_count() == len(ROWS["consents"])
    grades = pl.read_csv(folder / "grades.csv", infer_schema=False).to_arrow()
    grades = grades.set_column(grades.schema.get_field_index("subject"), "subject", pa.nulls(grades.num_rows))
    (folder / "grades.csv").unlink()
    pq.write_table(grades, folder / "grades.parquet")
    assert ("grades", "subject", "missing_value", (1, 2, 3)) in errors(validate(folder))


@pytest.mark.parametrize("name", ["attendance.csv", "calendar.csv"])
def test_a_table_name_that_is_no_file_is_named(tmp_path: Path, name: str) -> None:
    """A folder or a broken link under a table's name is an error naming it, not "missing",
    and an optional table so named is not read as absent (which would change the form)."""
    folder = write_extract(tmp_path)
    table = name.removesuffix(".csv")
    (folder / name).unlink(missing_ok=True)
    (folder / name).mkdir()
    report = validate(folder)
    [finding] = [f for f in report.findings if f.table == table and f.severity == "error"]
    assert finding.code == "unreadable_file" and f"{name} in {folder} is not a regular file" in finding.message
    (folder / name).rmdir()
    (folder / name).symlink_to(tmp_path / "nowhere.csv")
    assert [f.code for f in validate(folder).findings if f.table == table and f.severity == "error"] == ["unreadable_file"]
