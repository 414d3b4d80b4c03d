"""Per-student, per-school summaries derived once from the extract."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from release_fixtures import YEAR, District

from datashare.release.derive import SUMMARY_SCHEMA, derive


def _row(district: District, student_id: str, school_id: str = "A") -> dict:
    summary = derive(district.tables(), YEAR).student_school
    rows = summary.filter((pl.col("student_id") == student_id) & (pl.col("school_id") == school_id))
    assert rows.height == 1
    return rows.row(0, named=True)


def test_schema_and_one_row_per_enrolled_pair():
    d = District().school("A").school("B").student("s1", "A").enroll("s1", "B").student("s2", "B")
    summary = derive(d.tables(), YEAR)
    assert summary.student_school.schema == pl.Schema(SUMMARY_SCHEMA)
    assert summary.student_school.select("school_id", "student_id").rows() == [
        ("A", "s1"), ("B", "s1"), ("B", "s2")
    ]


def test_enrolled_twice_at_one_school_counts_once():
    d = District().school("A").student("s1", "A").enroll("s1", "A", entry=dt.date(2026, 2, 1))
    assert derive(d.tables(), YEAR).enrolled.rows() == [("A", "s1")]


def test_enrollment_outside_the_year_is_not_enrolled():
    d = District().school("A").student("s1", "A")
    d.rows["enrollments"][0].update(entry_date=dt.date(2024, 9, 1), exit_date=dt.date(2025, 6, 30))
    assert derive(d.tables(), YEAR).enrolled.height == 0


def test_day_counts_and_statuses():
    d = District().school("A").student("s1", "A")
    statuses = ["present", "tardy", "early_departure", "excused_absence", "unexcused_absence", "unexcused_absence"]
    for i, status in enumerate(statuses):
        d.rows["attendance"].append(
            {"student_id": "s1", "school_id": "A", "date": dt.date(2025, 9, 1 + i), "status": status}
        )
    row = _row(d, "s1")
    assert (row["days_enrolled"], row["days_present"], row["days_absent"]) == (6, 3, 3)
    assert (row["days_excused"], row["days_unexcused"]) == (1, 2)
    assert row["attendance_rate"] == pytest.approx(0.5)
    assert row["chronically_absent"] is None  # fewer than 10 enrolled days


@pytest.mark.parametrize(("present", "absent", "chronic"), [(9, 1, True), (10, 1, False), (18, 2, True), (9, 0, None)])
def test_chronic_absence_compares_exactly(present, absent, chronic):
    d = District().school("A").student("s1", "A", present=present, absent=absent)
    assert _row(d, "s1")["chronically_absent"] is chronic


def test_student_without_attendance():
    row = _row(District().school("A").student("s1", "A"), "s1")
    assert row["days_enrolled"] == 0 and row["attendance_rate"] is None and row["chronically_absent"] is None


def test_discipline_summary():
    d = District().school("A").school("B").student("s1", "A").enroll("s1", "B")
    d.incident("s1", "A", action="detention", days_removed=0.5)
    d.incident("s1", "A", action="expulsion", days_removed=3)
    d.incident("s1", "B", action="referral")
    row = _row(d, "s1")
    assert (row["incidents"], row["suspended"], row["days_removed"]) == (2, True, 3.5)
    row_b = _row(d, "s1", "B")
    assert (row_b["incidents"], row_b["suspended"]) == (1, False)


@pytest.mark.parametrize("action", ["in_school_suspension", "out_of_school_suspension", "expulsion"])
def test_suspension_actions(action):
    d = District().school("A").student("s1", "A").incident("s1", "A", action=action)
    assert _row(d, "s1")["suspended"] is True


def test_grades_are_credit_weighted():
    d = District().school("A").student("s1", "A")
    d.grade("s1", "A", points=4, credits=3).grade("s1", "A", points=0, credits=1)
    row = _row(d, "s1")
    assert row["gpa"] == pytest.approx(3.0)
    assert (row["graded"], row["failed"], row["credits_attempted"]) == (True, True, 4.0)


def test_ungraded_student():
    row = _row(District().school("A").student("s1", "A"), "s1")
    assert (row["graded"], row["failed"], row["gpa"]) == (False, None, None)


def test_zero_credit_courses_have_no_gpa():
    d = District().school("A").student("s1", "A").grade("s1", "A", points=3, credits=0)
    row = _row(d, "s1")
    assert row["graded"] is True and row["gpa"] is None and row["failed"] is False


def test_grades_of_another_year_are_ignored():
    d = District().school("A").student("s1", "A").grade("s1", "A", points=0)
    d.rows["grades"][0]["school_year"] = "2024-2025"
    assert _row(d, "s1")["graded"] is False
