"""The floor: read each input table once and compute the per-student summaries a release needs.

One plain polars query per table (collected together on the streaming engine), with no
validation, no eligibility, no packaging: the irreducible cost of reading and aggregating
the extract once. ``datashare run`` and ``datashare validate`` are measured against it.

Usage: ``python benchmarks/floor.py EXTRACT_DIR [ENGINE] [--partners=ID,ID,...]`` (prints the
summary row counts as JSON); ``--partners`` keeps those partners' contacts and consents
only, the floor of a release for those partners.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl

DATES = {
    "students": ["birth_date"],
    "enrollments": ["entry_date", "exit_date"],
    "attendance": ["date"],
    "discipline": ["incident_date"],
    "grades": [],
    "service_contacts": ["contact_date"],
    "consents": ["granted_on", "revoked_on"],
}
NUMBERS = {"discipline": ["days_removed"], "grades": ["grade_points", "credits_attempted"]}


def types(table: str) -> dict[str, pl.DataType]:
    """The columns the summaries read as something other than text."""
    wanted: dict[str, pl.DataType] = {c: pl.Date() for c in DATES.get(table, [])}
    return wanted | {c: pl.Float64() for c in NUMBERS.get(table, [])}


def scan(extract: Path, table: str) -> pl.LazyFrame:
    """A table as a LazyFrame with its dates as dates and its numbers as numbers.

    Parquet is read as stored: a column already typed is not touched (a date column stored
    as a date costs nothing to read as one). A CSV is parsed once by the CSV reader with the
    date and number columns typed, never read as text and converted after. Only a Parquet
    column stored as text is parsed (ISO dates), as the release itself must.
    """
    wanted = types(table)
    parquet = extract / f"{table}.parquet"
    if not parquet.exists():
        return pl.scan_csv(extract / f"{table}.csv", infer_schema=False, schema_overrides=wanted)
    frame = pl.scan_parquet(parquet)
    stored = frame.collect_schema()
    casts = []
    for name, dtype in wanted.items():
        if name not in stored or stored[name] == dtype:
            continue
        column = pl.col(name)
        casts.append(column.str.to_date("%Y-%m-%d", strict=False) if stored[name] == pl.String and dtype == pl.Date
                     else column.cast(dtype, strict=False))  # fmt: skip
    return frame.with_columns(casts) if casts else frame


def floor_queries(
    extract: Path, start: str = "2025-07-01", end: str = "2026-06-30", partners: list[str] | None = None
) -> list[pl.LazyFrame]:
    """One query per input table, each reading its table once. ``partners``: the partners
    a release is for, when it is for some of the district's partners only: a release needs
    no other partner's contacts or consents (``datashare run`` reads those of its own
    agreements' partners only)."""
    lo, hi = pl.lit(date.fromisoformat(start)), pl.lit(date.fromisoformat(end))
    keys = ("school_id", "student_id")
    status = pl.col("status")
    attendance = (
        scan(extract, "attendance")
        .filter(pl.col("date").is_between(lo, hi))
        .group_by(keys)
        .agg(
            days_enrolled=pl.len(),
            days_present=status.is_in(["present", "tardy", "early_departure"]).sum(),
            days_excused=(status == "excused_absence").sum(),
            days_unexcused=(status == "unexcused_absence").sum(),
        )
        .with_columns(days_absent=pl.col("days_excused") + pl.col("days_unexcused"))
    )
    discipline = (
        scan(extract, "discipline")
        .filter(pl.col("incident_date").is_between(lo, hi))
        .group_by(keys)
        .agg(
            incidents=pl.col("incident_id").n_unique(),
            suspensions=pl.col("action")
            .is_in(["in_school_suspension", "out_of_school_suspension", "expulsion"])
            .sum(),
            days_removed=pl.col("days_removed").sum(),
        )
    )
    grades = (
        scan(extract, "grades")
        .filter(pl.col("school_year") == f"{start[:4]}-{end[:4]}")
        .group_by(keys)
        .agg(
            points=(pl.col("grade_points") * pl.col("credits_attempted")).sum(),
            credits=pl.col("credits_attempted").sum(),
            failed=(pl.col("grade_points") == 0).any(),
        )
    )
    mine = pl.col("partner_id").is_in(partners) if partners is not None else pl.lit(True)
    contacts = (
        scan(extract, "service_contacts")
        .filter(pl.col("contact_date").is_between(lo, hi) & mine)
        .group_by("partner_id", "student_id")
        .agg(contact_days=pl.col("contact_date").n_unique())
    )
    enrollments = scan(extract, "enrollments").select(keys).unique()
    students = scan(extract, "students").select("student_id", "birth_date")
    consents = (
        scan(extract, "consents").filter(mine).select("student_id", "partner_id", "scope", "granted_on", "revoked_on")
    )
    schools = scan(extract, "schools").select("school_id", "school_name")
    return [attendance, discipline, grades, contacts, enrollments, students, consents, schools]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the floor: each table read once into the release's summaries")
    parser.add_argument("extract", type=Path)
    parser.add_argument("engine", nargs="?", default="streaming")
    parser.add_argument("--partners", help="comma-separated partner ids: their contacts and consents only")
    args = parser.parse_args(argv[1:])
    partners = args.partners.split(",") if args.partners else None
    engine = args.engine
    started = time.perf_counter()
    frames = pl.collect_all(floor_queries(args.extract, partners=partners), engine=engine)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": [f.height for f in frames], "query_seconds": round(seconds, 3), "engine": engine}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
