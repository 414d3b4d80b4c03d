"""Hand-built releases for the package tests: small, fixed, and independent of the release code."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import polars as pl

from datashare.agreement.model import Agreement
from datashare.release.types import PartnerRelease

AS_OF = dt.date(2026, 3, 1)
RAW_IDS = pl.Series("student_id", ["000101", "000102", "000103", "000104", "000105"])
KEYS = [base64.b32encode(bytes([i] * 16)).decode().rstrip("=").lower() for i in (1, 2, 3)]
"""Pseudonyms in the documented format: base32 of 16 bytes, lowercase, unpadded."""


def agreement(
    agreement_id: str = "el-centro-2025-2026",
    partner_id: str = "el-centro",
    *,
    individual: bool = True,
    recipients: tuple[str, ...] = (),
    version: int = 1,
) -> Agreement:
    """An agreement as compliance would sign it, with or without an individual section."""
    data: dict[str, object] = {
        "id": agreement_id,
        "version": version,
        "title": f"{partner_id} data sharing, 2025-2026",
        "district": {"id": "apple-tree", "name": "Apple Tree School District"},
        "partner": {"id": partner_id, "name": f"Partner {partner_id}"},
        "school_year": "2025-2026",
        "term": {"effective": "2025-08-01", "expires": "2026-08-31"},
        "purpose": "Evaluate after-school tutoring.",
        "eligibility": {"min_contacts": 9, "count": "distinct_days"},
        "aggregate": {"metrics": ["attendance_rate", "suspension_rate"], "min_cell_size": 10},
        "retention": {"destroy_by": "2027-06-30"},
    }
    if individual:
        data["individual"] = {
            "consent_scope": "individual_data",
            "fields": {
                "students": ["grade_level", "english_learner"],
                "attendance": ["days_enrolled", "attendance_rate"],
            },
        }
    if recipients:
        data["delivery"] = {"age_recipients": list(recipients)}
    return Agreement.model_validate(data)


def aggregate_table() -> pl.DataFrame:
    """An aggregate_comparison with the columns of CONTRACT section 5, one cell suppressed."""
    return pl.DataFrame(
        {
            "school_id": ["S1", "S1", "ALL", "ALL"],
            "school_name": ["Lincoln Elementary", "Lincoln Elementary", "All schools", "All schools"],
            "metric": ["attendance_rate", "suspension_rate", "attendance_rate", "suspension_rate"],
            "served_n": [12, None, 30, 30],
            "served_value": [0.912, None, 0.905, None],
            "served_display": ["0.912", "suppressed", "0.905", "<=5%"],
            "comparison_n": [40, None, 120, 120],
            "comparison_value": [0.88, None, 0.871, 0.1],
            "comparison_display": ["0.880", "suppressed", "0.871", "0.100"],
            "difference": [0.032, None, 0.034, None],
            "suppressed": [False, True, False, False],
            "note": [None, "primary: n below 10", None, "coded: extreme share"],
        },
        schema_overrides={"served_n": pl.Int64, "comparison_n": pl.Int64},
    )


def release(
    agreement_id: str = "el-centro-2025-2026",
    partner_id: str = "el-centro",
    *,
    individual: bool = True,
    recipients: tuple[str, ...] = (),
    aggregate: pl.DataFrame | None = None,
    version: int = 1,
) -> PartnerRelease:
    """A small PartnerRelease built by hand."""
    tables: dict[str, pl.DataFrame] = {
        "aggregate_comparison": aggregate if aggregate is not None else aggregate_table()
    }
    if individual:
        tables["students"] = pl.DataFrame(
            {
                "student_key": KEYS,
                "school_id": ["S1", "S1", "S2"],
                "grade_level": ["03", "04", "KG"],
                "english_learner": [True, False, None],
            }
        )
        tables["attendance"] = pl.DataFrame(
            {
                "student_key": KEYS,
                "school_id": ["S1", "S1", "S2"],
                "days_enrolled": [170, 172, 90],
                "attendance_rate": [0.95, 0.871, 0.9],
            }
        )
    return PartnerRelease(
        agreement=agreement(
            agreement_id, partner_id, individual=individual, recipients=recipients, version=version
        ),
        agreement_sha256="a" * 64,
        agreement_path=Path(f"agreements/{agreement_id}.yaml"),
        as_of=AS_OF,
        tables=tables,
        gates={"enrolled": 160, "with_contacts": 40, "eligible": 30, "consented": 3, "withheld": 0, "released": 3},
        suppression={"primary": 1, "coded": 1},
        school_year="2025-2026",
    )
