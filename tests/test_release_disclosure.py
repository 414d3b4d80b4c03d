"""Disclosure control: primary, complementary, secondary, differencing, extreme shares."""

from __future__ import annotations

import polars as pl
import pytest

from datashare.release.disclosure import OUTPUT_SCHEMA, apply_disclosure_control
from datashare.release.metrics import CELLS_SCHEMA


def _cells(*rows: tuple) -> pl.DataFrame:
    """Rows of (school_id, metric, served_n, served_total, served_released_n, comparison_n, comparison_total)."""
    return pl.DataFrame(
        [(r[0], f"School {r[0]}", *r[1:]) for r in rows], schema=CELLS_SCHEMA, orient="row"
    )


def _control(cells: pl.DataFrame, m: int = 10, differencing: bool = False) -> tuple[pl.DataFrame, dict]:
    return apply_disclosure_control(cells, m, differencing=differencing)


def _row(table: pl.DataFrame, school: str, metric: str = "incidents_per_student") -> dict:
    return table.filter((pl.col("school_id") == school) & (pl.col("metric") == metric)).row(0, named=True)


M = "incidents_per_student"


def test_output_columns_and_types():
    table, summary = _control(_cells(("A", M, 20, 10.0, 0, 30, 3.0)))
    assert table.schema == pl.Schema(OUTPUT_SCHEMA)
    assert set(summary) == {
        "suppressed:small_cell", "suppressed:differencing", "suppressed:complementary",
        "suppressed:secondary", "suppressed:holdings", "coded:extreme_share",
    }


def test_published_row_rounding_and_difference():
    table, summary = _control(_cells(("A", M, 20, 10.0, 0, 30, 3.0), ("A", "attendance_rate", 30, 10.0, 0, 30, 20.0)))
    row = _row(table, "A")
    assert (row["served_n"], row["served_value"], row["served_display"]) == (20, 0.5, "0.50")
    assert (row["comparison_value"], row["comparison_display"], row["difference"]) == (0.1, "0.10", 0.4)
    assert (row["suppressed"], row["note"]) == (False, None)
    rate = _row(table, "A", "attendance_rate")
    assert (rate["served_value"], rate["served_display"], rate["comparison_display"]) == (0.333, "0.333", "0.667")
    assert rate["difference"] == -0.334
    assert sum(summary.values()) == 0


def test_primary_and_complementary_suppression_null_the_n():
    table, summary = _control(_cells(("A", M, 9, 3.0, 0, 300, 30.0), ("B", M, 10, 1.0, 0, 300, 30.0)))
    a = _row(table, "A")
    assert a["suppressed"] is True
    assert [a[k] for k in ("served_n", "served_value", "comparison_n", "comparison_value", "difference")] == [None] * 5
    assert a["served_display"] == a["comparison_display"] == "suppressed"
    assert a["note"] == "served suppressed:small_cell; comparison suppressed:complementary"
    assert _row(table, "B")["suppressed"] is False
    assert summary["suppressed:small_cell"] == 1 and summary["suppressed:complementary"] == 1


def test_small_comparison_group_suppresses_the_served_group():
    table, _ = _control(_cells(("A", M, 40, 3.0, 0, 4, 1.0)))
    assert _row(table, "A")["note"] == "served suppressed:complementary; comparison suppressed:small_cell"


def test_school_where_every_student_is_served():
    table, _ = _control(_cells(("A", M, 40, 3.0, 0, 0, 0.0)))
    row = _row(table, "A")
    assert row["suppressed"] and row["comparison_n"] is None and row["served_n"] is None


def test_secondary_suppression_next_to_a_published_all_row():
    table, summary = _control(
        _cells(
            ("A", M, 5, 1.0, 0, 100, 9.0),
            ("B", M, 30, 3.0, 0, 100, 9.0),
            ("C", M, 20, 3.0, 0, 100, 9.0),
            ("ALL", M, 55, 7.0, 0, 300, 27.0),
        )
    )
    assert _row(table, "A")["note"] == "served suppressed:small_cell; comparison suppressed:complementary"
    c = _row(table, "C")  # the smallest published served n
    assert c["suppressed"] and c["note"] == "served suppressed:secondary; comparison suppressed:secondary"
    assert not _row(table, "B")["suppressed"] and not _row(table, "ALL")["suppressed"]
    assert summary["suppressed:secondary"] == 2


def test_no_secondary_when_all_row_is_suppressed_or_two_schools_are():
    cells = _cells(("A", M, 5, 1.0, 0, 100, 9.0), ("B", M, 30, 3.0, 0, 100, 9.0), ("ALL", M, 35, 4.0, 0, 8, 1.0))
    table, _ = _control(cells)
    assert not _row(table, "B")["suppressed"] and _row(table, "ALL")["suppressed"]
    cells = _cells(
        ("A", M, 5, 1.0, 0, 100, 9.0), ("B", M, 7, 1.0, 0, 100, 9.0),
        ("C", M, 30, 3.0, 0, 100, 9.0), ("ALL", M, 42, 5.0, 0, 300, 27.0),
    )
    table, summary = _control(cells)
    assert not _row(table, "C")["suppressed"] and summary["suppressed:secondary"] == 0


def test_a_suppressed_empty_group_gives_no_cover():
    table, _ = _control(
        _cells(
            ("A", M, 0, 0.0, 0, 100, 9.0),  # nobody served here: hides nothing
            ("B", M, 5, 1.0, 0, 100, 9.0),
            ("C", M, 30, 3.0, 0, 100, 9.0),
            ("D", M, 40, 3.0, 0, 100, 9.0),
            ("ALL", M, 75, 7.0, 0, 400, 36.0),
        )
    )
    assert _row(table, "C")["note"].startswith("served suppressed:secondary")
    assert not _row(table, "D")["suppressed"]


def test_comparison_side_is_protected_too():
    table, _ = _control(
        _cells(
            ("A", M, 20, 1.0, 0, 3, 1.0),   # comparison small
            ("B", M, 15, 1.0, 0, 0, 0.0),   # everyone served: comparison empty
            ("C", M, 30, 3.0, 0, 50, 9.0),
            ("D", M, 40, 3.0, 0, 60, 9.0),
            ("ALL", M, 105, 8.0, 0, 113, 19.0),
        )
    )
    assert _row(table, "C")["suppressed"]  # smallest served n among the published
    assert not _row(table, "D")["suppressed"]


def test_all_row_suppressed_when_no_school_is_left_to_suppress():
    table, _ = _control(
        _cells(("A", M, 5, 1.0, 0, 30, 3.0), ("B", M, 0, 0.0, 0, 30, 3.0), ("ALL", M, 15, 2.0, 0, 60, 6.0))
    )
    row = _row(table, "ALL")
    assert row["suppressed"] and row["note"] == "served suppressed:secondary; comparison suppressed:secondary"


def test_secondary_is_per_metric():
    table, _ = _control(
        _cells(
            ("A", M, 5, 1.0, 0, 100, 9.0), ("A", "mean_gpa", 12, 30.0, 0, 100, 250.0),
            ("B", M, 30, 3.0, 0, 100, 9.0), ("B", "mean_gpa", 25, 70.0, 0, 100, 250.0),
            ("ALL", M, 35, 4.0, 0, 200, 18.0), ("ALL", "mean_gpa", 37, 100.0, 0, 200, 500.0),
        )
    )
    assert _row(table, "B")["suppressed"] and not _row(table, "B", "mean_gpa")["suppressed"]


@pytest.mark.parametrize(
    ("n", "count", "display"),
    [(12, 1, "<=9%"), (12, 0, "<=9%"), (12, 11, ">=91%"), (12, 12, ">=91%"), (12, 2, None),
     (20, 1, "<=5%"), (20, 19, ">=95%"), (20, 2, None), (25, 1, "<=5%"), (25, 24, ">=95%"),
     (25, 2, None), (13, 1, "<=8%"), (100, 5, "<=5%"), (100, 6, None)],
)
def test_extreme_share_coding(n, count, display):
    table, summary = _control(_cells(("A", "suspension_rate", n, float(count), 0, 200, 100.0)))
    row = _row(table, "A", "suspension_rate")
    assert row["served_n"] == n and not row["suppressed"]
    if display is None:
        assert row["served_value"] == round(count / n, 3) and row["note"] is None
        assert row["difference"] == round(round(count / n, 3) - 0.5, 3)
    else:
        assert row["served_display"] == display and row["served_value"] is None
        assert row["difference"] is None and row["note"] == "served coded:extreme_share"
        assert summary["coded:extreme_share"] == 1


def test_extreme_coding_only_for_shares_of_students():
    table, _ = _control(_cells(("A", "attendance_rate", 20, 20.0, 0, 20, 0.0)))
    row = _row(table, "A", "attendance_rate")
    assert (row["served_value"], row["comparison_value"], row["note"]) == (1.0, 0.0, None)


@pytest.mark.parametrize(
    ("served", "released", "suppressed"),
    [(15, 10, True), (15, 14, True), (15, 15, False), (25, 10, False), (15, 0, False)],
)
def test_differencing_against_individual_records(served, released, suppressed):
    cells = _cells(("A", M, served, 3.0, released, 100, 9.0))
    table, summary = _control(cells, differencing=True)
    row = _row(table, "A")
    assert row["suppressed"] is suppressed
    if suppressed:
        assert row["note"] == "served suppressed:differencing; comparison suppressed:complementary"
        assert summary["suppressed:differencing"] == 1
    assert not _control(cells, differencing=False)[0].get_column("suppressed").any()


def test_row_order_is_kept():
    cells = _cells(("B", M, 20, 1.0, 0, 20, 1.0), ("A", M, 20, 1.0, 0, 20, 1.0))
    assert _control(cells)[0].get_column("school_id").to_list() == ["B", "A"]
