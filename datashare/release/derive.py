"""Per-student, per-school summaries of the school year, derived once for every partner.

Daily attendance is the big table (one row per student per school day: 180 million rows
for a million students). It is scanned once, lazily, with the streaming engine, into one
row per student and school; discipline and grades likewise. Every partner's release is
then made of joins on these small frames, so adding partners adds no pass over the
extract.

The population of a school is its enrollments that overlap the school year: a student
enrolled twice at one school counts once there. Every enrolled student gets a summary row
(zero days, zero incidents, not graded when the other tables hold nothing for them).

In the calendar form (a ``calendar`` table, CONTRACT section 1) attendance holds the
exceptions only. A student's enrolled days are then the calendar days of the school inside
their enrollments, counted by interval arithmetic (:func:`membership_days`): a running
count of each school's calendar days, looked up at each enrollment's first and last day.
Nothing is expanded to one row per student per day, and the exception rows are summed in
the same pass as the daily form's rows, so both forms of one district give equal summaries.

A header-only ``attendance`` (daily form), ``discipline`` or ``grades`` table means "not
supplied": :attr:`Summaries.not_supplied` names it, and the metrics drawn from it are
withheld rather than published as zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import datetime as dt

import polars as pl

from datashare.errors import ReleaseError
from datashare.schoolyear import SchoolYear

PRESENT_STATUSES = ("present", "tardy", "early_departure")
"""Attendance statuses that count as a present day (CONTRACT section 1)."""

SUSPENSION_ACTIONS = ("in_school_suspension", "out_of_school_suspension", "expulsion")
"""Discipline actions that count toward ``suspension_rate``."""

CHRONIC_MIN_DAYS = 10
"""Students with fewer enrolled days have no chronic-absence status."""

SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "school_id": pl.String(),
    "student_id": pl.String(),
    "days_enrolled": pl.Int64(),
    "days_present": pl.Int64(),
    "days_absent": pl.Int64(),
    "days_excused": pl.Int64(),
    "days_unexcused": pl.Int64(),
    "attendance_rate": pl.Float64(),
    "chronically_absent": pl.Boolean(),
    "incidents": pl.Int64(),
    "suspended": pl.Boolean(),
    "days_removed": pl.Float64(),
    "grade_points_weighted": pl.Float64(),
    "credits_attempted": pl.Float64(),
    "gpa": pl.Float64(),
    "graded": pl.Boolean(),
    "failed": pl.Boolean(),
}
"""Columns of :attr:`Summaries.student_school`, one row per enrolled student and school."""


@dataclass(frozen=True)
class Summaries:
    """What every partner's release is computed from; all small, all collected.

    ``enrolled``: distinct (``school_id``, ``student_id``) enrolled in the school year.
    ``student_school``: one row per enrolled pair with the columns of :data:`SUMMARY_SCHEMA`.
    """

    enrolled: pl.DataFrame
    student_school: pl.DataFrame
    not_supplied: frozenset[str] = frozenset()
    """Tables supplied header-only (``attendance`` in the daily form, ``discipline``, ``grades``)."""


def _in_year(column: str, school_year: SchoolYear) -> pl.Expr:
    return pl.col(column).is_between(school_year.start, school_year.end, closed="both")


def enrolled_pairs(enrollments: pl.LazyFrame, school_year: SchoolYear) -> pl.LazyFrame:
    """Distinct (school_id, student_id) with an enrollment overlapping the school year."""
    overlaps = (pl.col("entry_date") <= school_year.end) & (
        pl.col("exit_date").is_null() | (pl.col("exit_date") >= school_year.start)
    )
    return enrollments.filter(overlaps).select("school_id", "student_id").unique()


ATTENDANCE_SUMMARY = "attendance_summary"
"""Key under which ``tables`` may carry the attendance summary already computed (see
:func:`attendance_riders`), e.g. by the validator's own pass over attendance."""


def attendance_aggregations() -> list[pl.Expr]:
    """Day counts of one student at one school, as aggregations over their attendance rows,
    present days counted row by row (the extract need not be valid)."""
    present = pl.col("status").is_in(PRESENT_STATUSES).sum().cast(pl.Int64).alias("days_present")
    return [*attendance_riders(), present]


def attendance_riders() -> list[pl.Expr]:
    """The day counts the extract validator sums in the grouped pass it makes anyway
    (``load_extract(riders=...)``), so that daily attendance is scanned once per run;
    :func:`summary_of_riders` turns them into the attendance summary.

    The present days are not counted row by row: in a valid extract every status is one of
    the schema's values (a missing or unknown one is an error, and the sums of an invalid
    extract are never used), so they are the enrolled days less the absences. Testing
    each of 173 M rows against the three present statuses cost about 1 s at a million
    students.
    """
    status = pl.col("status")
    return [
        pl.len().cast(pl.Int64).alias("days_enrolled"),
        (status == "excused_absence").sum().cast(pl.Int64).alias("days_excused"),
        (status == "unexcused_absence").sum().cast(pl.Int64).alias("days_unexcused"),
    ]


def summary_of_riders(sums: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The attendance summary (what :func:`attendance_summary` computes) from the sums of
    :func:`attendance_riders` over a *valid* extract."""
    present = pl.col("days_enrolled") - pl.col("days_excused") - pl.col("days_unexcused")
    return sums.lazy().with_columns(present.alias("days_present"))


def attendance_summary(attendance: pl.LazyFrame, school_year: SchoolYear) -> pl.LazyFrame:
    """Day counts per student and school: one streaming pass over daily attendance."""
    return (
        attendance.filter(_in_year("date", school_year))
        .group_by("school_id", "student_id")
        .agg(attendance_aggregations())
    )


CALENDAR = "calendar"
"""The optional table that switches attendance to the calendar form."""


def membership_days(calendar: pl.LazyFrame, enrollments: pl.LazyFrame, school_year: SchoolYear) -> pl.LazyFrame:
    """Membership days per (school_id, student_id): calendar days inside the enrollments.

    Interval arithmetic, never one row per day: each school's calendar days get their
    running count; an enrollment from ``entry`` to ``exit`` (null: the end of the school
    year), clipped to the year, holds count(days <= exit) - count(days < entry) of them.
    The two counts are as-of joins on the small calendar. Enrollments of one student at one
    school do not overlap in a valid extract, so their days add up.
    """
    days = (
        calendar.filter(_in_year("date", school_year))
        .select("school_id", "date")
        .unique()
        .sort("school_id", "date")
        .with_columns(__upto=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("school_id"))
        .sort("date")
    )
    spans = enrollments.select(
        "school_id",
        "student_id",
        (pl.max_horizontal(pl.col("entry_date"), pl.lit(school_year.start)) - dt.timedelta(days=1)).alias("__before"),
        pl.min_horizontal(pl.col("exit_date").fill_null(school_year.end), pl.lit(school_year.end)).alias("__last"),
    ).filter(pl.col("__before").is_not_null() & pl.col("__last").is_not_null())

    def count_upto(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
        ranks = days.rename({"date": column, "__upto": f"{column}_n"})
        return (
            frame.sort(column)
            .join_asof(ranks, on=column, by="school_id", strategy="backward", check_sortedness=False)
            .with_columns(pl.col(f"{column}_n").fill_null(0))
        )

    counted = count_upto(count_upto(spans, "__last"), "__before")
    return counted.group_by("school_id", "student_id").agg(
        (pl.col("__last_n") - pl.col("__before_n")).clip(lower_bound=0).sum().cast(pl.Int64).alias("__membership")
    )


def discipline_summary(discipline: pl.LazyFrame, school_year: SchoolYear) -> pl.LazyFrame:
    """Incidents (distinct ids), any suspension, days removed, per student and school."""
    return (
        discipline.filter(_in_year("incident_date", school_year))
        .group_by("school_id", "student_id")
        .agg(
            incidents=pl.col("incident_id").n_unique().cast(pl.Int64),
            suspended=pl.col("action").is_in(SUSPENSION_ACTIONS).any(),
            days_removed=pl.col("days_removed").sum().cast(pl.Float64),
        )
    )


def grades_summary(grades: pl.LazyFrame, school_year: SchoolYear) -> pl.LazyFrame:
    """Credit-weighted grade points, credits, graded and failed flags per student and school."""
    return (
        grades.filter(pl.col("school_year") == school_year.label)
        .group_by("school_id", "student_id")
        .agg(
            grade_points_weighted=(pl.col("grade_points") * pl.col("credits_attempted")).sum(),
            credits_attempted=pl.col("credits_attempted").sum(),
            failed=(pl.col("grade_points") == 0).any(),
        )
        .with_columns(graded=pl.lit(True))
    )


def derive(tables: Mapping[str, pl.LazyFrame], school_year: SchoolYear) -> Summaries:
    """Summarize the extract once; see :data:`SUMMARY_SCHEMA` for the columns.

    ``tables`` holds typed LazyFrames (``enrollments``, ``attendance``, ``discipline``,
    ``grades``) as produced by the extract reader, and optionally
    :data:`ATTENDANCE_SUMMARY`: the attendance summary already computed for a validated
    extract (then attendance itself is not read again).
    """
    enrolled_lf = enrolled_pairs(tables["enrollments"], school_year)
    # A validated extract has every attendance day inside the school year, so the summary
    # the validator computed in its own pass equals a fresh one; reuse it when given.
    attendance_lf = (
        tables[ATTENDANCE_SUMMARY]
        if ATTENDANCE_SUMMARY in tables
        else attendance_summary(tables["attendance"], school_year)
    )
    calendar_form = CALENDAR in tables
    keys = ["school_id", "student_id"]
    membership_lf = (
        membership_days(tables[CALENDAR], tables["enrollments"], school_year)
        if calendar_form
        else pl.LazyFrame(schema={"school_id": pl.String, "student_id": pl.String, "__membership": pl.Int64})
    )
    rows_lf = pl.concat(
        [tables[name].select(pl.len().alias(name)) for name in ("attendance", "discipline", "grades")],
        how="horizontal",
    )
    enrolled, attendance, discipline, grades, membership, rows = pl.collect_all(
        [
            enrolled_lf,
            attendance_lf,
            discipline_summary(tables["discipline"], school_year),
            grades_summary(tables["grades"], school_year),
            membership_lf,
            rows_lf,
        ],
        engine="streaming",
    )
    _refuse_overflow(grades)
    empty = {name for name in rows.columns if rows[name][0] == 0}
    not_supplied = frozenset(empty - {"attendance"} if calendar_form else empty)
    days = ("days_enrolled", "days_present", "days_excused", "days_unexcused")
    if calendar_form:
        # Exceptions only: a membership day without a row is present.
        absent = pl.col("days_excused") + pl.col("days_unexcused")
        attendance = (
            membership.lazy()
            .join(attendance.lazy().select(*keys, "days_excused", "days_unexcused"), on=keys, how="left")
            .select(
                *keys,
                pl.col("__membership").alias("days_enrolled"),
                (pl.col("__membership") - absent.fill_null(0)).alias("days_present"),
                pl.col("days_excused").fill_null(0),
                pl.col("days_unexcused").fill_null(0),
            )
            .collect()
        )
    summary = (
        enrolled.lazy()
        .join(attendance.lazy(), on=keys, how="left")
        .join(discipline.lazy(), on=keys, how="left")
        .join(grades.lazy(), on=keys, how="left")
        .with_columns(
            *(pl.col(name).fill_null(0) for name in days),
            incidents=pl.col("incidents").fill_null(0),
            suspended=pl.col("suspended").fill_null(False),
            days_removed=pl.col("days_removed").fill_null(0.0),
            grade_points_weighted=pl.col("grade_points_weighted").fill_null(0.0),
            credits_attempted=pl.col("credits_attempted").fill_null(0.0),
            graded=pl.col("graded").fill_null(False),
        )
        .with_columns(student_columns())
        .select([pl.col(name).cast(dtype) for name, dtype in SUMMARY_SCHEMA.items()])
        .sort(keys)
        .collect()
    )
    return Summaries(enrolled=enrolled.sort(keys), student_school=summary, not_supplied=not_supplied)


def _refuse_overflow(grades: pl.DataFrame) -> None:
    """Refuse grades whose finite cells add up past what a float holds (two courses of 1e308
    credits): a mean GPA of infinity is no figure to publish or suppress."""
    sums = ("grade_points_weighted", "credits_attempted")
    if grades.height and not grades.select(pl.all_horizontal(pl.col(sums).is_finite().all())).item():
        raise ReleaseError(
            "grades: the credits_attempted (times grade_points) of one student at one school add up past "
            "what a 64-bit number holds; credits_attempted must be the credits of a course, not a value like 1e308"
        )


def student_columns() -> list[pl.Expr]:
    """Per-student derived figures from the summed counts (shared with the ``ALL`` pooling).

    ``attendance_rate`` is null without enrolled days; ``chronically_absent`` is null below
    :data:`CHRONIC_MIN_DAYS` enrolled days and compares exactly (``10 * absent >=
    enrolled``); ``gpa`` is null without attempted credits; ``failed`` is null when the
    student has no grades.
    """
    enrolled = pl.col("days_enrolled")
    absent = pl.col("days_excused") + pl.col("days_unexcused")
    credits = pl.col("credits_attempted")
    return [
        absent.alias("days_absent"),
        pl.when(enrolled > 0).then(pl.col("days_present") / enrolled).alias("attendance_rate"),
        pl.when(enrolled >= CHRONIC_MIN_DAYS).then(10 * absent >= enrolled).alias("chronically_absent"),
        pl.when(credits > 0).then(pl.col("grade_points_weighted") / credits).alias("gpa"),
        pl.when(pl.col("graded")).then(pl.col("failed").fill_null(False)).alias("failed"),
    ]
