"""Served versus comparison figures per covered school and over all covered schools.

Every metric of CONTRACT section 3 is a mean over students of one per-student value,
restricted to the students the metric is defined for (its denominator ``n``):

==========================  =========================================  ==============================
metric                      per-student value                          students counted (``n``)
==========================  =========================================  ==============================
``attendance_rate``         present days / enrolled days               enrolled days > 0
``chronic_absence_rate``    1 when ``10 * absent >= enrolled``          enrolled days >= 10
``suspension_rate``         1 with any suspension or expulsion         every enrolled student
``incidents_per_student``   distinct incidents                         every enrolled student
``mean_gpa``                grade points weighted by credits attempted credits attempted > 0
``course_failure_rate``     1 with any course at 0 grade points        students with grades
==========================  =========================================  ==============================

Per school, a student enrolled there counts once, in the served group when eligible for
the partner and in the comparison group otherwise. The ``ALL`` row pools each student's
summaries over the covered schools (days, incidents, credits added up; flags any-of), so
its ``n`` also counts distinct students. The frame returned here is exact and unrounded;
:mod:`datashare.release.disclosure` decides what may be shown.

Two hundred agreements must not read a million students two hundred times: the units of a
set of covered schools and every student's totals are computed once
(:func:`covered_units`); the served students of every agreement are joined to their
units at once (:func:`all_cells`), and each comparison group is taken as the totals less
the served sums. Sums are taken in fixed
point (:data:`SCALE`), so the subtraction is exact and each total is the exact sum of the
per-student values, rounded once, whatever the order of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from datashare.agreement.model import METRICS
from datashare.release.derive import student_columns
from datashare.release.types import AGREEMENT_INDEX

ALL_SCHOOLS = "ALL"
"""``school_id`` of the row over every covered school."""

ALL_SCHOOLS_NAME = "All covered schools"

METRIC_DEFINITIONS: dict[str, tuple[pl.Expr, pl.Expr]] = {
    "attendance_rate": (pl.col("days_enrolled") > 0, pl.col("attendance_rate")),
    "chronic_absence_rate": (
        pl.col("chronically_absent").is_not_null(),
        pl.col("chronically_absent").cast(pl.Float64),
    ),
    "suspension_rate": (pl.lit(True), pl.col("suspended").cast(pl.Float64)),
    "incidents_per_student": (pl.lit(True), pl.col("incidents").cast(pl.Float64)),
    "mean_gpa": (pl.col("credits_attempted") > 0, pl.col("gpa")),
    "course_failure_rate": (pl.col("graded"), pl.col("failed").cast(pl.Float64)),
}
"""metric -> (which students count, the per-student value); see the module docstring."""

METRIC_SOURCES: dict[str, str] = {
    "attendance_rate": "attendance",
    "chronic_absence_rate": "attendance",
    "suspension_rate": "discipline",
    "incidents_per_student": "discipline",
    "mean_gpa": "grades",
    "course_failure_rate": "grades",
}
"""The extract table each metric is drawn from (for ``not_supplied``)."""

NOT_SUPPLIED = "not_supplied"
"""``note`` of a metric whose source table was supplied header-only (CONTRACT section 1)."""

CELLS_SCHEMA: dict[str, pl.DataType] = {
    "school_id": pl.String(),
    "school_name": pl.String(),
    "metric": pl.String(),
    "served_n": pl.Int64(),
    "served_total": pl.Float64(),
    "served_released_n": pl.Int64(),
    "comparison_n": pl.Int64(),
    "comparison_total": pl.Float64(),
}
"""Exact cells: ``*_total`` is the sum of the per-student values (the count for a share)."""


def pool_all(student_school: pl.DataFrame) -> pl.DataFrame:
    """One ``ALL`` row per student: their summaries summed over the schools given."""
    summed = ("days_enrolled", "days_present", "days_excused", "days_unexcused", "incidents")
    floats = ("days_removed", "grade_points_weighted", "credits_attempted")
    pooled = (
        student_school.lazy()
        .group_by("student_id")
        .agg(
            *(pl.col(name).sum() for name in summed + floats),
            suspended=pl.col("suspended").any(),
            graded=pl.col("graded").any(),
            failed=pl.col("failed").fill_null(False).any(),
        )
        .with_columns(student_columns())
        .with_columns(school_id=pl.lit(ALL_SCHOOLS))
        .select(student_school.columns)
        .collect()
    )
    return pooled.cast(dict(student_school.schema))


SCALE = 2.0**70
"""Per-student values are summed as integers in units of ``2**-70``.

Integer sums are exact and do not depend on the order of the rows, so the comparison
group's sum can be taken as every student's sum minus the served students' sum, and each
total is the exact sum of the per-student values, rounded once. Counts (shares, incidents)
and every value of at least ``2**-17`` (any attendance rate or grade point average over a
school year) are represented exactly.
"""


def _fixed(value: pl.Expr) -> pl.Expr:
    return (value * SCALE).cast(pl.Int128)


def _sums(units: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """Per ``by`` and metric (``metric_code``, the position in ``METRICS``): ``n``, exact
    ``total`` (fixed point) and ``released_n``."""
    parts = [
        units.filter(METRIC_DEFINITIONS[metric][0])
        .group_by(*by)
        .agg(
            metric_code=pl.lit(code, dtype=pl.UInt8),
            n=pl.len().cast(pl.Int64),
            total=_fixed(METRIC_DEFINITIONS[metric][1]).sum().cast(pl.Int128),
            released_n=pl.col("released").sum().cast(pl.Int64),
        )
        for code, metric in enumerate(METRICS)
    ]
    return pl.concat(parts).select(*by, "metric_code", "n", "total", "released_n")


@dataclass(frozen=True)
class CoveredUnits:
    """What every agreement covering the same schools shares, computed once per run.

    ``schools``: the covered schools (``school_id``, ``school_name``, sorted) and the
    ``ALL`` row, each with its ``school_order``; ``units``: their student-school summaries
    plus one pooled ``ALL`` row per student, with the ``school_order``; ``totals``: per
    school (and ``ALL``) and metric, every student's ``n`` and exact fixed-point
    ``total``. An agreement then only sums its served students.
    """

    schools: pl.DataFrame
    units: pl.DataFrame
    totals: pl.DataFrame


def covered_units(student_school: pl.DataFrame, schools: pl.DataFrame) -> CoveredUnits:
    """:class:`CoveredUnits` of ``student_school`` (the covered schools' summaries only)."""
    names = pl.concat(
        [
            schools.select("school_id", "school_name").sort("school_id"),
            pl.DataFrame({"school_id": [ALL_SCHOOLS], "school_name": [ALL_SCHOOLS_NAME]}),
        ]
    ).with_row_index("school_order")
    order = pl.col("school_id").replace_strict(names.get_column("school_id"), names.get_column("school_order"))
    units = pl.concat([student_school, pool_all(student_school)]).with_columns(school_order=order)
    totals = _sums(units.lazy().with_columns(released=pl.lit(False)), ["school_order"]).drop("released_n")
    return CoveredUnits(schools=names, units=units, totals=totals.collect())


def withhold_not_supplied(table: pl.DataFrame, not_supplied: frozenset[str]) -> pl.DataFrame:
    """Withhold every figure of the metrics drawn from a table supplied header-only.

    An empty discipline table is "not supplied", not "no incidents": its metrics would
    otherwise publish a suspension rate of 0 for every school. ``table`` is a disclosed
    comparison (:func:`~datashare.release.disclosure.disclose`); on those metrics' rows the
    numbers are null, each ``_display`` reads ``not supplied``, ``note`` is
    :data:`NOT_SUPPLIED`, and no suppression reason is counted (nothing was suppressed).
    """
    metrics = sorted(m for m, source in METRIC_SOURCES.items() if source in not_supplied)
    if not metrics:
        return table
    hit = pl.col("metric").is_in(metrics)
    numbers = [c for c in ("served_n", "served_value", "comparison_n", "comparison_value", "difference") if c in table.columns]
    reasons = [c for c in ("served_reason", "comparison_reason") if c in table.columns]
    return table.with_columns(
        *(pl.when(hit).then(None).otherwise(pl.col(c)).alias(c) for c in numbers + reasons),
        *(
            pl.when(hit).then(pl.lit("not supplied")).otherwise(pl.col(c)).alias(c)
            for c in ("served_display", "comparison_display")
        ),
        suppressed=pl.when(hit).then(False).otherwise(pl.col("suppressed")),
        note=pl.when(hit).then(pl.lit(NOT_SUPPLIED)).otherwise(pl.col("note")),
    )


def comparison_cells(
    covered: CoveredUnits,
    served: pl.DataFrame,
    released: pl.DataFrame,
    metrics: Sequence[str] = METRICS,
) -> pl.DataFrame:
    """Exact served and comparison cells (:data:`CELLS_SCHEMA`) for each school and ``ALL``.

    Every covered school gets a row even when nobody is enrolled; ``served`` and
    ``released`` hold ``student_id`` columns. One agreement's :func:`all_cells`.
    """
    ids = released.get_column("student_id").implode()
    batch = served.select("student_id").unique().with_columns(
        pl.lit(0, dtype=pl.UInt32).alias(AGREEMENT_INDEX), released=pl.col("student_id").is_in(ids)
    )
    wanted = pl.DataFrame({AGREEMENT_INDEX: [0] * len(metrics), "metric": list(metrics)}, schema=METRICS_SCHEMA)
    return all_cells(covered, batch, wanted).drop(AGREEMENT_INDEX)


METRICS_SCHEMA = {AGREEMENT_INDEX: pl.UInt32, "metric": pl.String}
"""Columns of the ``metrics`` argument of :func:`all_cells`."""


def all_cells(covered: CoveredUnits, served: pl.DataFrame, metrics: pl.DataFrame) -> pl.DataFrame:
    """The cells of many agreements covering the same schools, in one query.

    ``served``: one row per (``agreement_index``, eligible ``student_id``) with a Boolean
    ``released``; ``metrics``: (``agreement_index``, ``metric``), the metrics each
    agreement publishes, in order. Returns ``agreement_index`` and :data:`CELLS_SCHEMA`,
    sorted by agreement, then school (``ALL`` last), then metric. Only the served students'
    units are read (one join for every agreement): each comparison group is every
    student less that agreement's served ones.
    """
    keys = [AGREEMENT_INDEX, "school_order", "metric_code"]
    mine = served.lazy().join(covered.units.lazy(), on="student_id", how="inner")
    served_sums = _sums(mine, [AGREEMENT_INDEX, "school_order"]).select(
        *keys, served_n="n", served_fixed="total", served_released_n="released_n"
    )
    order = metrics.lazy().with_columns(
        metric_order=pl.int_range(pl.len(), dtype=pl.UInt32).over(AGREEMENT_INDEX),
        metric_code=pl.col("metric").replace_strict(list(METRICS), list(range(len(METRICS))), return_dtype=pl.UInt8),
    )
    grid = order.join(covered.schools.lazy(), how="cross")
    zero = pl.lit(0, dtype=pl.Int128)
    return (
        grid.join(covered.totals.lazy(), on=["school_order", "metric_code"], how="left")
        .join(served_sums, on=keys, how="left")
        .with_columns(
            pl.col("n", "served_n", "served_released_n").fill_null(0),
            pl.col("total", "served_fixed").fill_null(zero),
        )
        .with_columns(
            comparison_n=pl.col("n") - pl.col("served_n"),
            served_total=pl.col("served_fixed").cast(pl.Float64) / SCALE,
            comparison_total=(pl.col("total") - pl.col("served_fixed")).cast(pl.Float64) / SCALE,
        )
        .sort(AGREEMENT_INDEX, "school_order", "metric_order")
        .select(AGREEMENT_INDEX, *(pl.col(name).cast(dtype) for name, dtype in CELLS_SCHEMA.items()))
        .collect()
    )
