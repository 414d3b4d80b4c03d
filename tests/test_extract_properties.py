"""Property: a synthetic district validates clean, and one corrupted cell at a random row of
a random table is reported at exactly that row, whatever the table, column and format."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datashare.extract import validate
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
    frame = pl.read_csv(source, infer_schema=False) if fmt == "csv" else pl.read_parquet(source)
    index = int(fraction * frame.height)
    frame = frame.with_columns(pl.col(column).cast(pl.String))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == index).then(pl.lit(bad, pl.String)).otherwise(pl.col(column)).alias(column)
    )
    if fmt == "csv":
        frame.write_csv(source)
    else:
        frame.write_parquet(source)
    row = index + (2 if fmt == "csv" else 1)
    found = [(f.table, f.column, f.code, f.rows) for f in validate(folder).errors]
    assert (table, column, code, (row,)) in found, found
    assert all(f[0] == table for f in found), found
