"""Disclosure control of the aggregate comparison (CONTRACT sections 3 and 5).

Applied in this order to the exact cells of :mod:`datashare.release.metrics`, one
metric at a time (each metric has its own denominators):

1. **Primary** (``suppressed:small_cell``): a group (served or comparison) of fewer than
   ``min_cell_size`` distinct students.
2. **Differencing** (``suppressed:differencing``), for agreements with an ``individual``
   section: a served group whose students not released individually number 1 to
   ``min_cell_size - 1``; the partner could subtract the released records and learn them.
3. **Complementary** (``suppressed:complementary``): the other group of a row with a
   suppressed group, so that neither can be recovered from the school's total.
4. **Secondary** (``suppressed:secondary``): where a metric's ``ALL`` row is published
   and exactly one school's withheld group (served or comparison: suppressed, or coded,
   since a coded share must not be recoverable either) holds students, the published
   school with the smallest served ``n`` (then the smallest ``school_id``) is suppressed
   too; when no published school is left the ``ALL`` row is suppressed instead. Likewise
   where the ``ALL`` row's group is coded and no school's group on that side is withheld
   (the schools would add up to it). Repeated to a fixed point, and only after the
   earlier steps, so totals are checked against what is actually published. A withheld
   group of zero students hides nothing and so does not count as cover.
   The exact audit of everything the partner holds (:mod:`datashare.release.holdings`)
   runs after this step and may suppress more (``suppressed:holdings``, or
   ``suppressed:secondary`` for a table's own residue); this step is re-run after it.
5. **Extreme-share coding** (``coded:extreme_share``) of the published share metrics:
   with ``X = max(5, ceil(100 / n))`` percent, a share at or below X% is shown as
   ``<=X%`` and one at or above (100 - X)% as ``>=(100-X)%``; the coded range always
   holds at least 0 and 1 student.

A suppressed group has its value **and its n** nulled (a published n next to a school's
known enrollment would give the other group's n away), and ``_display`` reads
``suppressed``. A coded group keeps its n; its value is null and ``_display`` holds the
range. ``difference`` is served minus comparison of the rounded values, null whenever
either is withheld. ``note`` lists the reason of each withheld group, e.g.
``served suppressed:small_cell; comparison suppressed:complementary``.

Rounding: the proportions (``attendance_rate`` and the three shares) to 3 decimals,
the means (``incidents_per_student``, ``mean_gpa``) to 2, half away from zero.
"""

from __future__ import annotations

import polars as pl

from datashare.agreement.model import SHARE_METRICS
from datashare.release.metrics import ALL_SCHOOLS
from datashare.release.types import AGREEMENT_INDEX

SMALL_CELL = "suppressed:small_cell"
DIFFERENCING = "suppressed:differencing"
COMPLEMENTARY = "suppressed:complementary"
SECONDARY = "suppressed:secondary"
HOLDINGS = "suppressed:holdings"
EXTREME_SHARE = "coded:extreme_share"
REASONS: tuple[str, ...] = (SMALL_CELL, DIFFERENCING, COMPLEMENTARY, SECONDARY, HOLDINGS, EXTREME_SHARE)
"""Every reason code, in the order a summary lists them."""

SUPPRESSED_DISPLAY = "suppressed"
MEAN_METRICS = frozenset({"incidents_per_student", "mean_gpa"})
"""Metrics rounded to 2 decimals; every other metric is a proportion, rounded to 3."""

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "school_id": pl.String(),
    "school_name": pl.String(),
    "metric": pl.String(),
    "served_n": pl.Int64(),
    "served_value": pl.Float64(),
    "served_display": pl.String(),
    "comparison_n": pl.Int64(),
    "comparison_value": pl.Float64(),
    "comparison_display": pl.String(),
    "difference": pl.Float64(),
    "suppressed": pl.Boolean(),
    "note": pl.String(),
}
"""Columns of ``aggregate_comparison`` (CONTRACT section 5), in order."""

SIDES = ("served", "comparison")


def apply_disclosure_control(
    cells: pl.DataFrame, min_cell_size: int, *, differencing: bool
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The publishable ``aggregate_comparison`` (:data:`OUTPUT_SCHEMA`) and counts by reason.

    ``cells`` has the columns of :data:`datashare.release.metrics.CELLS_SCHEMA`; row
    order is kept. ``differencing`` is true for agreements with an ``individual`` section.
    """
    batch = cells.with_columns(
        pl.lit(0, dtype=pl.UInt32).alias(AGREEMENT_INDEX),
        min_cell_size=pl.lit(min_cell_size, dtype=pl.Int64),
        differencing=pl.lit(differencing),
    )
    table = disclose(batch)
    return table.select(list(OUTPUT_SCHEMA)), reason_counts(table).get(0, dict.fromkeys(REASONS, 0))


def disclose(cells: pl.DataFrame) -> pl.DataFrame:
    """Disclosure control of many agreements' cells at once, each on its own rows.

    ``cells``: :data:`~datashare.release.metrics.CELLS_SCHEMA` plus ``agreement_index``
    and the agreement's ``min_cell_size`` and ``differencing`` on every row. Returns the
    :data:`OUTPUT_SCHEMA` columns plus ``agreement_index``, ``served_reason`` and
    ``comparison_reason``, in the order of ``cells``. Every step is row-wise or grouped by
    agreement, so an agreement's rows come out as if it were alone.
    """
    return finish(suppress(cells))


def finish(table: pl.DataFrame) -> pl.DataFrame:
    """The published columns of a :func:`suppress` result (step 5 applied)."""
    return _values(table).select(
        AGREEMENT_INDEX,
        *(pl.col(name).cast(dtype) for name, dtype in OUTPUT_SCHEMA.items()),
        *(f"{side}_reason" for side in SIDES),
    )


def reason_counts(table: pl.DataFrame) -> dict[int, dict[str, int]]:
    """``agreement_index`` -> withheld or coded groups by reason, for a :func:`disclose` result."""
    counts = table.group_by(AGREEMENT_INDEX).agg(
        *(
            pl.sum_horizontal((pl.col(f"{side}_reason") == reason).sum() for side in SIDES).alias(reason)
            for reason in REASONS
        )
    )
    return {row[AGREEMENT_INDEX]: {r: int(row[r]) for r in REASONS} for row in counts.iter_rows(named=True)}


def suppress(cells: pl.DataFrame) -> pl.DataFrame:
    """Add ``served_reason``, ``comparison_reason`` and ``suppressed`` (steps 1 to 4).

    ``cells`` as for :func:`disclose`.
    """
    m = pl.col("min_cell_size")
    unreleased = pl.col("served_n") - pl.col("served_released_n")
    served = (
        pl.when(pl.col("served_n") < m)
        .then(pl.lit(SMALL_CELL))
        .when(pl.col("differencing") & (unreleased >= 1) & (unreleased < m))
        .then(pl.lit(DIFFERENCING))
    )
    comparison = pl.when(pl.col("comparison_n") < m).then(pl.lit(SMALL_CELL))
    table = cells.with_columns(served_reason=served, comparison_reason=comparison).with_columns(
        served_reason=pl.coalesce(
            "served_reason",
            pl.when(pl.col("comparison_reason").is_not_null()).then(pl.lit(COMPLEMENTARY)),
        ),
        comparison_reason=pl.coalesce(
            "comparison_reason",
            pl.when(pl.col("served_reason").is_not_null()).then(pl.lit(COMPLEMENTARY)),
        ),
    )
    table = table.with_columns(
        pl.col("served_reason", "comparison_reason").cast(pl.String),
        suppressed=pl.col("served_reason").is_not_null(),
    )
    return secondary(table)


def suppress_more(table: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:
    """Suppress the rows ``targets`` names (``agreement_index``, ``school_id``, ``metric``,
    ``reason``) on both sides, then re-run secondary suppression to a fixed point."""
    cell = pl.struct(AGREEMENT_INDEX, "school_id", "metric")
    reason = cell.replace_strict(
        targets.select(cell).to_series(), targets.get_column("reason"), default=None, return_dtype=pl.String
    )
    table = table.with_columns(
        served_reason=pl.when(pl.col("suppressed")).then("served_reason").otherwise(reason),
        comparison_reason=pl.when(pl.col("suppressed")).then("comparison_reason").otherwise(reason),
    ).with_columns(suppressed=pl.col("suppressed") | reason.is_not_null())
    return secondary(table)


def secondary(table: pl.DataFrame) -> pl.DataFrame:
    """Step 4 to a fixed point on a table with ``*_reason`` and ``suppressed``."""
    cell = pl.struct(AGREEMENT_INDEX, "school_id", "metric")
    while (more := _secondary_targets(table)).height:
        hit = cell.is_in(more.select(cell).to_series().implode())
        table = table.with_columns(
            served_reason=pl.when(hit).then(pl.lit(SECONDARY)).otherwise("served_reason"),
            comparison_reason=pl.when(hit).then(pl.lit(SECONDARY)).otherwise("comparison_reason"),
            suppressed=pl.col("suppressed") | hit,
        )
    return table


def coded(side: str) -> pl.Expr:
    """Whether ``side``'s group is published as an extreme-share range (step 5's rule)."""
    n, total = pl.col(f"{side}_n"), pl.col(f"{side}_total")
    x = pl.max_horizontal(pl.lit(5), (100 + n - 1) // n)
    count = total.round(0).cast(pl.Int64)
    low = 100 * count <= x * n
    high = 100 * count >= (100 - x) * n
    return (
        pl.col("metric").is_in(sorted(SHARE_METRICS))
        & pl.col(f"{side}_reason").is_null()
        & (n > 0)
        & (low | high)
    ).fill_null(False)


def _secondary_targets(table: pl.DataFrame) -> pl.DataFrame:
    """(agreement_index, school_id, metric) rows to suppress next so that no lone
    suppressed group is exposed.

    A metric needs one more suppression when its ``ALL`` row is published and, on either
    side, exactly one school row is suppressed with students, or none is while a school's
    group or the ``ALL`` group is coded. The target is a published school, coded ones first
    (they lose least), then the smallest served ``n``. One target per agreement and metric
    per round.
    """
    by = [AGREEMENT_INDEX, "metric"]
    is_all = pl.col("school_id") == ALL_SCHOOLS
    table = table.with_columns(*(coded(side).alias(f"{side}_coded") for side in SIDES))
    schools = table.filter(~is_all)
    totals = table.filter(is_all & ~pl.col("suppressed")).select(
        *by, *(pl.col(f"{side}_coded").alias(f"all_{side}_coded") for side in SIDES)
    )
    # Only a suppressed group is cover: a coded range can be narrowed by others. A coded
    # group (or a coded ALL) next to no suppressed group would be exact by subtraction.
    counts = {}
    for side in SIDES:
        holds = pl.col(f"{side}_n") > 0
        counts[side] = (pl.col("suppressed") & holds).sum()
        counts[f"{side}_coded"] = (~pl.col("suppressed") & pl.col(f"{side}_coded") & holds).sum()
    exposed = (
        schools.group_by(by)
        .agg(**counts)
        .join(totals, on=by, how="inner")
        .filter(
            pl.any_horizontal(
                (pl.col(side) == 1)
                | ((pl.col(side) == 0) & ((pl.col(f"{side}_coded") > 0) | pl.col(f"all_{side}_coded")))
                for side in SIDES
            )
        )
        .select(by)
    )
    if exposed.height == 0:
        return pl.DataFrame(schema={AGREEMENT_INDEX: pl.UInt32, "school_id": pl.String, "metric": pl.String})
    candidates = (
        schools.filter(~pl.col("suppressed"))
        .join(exposed, on=by, how="semi")
        .with_columns(plain=~(pl.col("served_coded") | pl.col("comparison_coded")))
        .sort(*by, "plain", "served_n", "school_id")
        .group_by(by, maintain_order=True)
        .first()
        .select(AGREEMENT_INDEX, "school_id", "metric")
    )
    fallback = exposed.join(candidates, on=by, how="anti").select(
        AGREEMENT_INDEX, school_id=pl.lit(ALL_SCHOOLS), metric="metric"
    )
    return pl.concat([candidates, fallback]).sort(*by, "school_id")


def _values(table: pl.DataFrame) -> pl.DataFrame:
    """Rounded values, extreme-share coding, displays, difference and note (step 5)."""
    decimals = pl.when(pl.col("metric").is_in(sorted(MEAN_METRICS))).then(2).otherwise(3)
    exprs: list[pl.Expr] = []
    for side in SIDES:
        n, total, reason = pl.col(f"{side}_n"), pl.col(f"{side}_total"), pl.col(f"{side}_reason")
        x = pl.max_horizontal(pl.lit(5), (100 + n - 1) // n)
        low = 100 * total.round(0).cast(pl.Int64) <= x * n
        is_coded = coded(side)
        exprs += [
            pl.when(reason.is_null()).then(n).alias(f"{side}_n"),
            pl.when(reason.is_null() & ~is_coded & (n > 0))
            .then(_round(total / n, decimals))
            .alias(f"{side}_value"),
            pl.when(reason.is_not_null())
            .then(pl.lit(SUPPRESSED_DISPLAY))
            .when(is_coded & low)
            .then(pl.format("<={}%", x))
            .when(is_coded)
            .then(pl.format(">={}%", 100 - x))
            .alias(f"{side}_display"),
            pl.when(is_coded).then(pl.lit(EXTREME_SHARE)).otherwise(reason).alias(f"{side}_reason"),
        ]
    table = table.with_columns(decimals=decimals).with_columns(exprs)
    notes = [
        pl.when(pl.col(f"{side}_reason").is_not_null()).then(
            pl.format("{} {}", pl.lit(side), pl.col(f"{side}_reason"))
        )
        for side in SIDES
    ]
    return table.with_columns(
        *(
            pl.coalesce(f"{side}_display", _fixed(pl.col(f"{side}_value"), pl.col("decimals"))).alias(
                f"{side}_display"
            )
            for side in SIDES
        ),
        difference=_round(pl.col("served_value") - pl.col("comparison_value"), pl.col("decimals")),
        note=pl.concat_str(notes, separator="; ", ignore_nulls=True).replace("", None),
    )


def _round(value: pl.Expr, decimals: pl.Expr) -> pl.Expr:
    """Round half away from zero to 2 or 3 decimals (chosen per row)."""
    return (
        pl.when(decimals == 2)
        .then(value.round(2, mode="half_away_from_zero"))
        .otherwise(value.round(3, mode="half_away_from_zero"))
    )


def _fixed(value: pl.Expr, decimals: pl.Expr) -> pl.Expr:
    """A non-negative value as text with exactly ``decimals`` digits after the point."""
    scale = pl.when(decimals == 2).then(100).otherwise(1000)
    scaled = (value * scale).round(0).cast(pl.Int64)
    fraction = (scaled % scale).cast(pl.String).str.zfill(decimals)
    return pl.format("{}.{}", scaled // scale, fraction)
