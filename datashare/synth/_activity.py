"""Attendance, discipline and grades for one chunk of students, from their enrollments.

Each function expands enrollment spells into rows with ``np.repeat`` and draws every row's
values at once: no Python loop per row, so a chunk of fifty thousand students (nine million
attendance rows) takes a second or two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datashare.synth._calendar import Calendar
from datashare.synth._population import (
    GRADES,
    Enrollments,
    Schools,
    Students,
    pick,
    zero_padded,
)

STATUSES = ("present", "tardy", "early_departure", "excused_absence", "unexcused_absence")
BEHAVIORS = (
    "disruption", "defiance", "tardiness", "fighting", "bullying", "vandalism", "theft",
    "substance", "weapon",
)  # fmt: skip
_BEHAVIOR_SHARE = (0.30, 0.22, 0.12, 0.12, 0.08, 0.05, 0.05, 0.04, 0.02)
ACTIONS = (
    "none", "referral", "detention", "in_school_suspension", "out_of_school_suspension",
    "expulsion", "alternative_placement",
)  # fmt: skip
# Chance of each action by behavior: minor, moderate and serious behaviors.
_MINOR = (0.25, 0.35, 0.30, 0.08, 0.02, 0.00, 0.00)
_MODERATE = (0.05, 0.20, 0.15, 0.30, 0.28, 0.00, 0.02)
_SERIOUS = (0.00, 0.05, 0.05, 0.15, 0.55, 0.10, 0.10)
_ACTION_CUMULATIVE = np.cumsum(
    [_MINOR, _MINOR, _MINOR, _MODERATE, _MODERATE, _MODERATE, _MODERATE, _SERIOUS, _SERIOUS],
    axis=1,
)
FIGHT = BEHAVIORS.index("fighting")
LETTERS = ("F", "D", "C", "B", "A")
# Courses: (code, subject, credits attempted); each level takes a run of this table.
_COURSES = (
    ("ELA", "English Language Arts", 1.0), ("MATH", "Mathematics", 1.0), ("SCI", "Science", 1.0),
    ("SOC", "Social Studies", 1.0), ("ART", "Art", 0.5),
    ("ENG", "English", 1.0), ("MATH", "Mathematics", 1.0), ("SCI", "Science", 1.0),
    ("SOC", "Social Studies", 1.0), ("WL", "World Languages", 1.0),
    ("PE", "Physical Education", 0.5),
)  # fmt: skip
# (first grade, last grade) -> (first course, number of courses); no letter grades before 01.
_LEVEL_COURSES = {(2, 6): (0, 4), (7, 9): (0, 5), (10, 13): (5, 6)}


def spell_days(enr: Enrollments, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """Every (enrollment row, school day index) pair of the given spells, in order."""
    entry = enr.entry[rows].astype(np.int32)
    length = enr.exit[rows].astype(np.int32) - entry + 1
    spell = np.repeat(np.arange(rows.start, rows.stop, dtype=np.int32), length)
    day = np.arange(len(spell), dtype=np.int32)
    day += np.repeat(entry - (np.cumsum(length, dtype=np.int32) - length), length)
    return spell, day


def attendance(
    enr: Enrollments, rows: slice, students: Students, schools: Schools, cal: Calendar,
    rng: np.random.Generator,
) -> dict[str, Any]:  # fmt: skip
    """One row per student per school day in membership, absent by the student's propensity."""
    spell, day = spell_days(enr, rows)
    student = enr.student[spell]
    u = rng.random(len(spell), dtype=np.float32)
    v = rng.random(len(spell), dtype=np.float32)
    absent = u < students.absence[student]
    code = np.arange(len(STATUSES), dtype=np.int8)
    status = np.where(
        absent,
        np.where(v < students.excused[student], code[3], code[4]),
        np.where(v < 0.92, code[0], np.where(v < 0.98, code[1], code[2])),
    )
    del u, v, absent
    return {
        "student_id": students.ids.take(pa.array(student)),
        "school_id": schools.ids.take(pa.array(enr.school[spell])),
        "date": pa.array(cal.days[day]),
        "status": pick(STATUSES, status),
    }


def exceptions_only(days: dict[str, Any]) -> dict[str, Any]:
    """The calendar form of attendance rows: every row but the plain ``present`` ones."""
    keep = pc.not_equal(days["status"], "present")
    return {name: pc.filter(column, keep) for name, column in days.items()}


def calendar_rows(schools: Schools, cal: Calendar) -> dict[str, Any]:
    """The ``calendar`` table: every school meets on every day of the synthetic calendar."""
    n = len(schools.ids)
    return {
        "school_id": schools.ids.take(pa.array(np.repeat(np.arange(n), len(cal.days)))),
        "date": pa.array(np.tile(cal.days, n)),
    }


def discipline(
    enr: Enrollments, rows: slice, students: Students, schools: Schools, cal: Calendar,
    rng: np.random.Generator, first_incident: int,
) -> tuple[dict[str, Any], int]:  # fmt: skip
    """Incidents inside enrollment spells, concentrated in the few students at risk.

    Returns the columns and the number of incident ids used.

    Some fights involve a second student of the same school who is enrolled all year, so an
    incident id can name two students.
    """
    spell_all = np.arange(rows.start, rows.stop)
    length = (enr.exit[rows] - enr.entry[rows] + 1).astype(np.int64)
    count = rng.poisson(students.risk[enr.student[rows]] * length / len(cal.days))
    spell = np.repeat(spell_all, count)
    n = len(spell)
    day = enr.entry[spell] + (rng.random(n) * length[spell - rows.start]).astype(np.int64)
    behavior = rng.choice(len(BEHAVIORS), size=n, p=_BEHAVIOR_SHARE)
    by_day = np.argsort(day, kind="stable")  # incident ids run in date order
    spell, day, behavior = spell[by_day], day[by_day], behavior[by_day]
    incident = np.arange(first_incident, first_incident + n)
    student, school = enr.student[spell], enr.school[spell]

    # Second participants in some fights: a student of the same school enrolled all year.
    fights = np.flatnonzero((behavior == FIGHT) & (rng.random(n) < 0.5))
    whole_year = (enr.entry[rows] == 0) & (enr.exit[rows] == cal.last)
    pool_school, pool_student = enr.school[rows][whole_year], enr.student[rows][whole_year]
    order = np.argsort(pool_school, kind="stable")
    pool_school, pool_student = pool_school[order], pool_student[order]
    lo = np.searchsorted(pool_school, school[fights], side="left")
    hi = np.searchsorted(pool_school, school[fights], side="right")
    has_pool = hi > lo
    fights, lo, hi = fights[has_pool], lo[has_pool], hi[has_pool]
    other = pool_student[lo + (rng.random(len(fights)) * (hi - lo)).astype(np.int64)]
    fights, other = fights[other != student[fights]], other[other != student[fights]]
    incident = np.concatenate([incident, incident[fights]])
    student = np.concatenate([student, other])
    school = np.concatenate([school, school[fights]])
    day = np.concatenate([day, day[fights]])
    behavior = np.concatenate([behavior, behavior[fights]])

    m = len(incident)
    action = (rng.random(m)[:, None] > _ACTION_CUMULATIVE[behavior]).sum(axis=1)
    action = np.minimum(action, len(ACTIONS) - 1)
    # Days removed: 1-3 for in-school, 1-5 out of school, 30-60 expelled, 20-45 placed.
    removed = [rng.integers(lo, hi + 1, m) for lo, hi in ((1, 3), (1, 5), (30, 60), (20, 45))]
    days_removed = np.select([action == a for a in (3, 4, 5, 6)], removed, 0).astype(np.float64)
    days_removed[(action == 3) & (rng.random(m) < 0.1)] = 0.5  # half-day removals
    order = np.lexsort((incident, student))
    columns = {
        "incident_id": zero_padded(incident[order], 8),
        "student_id": students.ids.take(pa.array(student[order])),
        "school_id": schools.ids.take(pa.array(school[order])),
        "incident_date": pa.array(cal.days[day[order]]),
        "behavior": pick(BEHAVIORS, behavior[order]),
        "action": pick(ACTIONS, action[order]),
        "days_removed": days_removed[order],
    }
    return columns, n


def grades(
    enr: Enrollments, rows: slice, students: Students, schools: Schools, cal: Calendar,
    rng: np.random.Generator,
) -> dict[str, Any]:  # fmt: skip
    """Semester grades (S1, S2) from grade 01 up, at the school enrolled when the term ends.

    Grade points follow the student's ability (lower for frequent absentees) with noise, so
    some courses are failed (0 points, no credit earned).
    """
    spell = np.arange(rows.start, rows.stop)
    parts = []
    for term, last_day in enumerate((cal.s1_last, cal.last)):
        on_roll = spell[(enr.entry[spell] <= last_day) & (last_day <= enr.exit[spell])]
        grade = students.grade[enr.student[on_roll]]
        for (lo, hi), (first, count) in _LEVEL_COURSES.items():
            who = on_roll[(grade >= lo) & (grade <= hi)]
            parts.append(
                (
                    np.repeat(who, count),
                    np.full(len(who) * count, term),
                    np.tile(np.arange(first, first + count), len(who)),
                )
            )
    sp, term, course = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.lexsort((course, term, enr.student[sp]))
    sp, term, course = sp[order], term[order], course[order]
    student, n = enr.student[sp], len(sp)
    points = np.clip(np.rint(students.ability[student] + 0.8 * rng.standard_normal(n)), 0, 4)
    credits = np.array([c[2] for c in _COURSES])[course]
    course_id = pc.binary_join_element_wise(
        pick([c[0] for c in _COURSES], course), pick(GRADES, students.grade[student]), ""
    )
    return {
        "student_id": students.ids.take(pa.array(student)),
        "school_id": schools.ids.take(pa.array(enr.school[sp])),
        "school_year": pick([cal.label], np.zeros(n, dtype=np.int64)),
        "term": pick(("S1", "S2"), term),
        "course_id": course_id,
        "subject": pick([c[1] for c in _COURSES], course),
        "letter_grade": pick(LETTERS, points.astype(np.int64)),
        "grade_points": points,
        "credits_attempted": credits,
        "credits_earned": np.where(points > 0, credits, 0.0),
    }


def enrollment_rows(
    enr: Enrollments, rows: slice, students: Students, schools: Schools, cal: Calendar
) -> dict[str, Any]:
    """The enrollments table for a chunk of students."""
    student = enr.student[rows]
    return {
        "student_id": students.ids.take(pa.array(student)),
        "school_id": schools.ids.take(pa.array(enr.school[rows])),
        "school_year": pick([cal.label], np.zeros(len(student), dtype=np.int64)),
        "entry_date": pa.array(cal.days[enr.entry[rows]]),
        "exit_date": pa.array(cal.days[enr.exit[rows]], mask=enr.still_enrolled[rows]),
        "grade_level": pick(GRADES, students.grade[student]),
    }
