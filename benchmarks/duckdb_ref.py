"""A DuckDB reference: the floor's summaries, and the attendance duplicate-key check, in SQL.

A second engine on the same files tells whether the polars floor is itself a fair floor,
and what the key check over (student, school, date) of daily attendance costs in a
column store built for group-bys. Same inputs, filters and outputs as ``floor.py``
(``floor_queries``); dates are read as dates (Parquet as stored, CSV typed by the reader).

Usage::

    python -m benchmarks.duckdb_ref EXTRACT_DIR summaries     # the floor's summaries
    python -m benchmarks.duckdb_ref EXTRACT_DIR duplicates    # attendance keys seen twice or more

Prints JSON: the result row counts (or the number of repeated keys) and the query time.
No extension is installed or loaded from the network.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.floor import DATES, NUMBERS

START, END = "2025-07-01", "2026-06-30"


def source(extract: Path, table: str) -> str:
    """The table as a DuckDB table function over its file, dates and numbers typed."""
    parquet = extract / f"{table}.parquet"
    if parquet.exists():
        return f"read_parquet('{parquet}')"
    types = {c: "DATE" for c in DATES.get(table, [])} | {c: "DOUBLE" for c in NUMBERS.get(table, [])}
    columns = ", ".join(f"'{c}': '{t}'" for c, t in types.items())
    return f"read_csv('{extract / f'{table}.csv'}', header=true, all_varchar=true, types={{{columns}}})"


def summaries(extract: Path) -> dict[str, str]:
    """The floor's eight queries (``floor.floor_queries``) in SQL."""
    s = lambda table: source(extract, table)  # noqa: E731 - a short alias keeps the SQL readable
    window = f"BETWEEN DATE '{START}' AND DATE '{END}'"
    return {
        "attendance": f"""
            SELECT school_id, student_id, count(*) AS days_enrolled,
                   count(*) FILTER (status IN ('present', 'tardy', 'early_departure')) AS days_present,
                   count(*) FILTER (status = 'excused_absence') AS days_excused,
                   count(*) FILTER (status = 'unexcused_absence') AS days_unexcused,
                   days_excused + days_unexcused AS days_absent
            FROM {s("attendance")} WHERE date {window} GROUP BY ALL""",
        "discipline": f"""
            SELECT school_id, student_id, count(DISTINCT incident_id) AS incidents,
                   count(*) FILTER (action IN ('in_school_suspension', 'out_of_school_suspension', 'expulsion'))
                       AS suspensions,
                   sum(days_removed) AS days_removed
            FROM {s("discipline")} WHERE incident_date {window} GROUP BY ALL""",
        "grades": f"""
            SELECT school_id, student_id, sum(grade_points * credits_attempted) AS points,
                   sum(credits_attempted) AS credits, bool_or(grade_points = 0) AS failed
            FROM {s("grades")} WHERE school_year = '{START[:4]}-{END[:4]}' GROUP BY ALL""",
        "contacts": f"""
            SELECT partner_id, student_id, count(DISTINCT contact_date) AS contact_days
            FROM {s("service_contacts")} WHERE contact_date {window} GROUP BY ALL""",
        "enrollments": f"SELECT DISTINCT school_id, student_id FROM {s('enrollments')}",
        "students": f"SELECT student_id, birth_date FROM {s('students')}",
        "consents": f"SELECT student_id, partner_id, scope, granted_on, revoked_on FROM {s('consents')}",
        "schools": f"SELECT school_id, school_name FROM {s('schools')}",
    }


def duplicates(extract: Path) -> str:
    """Keys of attendance (student, school, date) held by more than one row: a plain group-by."""
    return f"""
        SELECT count(*) FROM (
            SELECT student_id, school_id, date FROM {source(extract, "attendance")}
            GROUP BY ALL HAVING count(*) > 1)"""


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory database that fetches nothing from the network and keeps no row order."""
    return duckdb.connect(config={"autoinstall_known_extensions": False, "preserve_insertion_order": False})


def main(argv: list[str]) -> int:
    extract, what = Path(argv[1]), argv[2] if len(argv) > 2 else "summaries"
    con = connect()
    started = time.perf_counter()
    if what == "duplicates":
        result: object = con.sql(duplicates(extract)).fetchall()[0][0]
    else:
        result = [con.sql(sql).to_arrow_table().num_rows for sql in summaries(extract).values()]
    seconds = time.perf_counter() - started
    print(json.dumps({what: result, "query_seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
