"""The nine-contact rule: which students a partner served during the school year.

Contacts are counted once for every partner in one ``group_by(partner_id, student_id)``
(:func:`contact_counts`), so two hundred partners do not rescan ``service_contacts``.
Contacts outside the school year (summer work) do not count. A served student counts at
each covered school where they are enrolled; students not enrolled at any of the
agreement's schools are not eligible under that agreement.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import polars as pl

from datashare.agreement.model import Agreement
from datashare.release.types import AGREEMENT_INDEX
from datashare.schoolyear import SchoolYear

COUNT_COLUMNS = {"distinct_days": "contact_days", "records": "contact_records"}
"""``eligibility.count`` of an agreement -> the column of :func:`contact_counts` it reads."""


@dataclass(frozen=True)
class PartnerEligibility:
    """Distinct ``student_id`` frames: with at least one contact, and eligible."""

    with_contacts: pl.DataFrame
    eligible: pl.DataFrame


def contacts_in_year(service_contacts: pl.LazyFrame, school_year: SchoolYear) -> pl.LazyFrame:
    """The service contacts dated inside the school year."""
    return service_contacts.filter(pl.col("contact_date").is_between(school_year.start, school_year.end, closed="both"))


def contact_counts(
    service_contacts: pl.LazyFrame, school_year: SchoolYear, partners: Collection[str] | None = None
) -> pl.DataFrame:
    """Contacts inside the school year per (partner_id, student_id), for all partners, or
    for ``partners`` only (a run releasing for a few of a district's many partners).

    ``contact_days`` counts distinct contact dates, ``contact_records`` counts rows.
    """
    contacts = contacts_in_year(service_contacts, school_year)
    if partners is not None:
        contacts = contacts.filter(pl.col("partner_id").is_in(sorted(partners)))
    return (
        contacts.group_by("partner_id", "student_id")
        .agg(
            contact_days=pl.col("contact_date").n_unique().cast(pl.Int64),
            contact_records=pl.len().cast(pl.Int64),
        )
        .collect(engine="streaming")
    )


def covered_enrolled(enrolled: pl.DataFrame, schools: frozenset[str] | None) -> pl.DataFrame:
    """Enrolled (school_id, student_id) pairs at the covered schools (``None``: all)."""
    if schools is None:
        return enrolled
    return enrolled.filter(pl.col("school_id").is_in(sorted(schools)))


def covered_students(enrolled: pl.DataFrame, schools: frozenset[str] | None) -> pl.Series:
    """The distinct ``student_id`` enrolled at the covered schools, sorted."""
    return covered_enrolled(enrolled, schools).get_column("student_id").unique().sort()


def rules(agreements: Sequence[Agreement]) -> pl.DataFrame:
    """Each agreement's rule as a row: ``agreement_index`` (its position), ``partner_id``,
    the :func:`contact_counts` column it reads and ``min_contacts``."""
    for agreement in agreements:
        if agreement.partner is None:
            raise ValueError(f"agreement {agreement.id}: an agreement without a partner cannot be released")
    return pl.DataFrame(
        {
            AGREEMENT_INDEX: range(len(agreements)),
            "partner_id": [a.partner.id for a in agreements if a.partner is not None],
            "count_column": [COUNT_COLUMNS[a.eligibility.count] for a in agreements],
            "min_contacts": [a.eligibility.min_contacts for a in agreements],
        },
        schema={AGREEMENT_INDEX: pl.UInt32, "partner_id": pl.String, "count_column": pl.String, "min_contacts": pl.Int64},
    )


def served_students(counts: pl.DataFrame, rules: pl.DataFrame, covered: pl.Series) -> pl.DataFrame:
    """Every agreement's partner's students with contacts among ``covered``, in one join.

    ``rules`` from :func:`rules` (agreements covering the same schools); ``covered`` the
    distinct ``student_id`` enrolled at those schools. Returns ``agreement_index``,
    ``student_id`` and ``eligible`` (the rule is met), sorted by agreement.
    """
    count = pl.when(pl.col("count_column") == COUNT_COLUMNS["records"])
    return (
        counts.lazy()
        .join(rules.lazy(), on="partner_id", how="inner")
        .join(covered.rename("student_id").to_frame().lazy(), on="student_id", how="semi")
        .select(
            AGREEMENT_INDEX,
            "student_id",
            eligible=count.then("contact_records").otherwise("contact_days") >= pl.col("min_contacts"),
        )
        .sort(AGREEMENT_INDEX)
        .collect()
    )


def eligible(
    counts: pl.DataFrame,
    agreement: Agreement,
    enrolled: pl.DataFrame,
    schools: frozenset[str] | None = None,
) -> PartnerEligibility:
    """The agreement's partner's students with contacts, and those meeting ``min_contacts``.

    ``counts`` comes from :func:`contact_counts`; ``enrolled`` holds the (school_id,
    student_id) pairs enrolled in the school year; ``schools`` the covered school ids
    (``None``: every school). One agreement's :func:`served_students`.
    """
    served = served_students(counts, rules([agreement]), covered_students(enrolled, schools)).sort("student_id")
    return PartnerEligibility(
        with_contacts=served.select("student_id"),
        eligible=served.filter("eligible").select("student_id"),
    )
