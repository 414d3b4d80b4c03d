"""The nine-contact rule: which students a partner served during the school year.

Contacts are counted once for every partner in one ``group_by(partner_id, student_id)``
(:func:`contact_counts`), so two hundred partners do not rescan ``service_contacts``.
Contacts outside the school year (summer work) do not count. A served student counts at
each covered school where they are enrolled; students not enrolled at any of the
agreement's schools are not eligible under that agreement.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from datashare.agreement.model import Agreement
from datashare.release.metrics import among
from datashare.schoolyear import SchoolYear

COUNT_COLUMNS = {"distinct_days": "contact_days", "records": "contact_records"}
"""``eligibility.count`` of an agreement -> the column of :func:`contact_counts` it reads."""


@dataclass(frozen=True)
class PartnerEligibility:
    """Distinct ``student_id`` frames: with at least one contact, and eligible."""

    with_contacts: pl.DataFrame
    eligible: pl.DataFrame


def contact_counts(service_contacts: pl.LazyFrame, school_year: SchoolYear) -> pl.DataFrame:
    """Contacts inside the school year per (partner_id, student_id), for all partners.

    ``contact_days`` counts distinct contact dates, ``contact_records`` counts rows.
    """
    return (
        service_contacts.filter(
            pl.col("contact_date").is_between(school_year.start, school_year.end, closed="both")
        )
        .group_by("partner_id", "student_id")
        .agg(
            contact_days=pl.col("contact_date").n_unique().cast(pl.Int64),
            contact_records=pl.len().cast(pl.Int64),
        )
        .sort("partner_id", "student_id")
        .collect(engine="streaming")
    )


def covered_enrolled(enrolled: pl.DataFrame, schools: frozenset[str] | None) -> pl.DataFrame:
    """Enrolled (school_id, student_id) pairs at the covered schools (``None``: all)."""
    if schools is None:
        return enrolled
    return enrolled.filter(pl.col("school_id").is_in(sorted(schools)))


def covered_students(enrolled: pl.DataFrame, schools: frozenset[str] | None) -> pl.Series:
    """The distinct ``student_id`` enrolled at the covered schools, sorted (for :func:`among`)."""
    return covered_enrolled(enrolled, schools).get_column("student_id").unique().sort()


def eligible(
    counts: pl.DataFrame,
    agreement: Agreement,
    enrolled: pl.DataFrame,
    schools: frozenset[str] | None = None,
) -> PartnerEligibility:
    """The agreement's partner's students with contacts, and those meeting ``min_contacts``.

    ``counts`` comes from :func:`contact_counts`; ``enrolled`` holds the (school_id,
    student_id) pairs enrolled in the school year; ``schools`` the covered school ids
    (``None``: every school).
    """
    return partner_eligibility(counts, agreement, covered_students(enrolled, schools))


def partner_eligibility(
    counts: pl.DataFrame, agreement: Agreement, covered: pl.Series
) -> PartnerEligibility:
    """:func:`eligible` among the ``covered`` students (from :func:`covered_students`).

    ``counts`` may be all partners' or only this partner's rows of :func:`contact_counts`;
    the covered students are looked up by binary search, so the cost follows the partner's
    students, not the district's.
    """
    if agreement.partner is None:
        raise ValueError("an agreement without a partner cannot be released")
    rule = agreement.eligibility
    column = COUNT_COLUMNS[rule.count]
    mine = counts.filter(pl.col("partner_id") == agreement.partner.id)
    mine = mine.filter(among(covered, mine.get_column("student_id")))
    with_contacts = mine.select("student_id").sort("student_id")
    served = mine.filter(pl.col(column) >= rule.min_contacts).select("student_id").sort("student_id")
    return PartnerEligibility(with_contacts=with_contacts, eligible=served)
