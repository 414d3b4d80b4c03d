"""The agreement as a frozen, typed model (CONTRACT section 2).

The model is the only source of permission: a column, a student or a figure is released
only when the agreement names it. Unknown keys are errors (``extra="forbid"``), so a
misspelt key can never be silently ignored. A *template* may leave the parties and dates
out; an *agreement* (a file with ``district``, ``partner``, ``term`` ...) must have them:
:meth:`Agreement.missing_for_release` lists what a template still lacks.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from datashare.schoolyear import SchoolYear

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", max_length=100)]
"""An id that becomes a folder name: lowercase letters, digits and inner hyphens."""

SHARE_METRICS: frozenset[str] = frozenset(
    {"chronic_absence_rate", "suspension_rate", "course_failure_rate"}
)
"""Metrics that are a share of students, and so get extreme-share coding."""

Metric = Literal[
    "attendance_rate",
    "chronic_absence_rate",
    "suspension_rate",
    "incidents_per_student",
    "mean_gpa",
    "course_failure_rate",
]

METRICS: tuple[str, ...] = get_args(Metric)
"""The comparison metrics of CONTRACT section 3, in report order."""

MAX_MIN_CONTACTS = 10_000
"""No partner logs more contacts per student in a school year; a larger value is a typo."""
MAX_MIN_CELL_SIZE = 1_000_000
"""A cell larger than a district's whole enrolment suppresses everything; a larger value is a typo."""
MAX_VERSION = 1_000_000
"""Agreement versions count signed revisions."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Frozen):
    """The district or the partner: an id (a folder name) and a display name."""

    id: Slug
    name: str = Field(min_length=1)


class Term(_Frozen):
    """When the agreement is in force, both days inclusive."""

    effective: dt.date
    expires: dt.date


class Eligibility(_Frozen):
    """Who counts as served: at least ``min_contacts`` contacts in the school year."""

    min_contacts: int = Field(default=9, ge=1, le=MAX_MIN_CONTACTS)
    count: Literal["distinct_days", "records"] = "distinct_days"


class Aggregate(_Frozen):
    """The de-identified comparison; no consent needed, small cells suppressed."""

    metrics: tuple[Metric, ...] = Field(default=METRICS, min_length=1)
    min_cell_size: int = Field(default=10, ge=1, le=MAX_MIN_CELL_SIZE)


class IndividualFields(_Frozen):
    """The fields released per table; a table left out is not written at all."""

    students: tuple[str, ...] | None = None
    attendance: tuple[str, ...] | None = None
    discipline: tuple[str, ...] | None = None
    grades: tuple[str, ...] | None = None

    def tables(self) -> dict[str, tuple[str, ...]]:
        """The tables named, in contract order, with their fields."""
        return {
            name: fields
            for name in ("students", "attendance", "discipline", "grades")
            if (fields := getattr(self, name)) is not None
        }


class Individual(_Frozen):
    """Consented individual-level records. Consent is always required.

    ``adult_student_consent`` is a datashare extension of the contract: ``own`` (the
    default, FERPA) counts a student aged 18 or over on ``as_of`` as consented only through
    their own consent (``signed_by: eligible_student``); ``any`` accepts a parent's or
    guardian's consent too, and is flagged for review.
    """

    consent_scope: str = Field(min_length=1)
    fields: IndividualFields
    adult_student_consent: Literal["own", "any"] = "own"


class Retention(_Frozen):
    """When the partner must destroy what it received."""

    destroy_by: dt.date


class Delivery(_Frozen):
    """How the package travels: optionally encrypted to the partner's age recipients."""

    age_recipients: tuple[str, ...] = ()


class Agreement(_Frozen):
    """A data-sharing agreement (or a template: parties and dates left out)."""

    datashare: Literal[1] = 1
    id: Slug | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    title: str | None = None
    extends: str | None = None
    district: Party | None = None
    partner: Party | None = None
    school_year: str | None = None
    term: Term | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    schools: Literal["all"] | tuple[str, ...] = "all"
    eligibility: Eligibility = Eligibility()
    aggregate: Aggregate | None = None
    individual: Individual | None = None
    retention: Retention | None = None
    delivery: Delivery | None = None

    @field_validator("school_year")
    @classmethod
    def _school_year(cls, value: str | None) -> str | None:
        if value is None:
            return value
        SchoolYear.parse(value)  # ValueError: pydantic reports it at the key's line
        return value

    def missing_for_release(self) -> list[str]:
        """Keys a template may leave out but an agreement to release must have."""
        required = ("id", "version", "district", "partner", "school_year", "term", "purpose", "retention")
        return [key for key in required if getattr(self, key) is None]

    def in_force(self, as_of: dt.date) -> bool:
        """Whether ``term.effective <= as_of <= term.expires``."""
        return self.term is not None and self.term.effective <= as_of <= self.term.expires
