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
"""

from __future__ import annotations

from collections.abc import Sequence

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


def comparison_cells(
    student_school: pl.DataFrame,
    schools: pl.DataFrame,
    served: pl.DataFrame,
    released: pl.DataFrame,
    metrics: Sequence[str] = METRICS,
) -> pl.DataFrame:
    """Exact served and comparison cells (:data:`CELLS_SCHEMA`) for each school and ``ALL``.

    ``student_school`` holds the summaries of the covered schools only; ``schools`` the
    covered schools (``school_id``, ``school_name``), each of which gets a row even when
    nobody is enrolled; ``served`` and ``released`` hold ``student_id`` columns.
    """
    units = pl.concat([student_school, pool_all(student_school)]).lazy()
    units = units.with_columns(
        served=pl.col("student_id").is_in(served.get_column("student_id").implode()),
        released=pl.col("student_id").is_in(released.get_column("student_id").implode()),
    )
    long = pl.concat(
        [
            units.filter(METRIC_DEFINITIONS[metric][0]).select(
                "school_id",
                "served",
                "released",
                metric=pl.lit(metric),
                x=METRIC_DEFINITIONS[metric][1],
            )
            for metric in metrics
        ]
    )
    groups = long.group_by("school_id", "metric", "served").agg(
        n=pl.len().cast(pl.Int64),
        total=pl.col("x").sum().cast(pl.Float64),
        released_n=pl.col("released").sum().cast(pl.Int64),
    )
    side = {
        True: groups.filter(pl.col("served")).select(
            "school_id", "metric", served_n="n", served_total="total", served_released_n="released_n"
        ),
        False: groups.filter(~pl.col("served")).select(
            "school_id", "metric", comparison_n="n", comparison_total="total"
        ),
    }
    names = schools.select("school_id", "school_name").sort("school_id")
    names = pl.concat([names, pl.DataFrame({"school_id": [ALL_SCHOOLS], "school_name": [ALL_SCHOOLS_NAME]})])
    order = pl.DataFrame({"metric": list(metrics), "metric_order": list(range(len(metrics)))})
    grid = names.with_row_index("school_order").lazy().join(order.lazy(), how="cross")
    return (
        grid.join(side[True], on=["school_id", "metric"], how="left")
        .join(side[False], on=["school_id", "metric"], how="left")
        .with_columns(
            pl.col("served_n", "served_released_n", "comparison_n").fill_null(0),
            pl.col("served_total", "comparison_total").fill_null(0.0),
        )
        .sort("school_order", "metric_order")
        .select([pl.col(name).cast(dtype) for name, dtype in CELLS_SCHEMA.items()])
        .collect()
    )
