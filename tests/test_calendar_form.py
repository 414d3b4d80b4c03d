"""The calendar form (CONTRACT section 1): one district written daily and as calendar plus
exceptions releases byte-identical data files, and no attendance is expanded to days."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl
import pytest

import datashare
from datashare._resources import examples_dir
from datashare.release.derive import membership_days
from datashare.release.keys import init_secret
from datashare.schoolyear import SchoolYear
from datashare.synth import synthesize

AS_OF = dt.date(2026, 6, 30)
YEAR = SchoolYear.parse("2025-2026")


def data_files(out: Path) -> dict[str, str]:
    """sha256 of every file under data/ of every package, by its path under partners/."""
    root = out / "partners"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("data/**/*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def both_forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("forms")
    init_secret(root / "district.key")
    outs = {}
    for form, fmt in (("daily", "csv"), ("events", "parquet")):
        synthesize(root / form, students=700, schools=4, partners=2, seed=5, attendance=form, format=fmt)
        outs[form] = root / f"out-{form}"
        datashare.release(
            extract=root / form, agreements=[examples_dir()], key_file=root / "district.key",
            as_of=AS_OF, out=outs[form], operator="test",
        )
    return {"root": root, **outs}


def test_both_forms_release_byte_identical_data_files(both_forms: dict[str, Path]) -> None:
    daily, events = data_files(both_forms["daily"]), data_files(both_forms["events"])
    assert daily and any(name.endswith("individual/attendance.parquet") for name in daily)
    assert daily == events


def test_the_events_form_holds_exceptions_only(both_forms: dict[str, Path]) -> None:
    root = both_forms["root"]
    daily = pl.read_csv(root / "daily" / "attendance.csv", infer_schema=False)
    events = pl.read_parquet(root / "events" / "attendance.parquet")
    assert "present" not in set(events["status"])
    assert events.height == daily.filter(pl.col("status") != "present").height
    assert events.height < daily.height / 4


def _lf(rows: dict[str, list]) -> pl.LazyFrame:
    return pl.LazyFrame(rows)


def test_membership_days_by_interval_arithmetic() -> None:
    d = dt.date
    calendar = _lf({
        "school_id": ["A"] * 5 + ["B"] * 2,
        "date": [d(2025, 9, 1), d(2025, 9, 2), d(2025, 9, 3), d(2025, 9, 8), d(2026, 7, 1),
                 d(2025, 9, 1), d(2025, 9, 2)],
    })
    enrollments = _lf({
        "student_id": ["s1", "s1", "s2", "s3", "s4"],
        "school_id": ["A", "A", "A", "B", "A"],
        # s1: two spells at A (Sep 1 only; Sep 3 to the end of the year); s2: before any day;
        # s3: open at B; s4: entered before the year, left between calendar days.
        "entry_date": [d(2025, 9, 1), d(2025, 9, 3), d(2025, 8, 1), d(2025, 8, 1), d(2025, 6, 1)],
        "exit_date": [d(2025, 9, 1), None, d(2025, 8, 31), None, d(2025, 9, 5)],
    })
    got = membership_days(calendar, enrollments, YEAR).collect().sort("student_id")
    # 2026-07-01 is outside the school year: never a membership day.
    assert dict(zip(got["student_id"], got["__membership"])) == {"s1": 3, "s2": 0, "s3": 2, "s4": 3}


def test_the_calendar_form_never_expands_attendance_to_days(both_forms: dict[str, Path]) -> None:
    """The release's plan over attendance reads exception rows only: no date_range, no explode."""
    from datashare.release.derive import derive

    root = both_forms["root"]
    extract = datashare.load_extract(root / "events")
    plan_tables = dict(extract.tables)
    summaries = derive(plan_tables, extract.school_year)
    plan = membership_days(plan_tables["calendar"], plan_tables["enrollments"], extract.school_year).explain()
    assert "explode" not in plan.lower() and "date_range" not in plan.lower()
    assert summaries.student_school["days_enrolled"].sum() > 0
    extract.close()
