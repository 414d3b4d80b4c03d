"""The catalog of what an agreement can release: individual fields and aggregate metrics.

Plain data. The release stage projects individual tables to exactly these columns, lint
refuses any other name, and the review document shows each element's source and its
category in the terms of the Student Data Privacy Consortium's National Data Privacy
Agreement (NDPA) Exhibit B, so a compliance reviewer can match the agreement against the
district's signed data inventory.

Individual tables (one file each in a package, every row keyed by ``student_key`` and
carrying ``school_id``):

- ``students``: one row per released student;
- ``attendance``: one row per student per school, summarised from daily attendance;
- ``discipline``: one row per incident (the incident id itself is never released);
- ``grades``: one row per course grade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# NDPA Exhibit B categories used by the catalog.
ATTENDANCE = "Attendance"
CONDUCT = "Conduct"
DEMOGRAPHICS = "Demographics"
ENROLLMENT = "Enrollment"
SPECIAL_INDICATOR = "Special Indicator"
TRANSCRIPT = "Transcript"
STUDENT_IDENTIFIERS = "Student Identifiers"


@dataclass(frozen=True)
class FieldInfo:
    """One releasable individual field.

    ``source_table``/``source_column`` name where the value comes from in the extract;
    ``derivation`` says how a summarised value is computed (``None``: copied as is).
    ``special_indicator`` marks fields that reveal a program membership or a need
    (English learner, special education, low income): lint warns when they are released.
    """

    name: str
    table: str
    source_table: str
    source_column: str
    description: str
    category: str
    derivation: str | None = None
    special_indicator: bool = False


@dataclass(frozen=True)
class MetricInfo:
    """One aggregate comparison metric (CONTRACT section 3)."""

    name: str
    description: str
    sources: tuple[str, ...]
    category: str
    share: bool


def _fields(table: str, *infos: tuple) -> dict[str, FieldInfo]:
    return {info[0]: FieldInfo(info[0], table, *info[1:]) for info in infos}


_STATUS = "attendance.status"

INDIVIDUAL_FIELDS: dict[str, dict[str, FieldInfo]] = {
    "students": _fields(
        "students",
        ("grade_level", "students", "grade_level", "Grade level (PK, KG, 01..12).", ENROLLMENT),
        ("gender", "students", "gender", "Gender as recorded by the district.", DEMOGRAPHICS),
        ("race_ethnicity", "students", "race_ethnicity", "Race/ethnicity as recorded by the district.", DEMOGRAPHICS),
        ("english_learner", "students", "english_learner", "Whether the student is an English learner.",
         SPECIAL_INDICATOR, None, True),
        ("special_education", "students", "special_education",
         "Whether the student receives special education services (IEP).", SPECIAL_INDICATOR, None, True),
        ("economically_disadvantaged", "students", "economically_disadvantaged",
         "Whether the student is economically disadvantaged (low income status).", SPECIAL_INDICATOR, None, True),
    ),
    "attendance": _fields(
        "attendance",
        ("days_enrolled", "attendance", "status", "School days in membership at the school.", ATTENDANCE,
         "count of attendance rows"),
        ("days_present", "attendance", "status", "Days present (tardy and early departure count as present).",
         ATTENDANCE, "count of present, tardy and early_departure"),
        ("days_absent", "attendance", "status", "Days absent, excused or not.", ATTENDANCE,
         "count of excused_absence and unexcused_absence"),
        ("days_excused", "attendance", "status", "Days of excused absence.", ATTENDANCE,
         "count of excused_absence"),
        ("days_unexcused", "attendance", "status", "Days of unexcused absence.", ATTENDANCE,
         "count of unexcused_absence"),
        ("attendance_rate", "attendance", "status", "Present days divided by enrolled days.", ATTENDANCE,
         "days_present / days_enrolled"),
        ("chronically_absent", "attendance", "status",
         "Absent on at least 10% of at least 10 enrolled days.", ATTENDANCE,
         "10 * days_absent >= days_enrolled and days_enrolled >= 10"),
    ),
    "discipline": _fields(
        "discipline",
        ("incident_date", "discipline", "incident_date", "Date of the incident.", CONDUCT),
        ("behavior", "discipline", "behavior", "Behavior code of the incident.", CONDUCT),
        ("action", "discipline", "action", "Action taken (detention, suspension, ...).", CONDUCT),
        ("days_removed", "discipline", "days_removed", "School days removed from class.", CONDUCT),
    ),
    "grades": _fields(
        "grades",
        ("school_year", "grades", "school_year", "School year of the grade.", TRANSCRIPT),
        ("term", "grades", "term", "Grading term.", TRANSCRIPT),
        ("course_id", "grades", "course_id", "District course code.", TRANSCRIPT),
        ("subject", "grades", "subject", "Subject area of the course.", TRANSCRIPT),
        ("letter_grade", "grades", "letter_grade", "Letter grade.", TRANSCRIPT),
        ("grade_points", "grades", "grade_points", "Grade points (0 to 5).", TRANSCRIPT),
        ("credits_attempted", "grades", "credits_attempted", "Credits attempted.", TRANSCRIPT),
        ("credits_earned", "grades", "credits_earned", "Credits earned.", TRANSCRIPT),
    ),
}
"""Releasable individual fields: table -> field name -> :class:`FieldInfo`."""

TABLES: tuple[str, ...] = tuple(INDIVIDUAL_FIELDS)
"""The individual tables, in package order."""

ALWAYS_INCLUDED: dict[str, FieldInfo] = {
    "student_key": FieldInfo(
        "student_key", "*", "students", "student_id",
        "Partner-scoped pseudonym (keyed HMAC-SHA256); not reversible without the district's secret.",
        STUDENT_IDENTIFIERS, "HMAC-SHA256 under the partner's key",
    ),
    "school_id": FieldInfo("school_id", "*", "enrollments", "school_id", "The school the row belongs to.", ENROLLMENT),
}
"""Columns every individual table carries besides the fields the agreement lists."""

SPECIAL_INDICATORS: frozenset[str] = frozenset(
    name for fields in INDIVIDUAL_FIELDS.values() for name, info in fields.items() if info.special_indicator
)

METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("attendance_rate", "Mean of each student's present days over enrolled days.",
                   ("attendance.status",), ATTENDANCE, False),
        MetricInfo("chronic_absence_rate",
                   "Share of students (with at least 10 enrolled days) absent on 10% or more of them.",
                   ("attendance.status",), ATTENDANCE, True),
        MetricInfo("suspension_rate",
                   "Share of students with at least one suspension (in or out of school) or expulsion.",
                   ("discipline.action",), CONDUCT, True),
        MetricInfo("incidents_per_student", "Mean number of discipline incidents per student.",
                   ("discipline.incident_id",), CONDUCT, False),
        MetricInfo("mean_gpa", "Mean of each student's grade points weighted by credits attempted.",
                   ("grades.grade_points", "grades.credits_attempted"), TRANSCRIPT, False),
        MetricInfo("course_failure_rate", "Share of graded students with at least one course at 0 grade points.",
                   ("grades.grade_points",), TRANSCRIPT, True),
    )
}
"""Aggregate comparison metrics, in report order (the same order as ``model.METRICS``)."""

DIRECT_IDENTIFIERS: frozenset[str] = frozenset(
    {
        "student_id", "state_student_id", "local_student_id", "ssn", "social_security_number",
        "first_name", "last_name", "middle_name", "full_name", "preferred_name", "name",
        "birth_date", "date_of_birth", "dob", "address", "street_address", "home_address",
        "city", "zip", "zip_code", "postal_code", "phone", "phone_number", "email",
        "email_address", "parent_name", "guardian_name", "incident_id", "consent_id",
    }
)
"""Names that identify a student directly; never releasable, whatever an agreement says."""

_IDENTIFIER_LIKE = re.compile(
    r"(^|_)(ssn|birth|dob|address|street|phone|mobile|email|e_mail|zip|postal)(_|$)"
    r"|(^|_)(first|last|middle|full|legal|preferred|student|parent|guardian|sur|given)_?name(_|$)"
)


def is_direct_identifier(name: str) -> bool:
    """Whether a field name is, or looks like, a direct identifier (name, address, phone...)."""
    lowered = name.strip().lower()
    return lowered in DIRECT_IDENTIFIERS or bool(_IDENTIFIER_LIKE.search(lowered))


def field_info(table: str, name: str) -> FieldInfo | None:
    """The catalog entry of one individual field, or ``None`` when it is not releasable."""
    return INDIVIDUAL_FIELDS.get(table, {}).get(name)
