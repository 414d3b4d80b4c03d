"""The calendar form (CONTRACT section 1): one district written daily and as calendar plus
exceptions releases byte-identical data files, and no attendance is expanded to days."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl
import pytest
from extract_fixtures import HEADERS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from release_fixtures import AS_OF as FIXTURE_AS_OF
from release_fixtures import SECRET, District, agreement, loaded, release

import datashare
from datashare._resources import examples_dir
from datashare.release.compute import compute_releases
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


# ---------------------------------------------------------------------------------------
# Random small districts, written both ways, give identical releases.

WEEKDAYS = [d for d in (dt.date(2025, 9, 1) + dt.timedelta(k) for k in range(42)) if d.weekday() < 5]
STATUSES = ("present", "present", "present", "tardy", "early_departure", "excused_absence", "unexcused_absence")


@st.composite
def districts(draw: st.DrawFn) -> dict:
    n_schools = draw(st.integers(1, 2))
    calendars = [sorted(draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1, max_size=12))) for _ in range(n_schools)]
    students = []
    for i in range(draw(st.integers(1, 14))):
        school = draw(st.integers(0, n_schools - 1))
        entry = draw(st.integers(0, len(WEEKDAYS) - 1))
        spells = []
        if draw(st.booleans()):  # open to the end of the year
            spells.append((WEEKDAYS[entry], None))
        else:
            exit_ = draw(st.integers(entry, len(WEEKDAYS) - 1))
            spells.append((WEEKDAYS[entry], WEEKDAYS[exit_]))
            if exit_ + 2 < len(WEEKDAYS) and draw(st.booleans()):  # re-entry at the same school
                spells.append((WEEKDAYS[exit_ + 2], None))
        statuses = draw(st.lists(st.sampled_from(STATUSES), min_size=len(WEEKDAYS), max_size=len(WEEKDAYS)))
        students.append({
            "id": f"{i:06d}", "school": school, "spells": spells, "statuses": statuses,
            "served": draw(st.booleans()), "consent": draw(st.booleans()),
        })
    return {"calendars": calendars, "students": students}


def _membership(student: dict, calendar: list[dt.date]) -> list[tuple[int, dt.date]]:
    return [
        (WEEKDAYS.index(day), day) for day in calendar
        if any(entry <= day and (exit_ is None or day <= exit_) for entry, exit_ in student["spells"])
    ]


def _write(folder: Path, district: dict, form: str) -> None:
    folder.mkdir(parents=True)
    school_ids = [f"S{k}" for k in range(len(district["calendars"]))]
    rows: dict[str, list[str]] = {name: [] for name in HEADERS}
    rows["schools"] = [f"{s},School {s}," for s in school_ids]
    for s in district["students"]:
        school = school_ids[s["school"]]
        rows["students"].append(f"{s['id']},A,B,2012-01-01,05,,,,,")
        for entry, exit_ in s["spells"]:
            rows["enrollments"].append(f"{s['id']},{school},2025-2026,{entry},{exit_ or ''},05")
        for k, day in _membership(s, district["calendars"][s["school"]]):
            status = s["statuses"][k]
            if form == "daily" or status != "present":
                rows["attendance"].append(f"{s['id']},{school},{day},{status}")
        if s["served"]:
            rows["service_contacts"] += [f"p1,{s['id']},{day},tutoring,30,{school}" for day in WEEKDAYS[:9]]
        if s["consent"]:
            rows["consents"].append(f"C{s['id']},{s['id']},p1,individual_data,2025-08-01,,parent")
    for name, header in HEADERS.items():
        (folder / f"{name}.csv").write_text("\n".join([header, *rows[name]]) + "\n", encoding="utf-8")
    if form == "events":
        lines = [f"{school_ids[k]},{day}" for k, days in enumerate(district["calendars"]) for day in days]
        (folder / "calendar.csv").write_text("\n".join(["school_id,date", *lines]) + "\n", encoding="utf-8")


def _released_bytes(folder: Path) -> dict[str, bytes]:
    import io

    from datashare.extract import load_extract
    from datashare.release.compute import compute_releases
    from datashare.release.derive import ATTENDANCE_SUMMARY, attendance_riders, summary_of_riders

    with load_extract(folder, riders={"attendance": attendance_riders()}) as data:
        tables = dict(data.tables)
        tables[ATTENDANCE_SUMMARY] = summary_of_riders(data.aggregates["attendance"])
        [release] = compute_releases(tables, data.school_year, [loaded(agreement(min_cell_size=5))], SECRET, AS_OF)
    out = {}
    for name, frame in release.tables.items():
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        out[name] = buffer.getvalue()
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(district=districts())
def test_random_districts_release_the_same_both_ways(tmp_path_factory: pytest.TempPathFactory, district: dict) -> None:
    root = tmp_path_factory.mktemp("random")
    _write(root / "daily", district, "daily")
    _write(root / "events", district, "events")
    # A district without a single membership day writes a header-only daily attendance,
    # which means "not supplied"; in the calendar form the same empty table means "all
    # present" (CONTRACT section 1). The forms agree only where there is a day to record.
    assume(pl.read_csv(root / "daily" / "attendance.csv").height > 0)
    assert _released_bytes(root / "daily") == _released_bytes(root / "events")


def test_empty_attendance_is_all_present_with_a_calendar_and_not_supplied_without() -> None:
    """A header-only attendance: every membership day present (calendar form), or the
    attendance metrics withheld as not supplied (daily form), never published as zero."""
    d = District().school("A")
    for i in range(30):
        d.student(f"a{i:02d}", "A")
        if i < 12:
            d.contacts("p1", f"a{i:02d}", 9)
    metrics = ["attendance_rate", "chronic_absence_rate"]
    [daily] = release(d, agreement(individual=False, metrics=metrics, min_cell_size=5))
    table = daily.tables["aggregate_comparison"]
    assert set(table["note"]) == {"not_supplied"}
    assert table["served_value"].is_null().all() and table["served_n"].is_null().all()

    calendar = pl.LazyFrame({"school_id": ["A"] * 20, "date": [dt.date(2025, 9, 1) + dt.timedelta(k) for k in range(20)]})
    tables = {**d.tables(), "calendar": calendar}
    [events] = compute_releases(
        tables, YEAR, [loaded(agreement(individual=False, metrics=metrics, min_cell_size=5))], SECRET, FIXTURE_AS_OF
    )
    table = events.tables["aggregate_comparison"].filter(pl.col("metric") == "attendance_rate")
    assert table["note"].is_null().all()
    assert table["served_value"].to_list() == [1.0, 1.0] and table["served_n"].to_list() == [12, 12]


def test_synth_cli_writes_either_form(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from datashare.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["synth", str(tmp_path / "e"), "--students", "60", "--schools", "2", "--attendance", "events"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "e" / "calendar.csv").is_file()
    assert datashare.validate(tmp_path / "e").valid
    result = runner.invoke(app, ["synth", str(tmp_path / "d"), "--students", "60", "--attendance", "weekly"])
    assert result.exit_code != 0 and "daily or events" in result.output
    assert not (tmp_path / "d" / "calendar.csv").exists()
