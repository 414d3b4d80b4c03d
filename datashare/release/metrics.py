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
(:func:`covered_units`); an agreement picks out its served students by binary search and
takes the comparison group as the totals less the served sums. Sums are taken in fixed
point (:data:`SCALE`), so the subtraction is exact and each total is the exact sum of the
per-student values, rounded once, whatever the order of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from datashare.agreement.model import METRICS
from datashare.release.derive import student_columns

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


def students_rows(frame: pl.DataFrame, student_ids: pl.Series) -> pl.DataFrame:
    """The rows of ``frame`` (sorted by ``student_id``) of the students given, in that order.

    A binary search per student, so picking a partner's few thousand students out of a
    district of a million costs in proportion to the few thousand, not to the million.
    """
    ids = student_ids.unique().sort()
    column = frame.get_column("student_id")
    bounds = pl.DataFrame(
        {"lo": column.search_sorted(ids, side="left"), "hi": column.search_sorted(ids, side="right")}
    )
    index = bounds.select(pl.int_ranges("lo", "hi").explode()).to_series().drop_nulls()
    return frame[index]


def among(sorted_ids: pl.Series, student_ids: pl.Series) -> pl.Series:
    """Whether each of ``student_ids`` is in ``sorted_ids`` (sorted, distinct), by binary search."""
    if sorted_ids.len() == 0:
        return pl.Series(student_ids.name, [False] * student_ids.len(), dtype=pl.Boolean)
    where = sorted_ids.search_sorted(student_ids, side="left").clip(upper_bound=sorted_ids.len() - 1)
    return (sorted_ids.gather(where) == student_ids).fill_null(False)


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


def _sums(units: pl.LazyFrame, metrics: Sequence[str]) -> pl.LazyFrame:
    """Per (school_id, metric): ``n``, exact ``total`` (fixed point) and ``released_n``."""
    parts = [
        units.filter(METRIC_DEFINITIONS[metric][0])
        .group_by("school_id")
        .agg(
            metric=pl.lit(metric),
            n=pl.len().cast(pl.Int64),
            total=_fixed(METRIC_DEFINITIONS[metric][1]).sum().cast(pl.Int128),
            released_n=pl.col("released").sum().cast(pl.Int64),
        )
        for metric in metrics
    ]
    return pl.concat(parts).select("school_id", "metric", "n", "total", "released_n")


@dataclass(frozen=True)
class CoveredUnits:
    """What every agreement covering the same schools shares, computed once per run.

    ``schools``: the covered schools (``school_id``, ``school_name``, sorted); ``units``:
    their student-school summaries plus one pooled ``ALL`` row per student, sorted by
    ``student_id``; ``totals``: per school (and ``ALL``) and metric, every student's
    ``n`` and exact fixed-point ``total``. An agreement then only sums its served students.
    """

    schools: pl.DataFrame
    units: pl.DataFrame
    totals: pl.DataFrame


def covered_units(student_school: pl.DataFrame, schools: pl.DataFrame) -> CoveredUnits:
    """:class:`CoveredUnits` of ``student_school`` (the covered schools' summaries only)."""
    units = pl.concat([student_school, pool_all(student_school)]).sort("student_id", "school_id")
    totals = _sums(units.lazy().with_columns(released=pl.lit(False)), METRICS).drop("released_n")
    return CoveredUnits(
        schools=schools.select("school_id", "school_name").sort("school_id"),
        units=units,
        totals=totals.collect(),
    )


def comparison_cells(
    covered: CoveredUnits,
    served: pl.DataFrame,
    released: pl.DataFrame,
    metrics: Sequence[str] = METRICS,
) -> pl.DataFrame:
    """Exact served and comparison cells (:data:`CELLS_SCHEMA`) for each school and ``ALL``.

    Every covered school gets a row even when nobody is enrolled; ``served`` and
    ``released`` hold ``student_id`` columns. Only the served students' units are read:
    the comparison group is every student less the served ones.
    """
    mine = students_rows(covered.units, served.get_column("student_id")).lazy().with_columns(
        released=pl.col("student_id").is_in(released.get_column("student_id").implode())
    )
    served_sums = _sums(mine, metrics).select(
        "school_id", "metric", served_n="n", served_fixed="total", served_released_n="released_n"
    )
    names = pl.concat(
        [covered.schools, pl.DataFrame({"school_id": [ALL_SCHOOLS], "school_name": [ALL_SCHOOLS_NAME]})]
    )
    order = pl.DataFrame({"metric": list(metrics), "metric_order": list(range(len(metrics)))})
    grid = names.with_row_index("school_order").lazy().join(order.lazy(), how="cross")
    zero = pl.lit(0, dtype=pl.Int128)
    return (
        grid.join(covered.totals.lazy(), on=["school_id", "metric"], how="left")
        .join(served_sums, on=["school_id", "metric"], how="left")
        .with_columns(
            pl.col("n", "served_n", "served_released_n").fill_null(0),
            pl.col("total", "served_fixed").fill_null(zero),
        )
        .with_columns(
            comparison_n=pl.col("n") - pl.col("served_n"),
            served_total=pl.col("served_fixed").cast(pl.Float64) / SCALE,
            comparison_total=(pl.col("total") - pl.col("served_fixed")).cast(pl.Float64) / SCALE,
        )
        .sort("school_order", "metric_order")
        .select([pl.col(name).cast(dtype) for name, dtype in CELLS_SCHEMA.items()])
        .collect()
    )
