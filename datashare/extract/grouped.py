"""The grouped pass of a table whose key ends in a date (attendance, enrollments, the
calendar): rows and distinct days per group of the other key columns, by day masks, in one
pass or in ranges of students (a shuffled big table).

The pass itself is :meth:`datashare.extract.tableread.TableRead.group_stats`; this module
holds the query and the choice of ranges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from datashare.extract.cross import day_bits

PASS_ROWS = 50_000_000
"""Rows per grouped pass over a table not clustered by student. A hash group-by of shuffled
rows holds nearly all of them until it ends (10 GB for a million students' daily
attendance), so such a table is grouped in ranges of student_id, one pass each: each pass
reads the file again but holds only its range. A file whose row groups hold disjoint ranges
of students (sorted) is grouped in one pass: its groups end as they are read."""


def student_splits(reads: Mapping[str, Any], read: Any) -> list[str]:
    """The student_ids cutting ``read``'s grouped pass into ranges of about equal size (none
    for a table under :data:`PASS_ROWS` rows, clustered by student, or not grouped by
    student first)."""
    students = reads["students"]
    parts = (read.rows or 0) // PASS_ROWS + 1
    if parts < 2 or read.lead[:1] != ["student_id"] or not students.usable("student_id") or clustered(read):
        return []
    ids = students.typed().select(pl.col("student_id").drop_nulls().unique().sort()).collect()["student_id"]
    return sorted({ids[len(ids) * i // parts] for i in range(1, parts)}) if len(ids) else []


def clustered(read: Any) -> bool:
    """Whether the table's Parquet file (or staged copy) has row groups holding disjoint
    ranges of student_id, by the statistics in its footer (no data is read)."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - only for a big table; keeps startup light

    assert read.file is not None
    path = read.staged or (read.file.path if read.file.format == "parquet" else None)
    if path is None:
        return False
    try:
        meta = pq.ParquetFile(path).metadata
        column = meta.schema.names.index("student_id")
    except (OSError, ValueError):  # the grouped pass reports what is wrong with the file
        return False
    ranges = []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return False
        ranges.append((stats.min, stats.max))
    ranges.sort()
    return all(before[1] <= after[0] for before, after in zip(ranges, ranges[1:]))


def key_ranges(col: pl.Expr, splits: Sequence[str]) -> list[pl.Expr]:
    """Filters cutting ``col`` at ``splits`` (sorted): every row, a null too, is in exactly one."""
    if not splits:
        return [pl.lit(True)]
    edges = [None, *splits, None]
    ranges = []
    for lo, hi in zip(edges, edges[1:]):
        if lo is None:
            ranges.append((col < hi) | col.is_null())
        elif hi is None:
            ranges.append(col >= lo)
        else:
            ranges.append((col >= lo) & (col < hi))
    return ranges


def distinct_days(
    lf: pl.LazyFrame,
    lead: list[str],
    day: str,
    bounds: list[pl.Expr],
    riders: Sequence[pl.Expr],
    masks: pl.LazyFrame | None = None,
    enrolled: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """Rows and distinct days per group, without a hash set per group.

    Counting distinct dates with ``n_unique`` keeps a set per (student, school): about
    10 GB for a million students' daily attendance. Instead each day sets one bit of a
    512-bit mask (days since 1970 modulo 512: the days of one school year never share a
    bit), grouped first by the mask's 64-bit word and then by the group. A repeated day
    always leaves fewer bits than rows, so no duplicate is missed; days outside the year
    may share a bit and make a group a suspect, which the exact check then clears. Riders
    must be sums or counts, since they are added up across a group's words.

    ``masks`` (``__word``, ``__allowed`` and optionally ``school_id``) give the allowed days;
    a group with a day outside them gets ``__off`` true: the calendar form's
    ``outside_calendar`` and the daily form's weekend days, found in this same pass.
    ``enrolled`` (the lead columns, ``__word``, ``__enrolled``) gives the enrolled days of the
    groups with several enrollments: such a group gets ``__several`` true, and ``__stray``
    true when it has a day outside them.
    """
    words = lf.with_columns(day_bits(day))
    names = [r.meta.output_name() for r in riders]
    per_word = words.group_by(*lead, "__word").agg(
        pl.len().alias("__n"),
        pl.col("__bit").bitwise_or().alias("__bits"),
        *bounds,
        *riders,
    )
    off: list[pl.Expr] = []
    if masks is not None:
        on = [c for c in masks.collect_schema().names() if c != "__allowed"]
        per_word = per_word.join(masks, on=on, how="left").with_columns(
            __off=(pl.col("__bits") & ~pl.col("__allowed").fill_null(0)) != 0
        )
        off = [pl.col("__off").any()]
    if enrolled is not None:
        per_word = per_word.join(enrolled.lazy(), on=[*lead, "__word"], how="left").with_columns(
            __several=pl.col("__enrolled").is_not_null(),
            __stray=(pl.col("__bits") & ~pl.col("__enrolled").fill_null(0)) != 0,
        )
        off += [pl.col("__several").any(), pl.col("__stray").any()]
    return per_word.group_by(lead).agg(
        pl.col("__n").sum(),
        pl.col("__bits").bitwise_count_ones().sum().cast(pl.UInt32).alias("__u"),
        *[pl.col(b.meta.output_name()).min() for b in bounds if b.meta.output_name().startswith("__first_")],
        *[pl.col(b.meta.output_name()).max() for b in bounds if b.meta.output_name().startswith("__last_")],
        *[pl.col(name).sum() for name in names],
        *off,
    )
