"""The attendance duplicate-key check over (student, school, date), six ways, measured.

Daily attendance is the one table whose key check is costly: 173 million rows at a million
students. Each method answers the same question (does any (student, school, date) repeat?)
and reports a count in its own unit (keys, groups or rows); every method must find the
duplicates the others find:

- ``groupby3``: group by the three key columns, keep groups of two rows or more (the
  textbook check);
- ``nunique``: per (student, school), rows against distinct dates (a hash set per group);
- ``bitmap``: what ``datashare validate`` does today (``grouped.distinct_days``): per (student,
  school) and 64-day word, OR one bit per day, then rows against set bits;
- ``packed``: integer-encode the key once (the students and schools tables as
  dictionaries, dates as day numbers), pack it in one 64-bit integer, and compare its
  distinct count with the row count;
- ``packed_sort``: the same packed key sorted, a duplicate being two equal neighbours;
- ``bitmap_int``: the day bitmap grouped by the packed (student, school) integer instead
  of the two text columns.

Packing: student index * 2^28 + school index * 2^16 + (day number mod 2^16). Days mod 2^16
wrap every 179 years, which can only make two different keys collide (a false suspect that
an exact check clears), never hide a duplicate. A student or school missing from its table
has no index and is left out (the referential check reports it).

Usage::

    python -m benchmarks.dupkey EXTRACT_DIR METHOD        # one method, JSON on stdout
    python -m benchmarks.dupkey EXTRACT_DIR --repeats 3   # every method and the references,
                                                          # each a separate process: a table
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import polars as pl

from benchmarks.floor import scan

KEY = ("student_id", "school_id")


def _encoded(extract: Path) -> pl.LazyFrame:
    """Attendance with its key as integers: student and school indexes, and the day number."""
    students = scan(extract, "students").select("student_id").unique().with_row_index("__s")
    schools = scan(extract, "schools").select("school_id").unique().with_row_index("__c")
    return (
        scan(extract, "attendance")
        .select(*KEY, "date")
        .join(students, on="student_id", how="inner")
        .join(schools, on="school_id", how="inner")
        .select(
            group=pl.col("__s").cast(pl.UInt64) * 2**12 + pl.col("__c").cast(pl.UInt64),
            day=(pl.col("date").cast(pl.Int32) % 2**16).cast(pl.UInt64),
        )
    )


def _bitmap(lf: pl.LazyFrame, lead: list[str], day: str) -> pl.LazyFrame:
    """Groups whose rows outnumber their distinct days, by datashare's own day bitmap."""
    from datashare.extract.grouped import distinct_days  # noqa: PLC0415 - the code under measure

    return distinct_days(lf, lead, day, [], []).filter(pl.col("__n") != pl.col("__u")).select(pl.len())


def query(extract: Path, method: str) -> pl.LazyFrame:
    """The check as one lazy query returning one count (zero: no duplicate)."""
    attendance = scan(extract, "attendance").select(*KEY, "date")
    match method:
        case "groupby3":
            return attendance.group_by(*KEY, "date").len().filter(pl.col("len") > 1).select(pl.len())
        case "nunique":
            return (
                attendance.group_by(KEY)
                .agg(n=pl.len(), u=pl.col("date").n_unique())
                .filter(pl.col("n") != pl.col("u"))
                .select(pl.len())
            )
        case "bitmap":
            return _bitmap(attendance, list(KEY), "date")
        case "packed":
            packed = _encoded(extract).select(key=pl.col("group") * 2**16 + pl.col("day"))
            return packed.select(pl.len() - pl.col("key").n_unique())
        case "packed_sort":
            packed = _encoded(extract).select(key=(pl.col("group") * 2**16 + pl.col("day")).sort())
            return packed.select((pl.col("key").diff() == 0).sum())
        case "bitmap_int":
            return _bitmap(_encoded(extract).with_columns(pl.col("day").cast(pl.Date)), ["group"], "day")
    raise SystemExit(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")


METHODS = ("groupby3", "nunique", "bitmap", "packed", "packed_sort", "bitmap_int")


def run_one(extract: Path, method: str) -> dict[str, object]:
    started = time.perf_counter()
    found = query(extract, method).collect(engine="streaming").item()
    return {"method": method, "duplicates": found, "query_seconds": round(time.perf_counter() - started, 3)}


def compare(extract: Path, repeats: int) -> list[dict[str, object]]:
    """Every method and the two references, each run ``repeats`` times as its own process."""
    from benchmarks.run import PYTHON, measure  # noqa: PLC0415 - only the driver needs the harness

    here = Path(__file__).resolve().parent
    commands = {
        "floor (polars, streaming)": [PYTHON, str(here / "floor.py"), str(extract)],
        "duckdb summaries": [PYTHON, "-m", "benchmarks.duckdb_ref", str(extract), "summaries"],
        "duckdb duplicates (group-by)": [PYTHON, "-m", "benchmarks.duckdb_ref", str(extract), "duplicates"],
        **{f"polars {m}": [PYTHON, "-m", "benchmarks.dupkey", str(extract), m] for m in METHODS},
    }
    rows = []
    for name, command in commands.items():
        samples = [measure(command, cwd=here.parent) for _ in range(repeats)]
        outputs = [json.loads(s.stdout.strip().splitlines()[-1]) for s in samples]
        row = {
            "command": name,
            "wall_s": statistics.median(s.wall for s in samples),
            "query_s": statistics.median(float(o["query_seconds"]) for o in outputs),
            "peak_rss_gb": max(s.rss_kb for s in samples) / 1024**2,
            "found": outputs[-1].get("duplicates", outputs[-1].get("summaries", outputs[-1].get("rows"))),
        }
        rows.append(row)
        print(f"| {name} | {row['wall_s']:.2f} | {row['query_s']:.2f} | {row['peak_rss_gb']:.2f} | {row['found']} |",
              flush=True)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dupkey", description=__doc__.split("\n")[0])
    parser.add_argument("extract", type=Path)
    parser.add_argument("method", nargs="?", choices=METHODS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.method:
        print(json.dumps(run_one(args.extract, args.method)))
        return 0
    print(f"{args.extract}: median of {args.repeats} runs, each a separate process")
    print("| command | wall s | query s | peak RSS GB | found |\n|---|---|---|---|---|")
    compare(args.extract, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
