"""Property: a synthetic district validates clean, and one corrupted cell at a random row of
a random table is reported at exactly that row, whatever the table, column and format."""

from __future__ import annotations

import datetime as dt
import importlib
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from datashare.extract import validate
from datashare.extract.report import MAX_EXAMPLE_ROWS
from datashare.synth import synthesize

# (table, column, bad value, expected code): each bad value breaks exactly one rule.
CORRUPTIONS = [
    ("attendance", "status", "sick", "invalid_value"),
    ("attendance", "date", "2025-02-30", "invalid_date"),
    ("discipline", "days_removed", "-3", "out_of_range"),
    ("discipline", "action", "paddling", "invalid_value"),
    ("grades", "grade_points", "A+", "invalid_number"),
    ("grades", "grade_points", "7", "out_of_range"),
    ("students", "grade_level", "13", "invalid_value"),
    ("students", "english_learner", "yes", "invalid_bool"),
    ("enrollments", "school_year", "2025/2026", "invalid_school_year"),
    ("consents", "signed_by", "teacher", "invalid_value"),
    ("service_contacts", "contact_date", "03/09/2025", "invalid_date"),
    ("schools", "school_name", None, "missing_value"),
]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clean")
    folders = {}
    for fmt in ("csv", "parquet"):
        synthesize(root / fmt, students=250, schools=3, partners=2, seed=5, format=fmt)
        folders[fmt] = root / fmt
    return folders


def _read(path: Path, fmt: str) -> pl.DataFrame:
    """A table of the extract as written, every CSV cell as text."""
    return pl.read_csv(path, infer_schema=False) if fmt == "csv" else pl.read_parquet(path)


def _write(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)


def test_synthetic_district_is_valid(clean: dict[str, Path]) -> None:
    for folder in clean.values():
        report = validate(folder)
        assert report.valid, report.errors
        assert not [f for f in report.findings if f.severity == "warning"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    case=st.sampled_from(CORRUPTIONS),
    fmt=st.sampled_from(["csv", "parquet"]),
    fraction=st.floats(0, 1, exclude_max=True),
)
def test_corruption_is_reported_at_its_row(clean, tmp_path_factory, case, fmt, fraction) -> None:
    table, column, bad, code = case
    folder = tmp_path_factory.mktemp("bad")
    for path in clean[fmt].iterdir():
        shutil.copy(path, folder / path.name)
    source = folder / f"{table}.{fmt}"
    frame = _read(source, fmt)
    index = int(fraction * frame.height)
    frame = frame.with_columns(pl.col(column).cast(pl.String))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == index).then(pl.lit(bad, pl.String)).otherwise(pl.col(column)).alias(column)
    )
    _write(frame, source, fmt)
    row = index + (2 if fmt == "csv" else 1)
    found = [(f.table, f.column, f.code, f.rows) for f in validate(folder).errors]
    assert (table, column, code, (row,)) in found, found
    assert all(f[0] == table for f in found), found


YEAR_START = dt.date(2025, 7, 1)
YEAR_DAYS = 365
days_in_year = st.integers(0, YEAR_DAYS - 1).map(lambda n: YEAR_START + dt.timedelta(days=n))
enrollment = st.tuples(
    st.integers(-40, YEAR_DAYS - 1).map(lambda n: YEAR_START + dt.timedelta(days=n)),
    st.one_of(st.none(), st.integers(0, 200)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    enrollments=st.lists(enrollment, min_size=1, max_size=3),
    days=st.lists(days_in_year, min_size=1, max_size=12, unique=True),
    inside_only=st.booleans(),
)
def test_attendance_outside_several_enrollments_is_found(tmp_path_factory, enrollments, days, inside_only) -> None:
    """A student with one or several enrollments at a school: exactly the attendance days
    outside all of them are reported (the grouped pass clears the group by its day masks only
    when no such day exists), whatever the gaps, overlaps and open ends; the rows shown are
    the first ones."""
    from extract_fixtures import ROWS, write_extract

    intervals = [(entry, None if length is None else entry + dt.timedelta(days=length)) for entry, length in enrollments]
    enrollment_rows = [
        f"000124,0202,2025-2026,{entry.isoformat()},{'' if exit is None else exit.isoformat()},06"
        for entry, exit in intervals
    ]
    def inside(day: dt.date) -> bool:
        return any(entry <= day and (exit is None or day <= exit) for entry, exit in intervals)

    if inside_only:  # the case the day masks clear without reading attendance again
        days = [d for d in days if inside(d)] + [entry for entry, _ in intervals if entry >= YEAR_START]
        assume(days)
    days = sorted(set(days))
    attendance = [r for r in ROWS["attendance"] if not r.startswith("000124,")]
    first_line = len(attendance) + 2
    attendance += [f"000124,0202,{day.isoformat()},present" for day in days]
    folder = write_extract(tmp_path_factory.mktemp("several"), {
        "enrollments": [r for r in ROWS["enrollments"] if not r.startswith("000124,")] + enrollment_rows,
        "attendance": attendance,
    })
    outside = [first_line + i for i, day in enumerate(days) if not inside(day)]
    found = [f for f in validate(folder).findings if f.table == "attendance" and f.code == "outside_enrollment"]
    assert sum(f.count for f in found) == len(outside)
    assert [row for f in found for row in f.rows] == outside[:MAX_EXAMPLE_ROWS]


def test_several_enrollments_inside_are_cleared_without_reading_attendance_again(tmp_path, monkeypatch) -> None:
    """A student who left and came back to a school, attending only while enrolled: the grouped
    pass clears the group, so the cross-table stage reads no attendance row again."""
    from extract_fixtures import ROWS, write_extract  # the fixture's 000124 has two enrollments at 0202

    cross = importlib.import_module("datashare.extract.cross")

    def must_not_run(*args, **kwargs):
        raise AssertionError("attendance was read again for a group the day masks clear")

    monkeypatch.setattr(cross, "enrollment_intervals", must_not_run)
    assert validate(write_extract(tmp_path)).valid
    # An earlier enrollment with no day in the school year (it ended in May) leaves the
    # masks of everyone else in force.
    enrollments = [*ROWS["enrollments"], "000125,0101,2025-2026,2025-05-01,2025-05-20,05"]
    assert validate(write_extract(tmp_path / "may", {"enrollments": enrollments})).valid


@given(st.lists(st.one_of(st.none(), st.dates(dt.date(1800, 1, 1), dt.date(2200, 12, 31))), max_size=50))
def test_a_day_sets_one_bit_of_its_word_in_the_mask(days: list[dt.date | None]) -> None:
    """The grouped pass's day masks: a day's word and bit, looked up by position, are those of
    ``2 ** n`` at its offset in the mask (dates before 1970 included); a missing day has none."""
    from datashare.extract.cross import MASK_DAYS, day_bits  # noqa: PLC0415

    got = pl.DataFrame({"date": days}, schema={"date": pl.Date}).select(day_bits("date")).rows()
    expected = []
    for day in days:
        if day is None:
            expected.append((None, None))
            continue
        offset = (day - dt.date(1970, 1, 1)).days % MASK_DAYS
        expected.append((offset // 64, 2 ** (offset % 64)))
    assert got == expected


ID_CELLS = st.sampled_from(["000001", "999999", " 000001", "000001 ", "", "   ", "00\x0001", "0101", "9999", None])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.sampled_from(["grades", "service_contacts", "consents", "discipline"]),
    column=st.sampled_from(["student_id", "school_id"]),
    fmt=st.sampled_from(["csv", "parquet"]),
    cells=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), ID_CELLS), max_size=4),
    renamed=st.sampled_from([None, "000002 ", "00\x0002"]),
)
def test_a_clean_table_read_without_id_joins_gives_the_findings_of_the_joins(
    clean, tmp_path_factory, monkeypatch, table, column, fmt, cells, renamed
) -> None:
    """When every distinct id of a table is known, its rows are read without the joins to
    the ids of students and schools. Whatever ids a table holds (unknown, padded, empty,
    with a NUL byte, missing, or known but dirty in students too: ``renamed``), the report
    is the one the joins of every row give."""
    from datashare.extract.cross import RowRules  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("ids")
    for path in clean[fmt].iterdir():
        shutil.copy(path, folder / path.name)
    if renamed is not None:  # a known student id that is not clean text, in students and in the table
        for name in ("students", table):
            path = folder / f"{name}.{fmt}"
            _write(_read(path, fmt).with_columns(pl.col("student_id").replace("000002", renamed)), path, fmt)
    source = folder / f"{table}.{fmt}"
    frame = _read(source, fmt)
    if column not in frame.columns:
        column = "student_id"
    for fraction, value in cells:
        index = int(fraction * frame.height)
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == index).then(pl.lit(value, pl.String)).otherwise(pl.col(column)).alias(column)
        )
    _write(frame, source, fmt)
    taken: list[bool] = []
    all_known = RowRules.all_known
    with monkeypatch.context() as patch:  # records whether the table was read without the joins
        patch.setattr(RowRules, "all_known", lambda self, lf: taken.append(all_known(self, lf)) or taken[-1])
        fast = validate(folder)
    with monkeypatch.context() as patch:  # undone before hypothesis's next example
        patch.setattr(RowRules, "all_known", lambda self, lf: False)
        joined = validate(folder)
    assert fast.findings == joined.findings
    if all(value == "000001" for _, value in cells) and column == "student_id":
        assert True in taken  # every id known: this table was read without the joins
        if renamed is None:
            assert fast.valid, fast.errors
