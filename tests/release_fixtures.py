"""Tiny typed districts for the release tests, built by hand.

:class:`District` collects rows table by table and hands out LazyFrames with exactly the
columns and dtypes of the typed extract (docs/ARCHITECTURE.md), so the release stages see
what the extract reader gives them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from datashare.agreement.load import LoadedAgreement, agreement_sha256
from datashare.agreement.model import Agreement
from datashare.release.compute import compute_releases
from datashare.release.types import PartnerRelease
from datashare.schoolyear import SchoolYear

S, D, B, F = pl.String, pl.Date, pl.Boolean, pl.Float64

SCHEMAS: dict[str, dict[str, Any]] = {
    "schools": {"school_id": S, "school_name": S, "district_id": S},
    "students": {
        "student_id": S, "first_name": S, "last_name": S, "birth_date": D, "grade_level": S,
        "gender": S, "race_ethnicity": S, "english_learner": B, "special_education": B,
        "economically_disadvantaged": B,
    },
    "enrollments": {
        "student_id": S, "school_id": S, "school_year": S, "entry_date": D, "exit_date": D,
        "grade_level": S,
    },
    "attendance": {"student_id": S, "school_id": S, "date": D, "status": S},
    "discipline": {
        "incident_id": S, "student_id": S, "school_id": S, "incident_date": D, "behavior": S,
        "action": S, "days_removed": F,
    },
    "grades": {
        "student_id": S, "school_id": S, "school_year": S, "term": S, "course_id": S,
        "subject": S, "letter_grade": S, "grade_points": F, "credits_attempted": F,
        "credits_earned": F,
    },
    "service_contacts": {
        "partner_id": S, "student_id": S, "contact_date": D, "service_type": S, "minutes": F,
        "school_id": S,
    },
    "consents": {
        "consent_id": S, "student_id": S, "partner_id": S, "scope": S, "granted_on": D,
        "revoked_on": D, "signed_by": S,
    },
}


YEAR = SchoolYear.parse("2025-2026")
AS_OF = dt.date(2026, 6, 1)
FIRST_DAY = dt.date(2025, 9, 1)


@dataclass
class District:
    """Rows per table; the ``add_*`` helpers fill in plausible values for the rest."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in SCHEMAS})

    def school(self, school_id: str, name: str | None = None) -> District:
        self.rows["schools"].append(
            {"school_id": school_id, "school_name": name or f"School {school_id}", "district_id": "d1"}
        )
        return self

    def student(
        self,
        student_id: str,
        school_id: str,
        *,
        birth_date: dt.date = dt.date(2012, 5, 5),
        present: int = 0,
        absent: int = 0,
        excused: bool = False,
        grade_level: str = "08",
        english_learner: bool = False,
    ) -> District:
        """A student enrolled at a school with ``present`` then ``absent`` school days."""
        self.rows["students"].append(
            {
                "student_id": student_id, "first_name": f"First{student_id}",
                "last_name": f"Last{student_id}", "birth_date": birth_date,
                "grade_level": grade_level, "gender": "F", "race_ethnicity": "x",
                "english_learner": english_learner, "special_education": False,
                "economically_disadvantaged": None,
            }
        )
        self.enroll(student_id, school_id, present=present, absent=absent, excused=excused)
        return self

    def enroll(
        self, student_id: str, school_id: str, *, present: int = 0, absent: int = 0,
        excused: bool = False, entry: dt.date = dt.date(2025, 8, 15),
    ) -> District:
        grade = next(
            (s["grade_level"] for s in self.rows["students"] if s["student_id"] == student_id), "08"
        )
        self.rows["enrollments"].append(
            {
                "student_id": student_id, "school_id": school_id, "school_year": "2025-2026",
                "entry_date": entry, "exit_date": None, "grade_level": grade,
            }
        )
        status = "excused_absence" if excused else "unexcused_absence"
        days = ["present"] * present + [status] * absent
        for i, value in enumerate(days):
            self.rows["attendance"].append(
                {"student_id": student_id, "school_id": school_id,
                 "date": FIRST_DAY + dt.timedelta(days=i), "status": value}
            )
        return self

    def contacts(
        self, partner_id: str, student_id: str, days: int, *, per_day: int = 1,
        start: dt.date = dt.date(2025, 10, 1),
    ) -> District:
        for i in range(days):
            for _ in range(per_day):
                self.rows["service_contacts"].append(
                    {"partner_id": partner_id, "student_id": student_id,
                     "contact_date": start + dt.timedelta(days=i), "service_type": "tutoring",
                     "minutes": 30.0, "school_id": None}
                )
        return self

    def consent(
        self, student_id: str, partner_id: str, *, scope: str = "individual_data",
        granted_on: dt.date = dt.date(2025, 9, 1), revoked_on: dt.date | None = None,
        signed_by: str = "parent",
    ) -> District:
        self.rows["consents"].append(
            {"consent_id": f"c{len(self.rows['consents']) + 1}", "student_id": student_id,
             "partner_id": partner_id, "scope": scope, "granted_on": granted_on,
             "revoked_on": revoked_on, "signed_by": signed_by}
        )
        return self

    def incident(
        self, student_id: str, school_id: str, *, action: str = "detention",
        incident_id: str | None = None, days_removed: float = 0.0,
        date: dt.date = dt.date(2025, 11, 3),
    ) -> District:
        self.rows["discipline"].append(
            {"incident_id": incident_id or f"i{len(self.rows['discipline']) + 1}",
             "student_id": student_id, "school_id": school_id, "incident_date": date,
             "behavior": "disruption", "action": action, "days_removed": days_removed}
        )
        return self

    def grade(
        self, student_id: str, school_id: str, *, points: float, credits: float = 1.0,
        course_id: str | None = None, term: str = "S1",
    ) -> District:
        self.rows["grades"].append(
            {"student_id": student_id, "school_id": school_id, "school_year": "2025-2026",
             "term": term, "course_id": course_id or f"k{len(self.rows['grades']) + 1}",
             "subject": "math", "letter_grade": "F" if points == 0 else "B",
             "grade_points": points, "credits_attempted": credits,
             "credits_earned": 0.0 if points == 0 else credits}
        )
        return self

    def tables(self) -> dict[str, pl.LazyFrame]:
        return {
            name: pl.DataFrame(self.rows[name], schema=schema, orient="row").lazy()
            if self.rows[name]
            else pl.DataFrame(schema=schema).lazy()
            for name, schema in SCHEMAS.items()
        }


FIELDS = {
    "students": ["grade_level", "english_learner"],
    "attendance": ["days_enrolled", "days_present", "attendance_rate", "chronically_absent"],
    "discipline": ["incident_date", "action", "days_removed"],
    "grades": ["term", "subject", "grade_points"],
}


def agreement(
    partner: str = "p1",
    *,
    schools: str | list[str] = "all",
    min_contacts: int = 9,
    count: str = "distinct_days",
    min_cell_size: int = 10,
    individual: bool = True,
    adult: str = "own",
    scope: str = "individual_data",
    fields: dict[str, list[str]] | None = None,
    metrics: list[str] | None = None,
) -> Agreement:
    """A complete agreement for the 2025-2026 test year."""
    data: dict[str, Any] = {
        "datashare": 1, "id": f"{partner}-2025-2026", "version": 1, "title": "Test",
        "district": {"id": "d1", "name": "District"},
        "partner": {"id": partner, "name": partner.upper()},
        "school_year": "2025-2026",
        "term": {"effective": "2025-08-01", "expires": "2026-08-31"},
        "purpose": "Testing.", "schools": schools,
        "eligibility": {"min_contacts": min_contacts, "count": count},
        "aggregate": {"min_cell_size": min_cell_size},
        "retention": {"destroy_by": "2027-06-30"},
    }
    if metrics is not None:
        data["aggregate"]["metrics"] = metrics
    if individual:
        data["individual"] = {
            "consent_scope": scope,
            "fields": fields if fields is not None else FIELDS,
            "adult_student_consent": adult,
        }
    return Agreement.model_validate(data)


SECRET = bytes(range(32))


def loaded(agreement_: Agreement, path: str = "agreements/test.yaml") -> LoadedAgreement:
    """The agreement as :func:`datashare.agreement.load_agreement` would hand it over."""
    return LoadedAgreement(
        agreement=agreement_, path=Path(path), sha256=agreement_sha256(agreement_), sources=(Path(path),)
    )


def release(
    district: District, *agreements: Agreement, as_of: dt.date = AS_OF, secret: bytes = SECRET
) -> list[PartnerRelease]:
    return compute_releases(district.tables(), YEAR, [loaded(a) for a in agreements], secret, as_of)
