"""Who has consented, as of a date, to the release of their individual records.

A consent row counts for an agreement when its ``partner_id`` is the agreement's partner,
its ``scope`` is the agreement's ``individual.consent_scope``, ``granted_on <= as_of`` and
it is not revoked (``revoked_on`` null or after ``as_of``). Any one such row suffices.

Under FERPA the rights pass to the student at 18: by default a student aged 18 or over on
``as_of`` counts only through their own consent (``signed_by: eligible_student``), unless
the agreement sets ``individual.adult_student_consent: any``. Age is by calendar: the 18th
birthday itself counts as 18. A student born on 29 February turns 18 on 28 February of a
common year, the earlier of the two readings, so on the doubtful day the student's own
consent is required rather than a parent's (fail closed). A student without a known birth
date is treated as an adult for the same reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from datashare.agreement.model import Agreement
from datashare.release.types import AGREEMENT_INDEX

ADULT_AGE_YEARS = 18


def is_adult(birth_date: pl.Expr, as_of: dt.date) -> pl.Expr:
    """Whether a student is 18 or over on ``as_of`` (true when the birth date is unknown).

    Adding 18 calendar years to 29 February gives 28 February in a common year.
    """
    eighteenth = birth_date.dt.offset_by(f"{ADULT_AGE_YEARS}y")
    return (eighteenth <= as_of).fill_null(True)


def consented(
    consents: pl.LazyFrame | pl.DataFrame,
    students: pl.LazyFrame | pl.DataFrame,
    agreement: Agreement,
    as_of: dt.date,
) -> pl.DataFrame:
    """Distinct ``student_id`` (sorted) with a valid consent for the agreement on ``as_of``.

    An agreement without an ``individual`` section needs no consent and gets nobody.
    One agreement's :func:`consented_all`.
    """
    found = consented_all(consents, students, [agreement], as_of)
    return found.select("student_id").sort("student_id")


def consented_all(
    consents: pl.LazyFrame | pl.DataFrame,
    students: pl.LazyFrame | pl.DataFrame,
    agreements: Sequence[Agreement],
    as_of: dt.date,
) -> pl.DataFrame:
    """Every agreement's consented students on ``as_of``, in one join.

    Returns distinct (``agreement_index``, ``student_id``), ``agreement_index`` being the
    position in ``agreements``, sorted by agreement. Agreements without an ``individual``
    section get nobody.
    """
    wanted = [
        (index, agreement.partner.id, agreement.individual.consent_scope, agreement.individual.adult_student_consent == "any")
        for index, agreement in enumerate(agreements)
        if agreement.individual is not None and agreement.partner is not None
    ]
    terms = pl.DataFrame(
        wanted,
        schema={AGREEMENT_INDEX: pl.UInt32, "partner_id": pl.String, "consent_scope": pl.String, "adult_any": pl.Boolean},
        orient="row",
    )
    valid = (
        (pl.col("scope") == pl.col("consent_scope"))
        & (pl.col("granted_on") <= as_of)
        & (pl.col("revoked_on").is_null() | (pl.col("revoked_on") > as_of))
    )
    births = students.lazy().select("student_id", "birth_date")
    return (
        consents.lazy()
        .join(terms.lazy(), on="partner_id", how="inner")
        .filter(valid)
        .join(births, on="student_id", how="left")
        .filter(
            pl.col("adult_any")
            | ~is_adult(pl.col("birth_date"), as_of)
            | (pl.col("signed_by") == "eligible_student")
        )
        .select(AGREEMENT_INDEX, "student_id")
        .unique()
        .sort(AGREEMENT_INDEX)
        .collect()
    )
