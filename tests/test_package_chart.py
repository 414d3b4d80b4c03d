"""The report's charts, written as SVG: well-formed, drawn to scale, escaped, with ids unique in
the page, and ticks a reader can read."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from package_fixtures import aggregate_table, release

from datashare.errors import PackageError
from datashare.package.chart import WIDTH, Bar, Label, bar_chart, nice_ticks
from datashare.package.report import COMPARISON_COLOUR, SERVED_COLOUR, render_report

SVG = "{http://www.w3.org/2000/svg}"
COLOURS = {"served": SERVED_COLOUR, "comparison": COMPARISON_COLOUR}


def _charts(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, flags=re.S)]


def test_every_chart_of_a_report_is_well_formed_svg_with_ids_unique_in_the_page() -> None:
    page = render_report(release())
    charts = _charts(page)
    assert len(charts) == 2
    ids: list[str] = []
    for chart in charts:
        assert chart.tag == f"{SVG}svg"
        own = [e.get("id") for e in chart.iter() if e.get("id")]
        ids += own
        # Every pattern a shape fills with is defined in the same chart.
        for element in chart.iter():
            fill = element.get("fill") or ""
            if fill.startswith("url(#"):
                assert fill[5:-1] in own, fill
    assert len(ids) == len(set(ids))


def test_bars_are_drawn_to_scale_and_inside_the_chart() -> None:
    svg = bar_chart(
        "t",
        [("A", False), ("All schools", True)],
        [Bar("served", 0, -1, 0.0, 50.0), Bar("comparison", 0, 1, 0.0, 100.0), Bar("served", 1, -1, 0.0, 25.0),
         Bar("comparison", 1, 1, 95.0, 100.0, range=True)],
        [Label(0, -1, 51.0, "50.0%")],
        limit=118.0,
        ticks=[(t, f"{t:.0f}%") for t in nice_ticks(100.0)],
        colours=COLOURS,
    )  # fmt: skip
    root = ET.fromstring(svg)
    height = float(root.get("viewBox", "").split()[3])
    rects = [r for r in root.iter(f"{SVG}rect") if r.get("x") is not None]
    widths = [float(r.get("width", "")) for r in rects]
    assert math.isclose(widths[1] / widths[0], 2.0, rel_tol=1e-3)
    assert math.isclose(widths[0] / widths[2], 2.0, rel_tol=1e-3)
    assert math.isclose(widths[3] / widths[0], 0.1, rel_tol=1e-2)  # the range 95..100
    for rect in rects:
        x, y, w, h = (float(rect.get(k, "")) for k in ("x", "y", "width", "height"))
        assert 0 <= x and x + w <= WIDTH and 0 <= y and y + h <= height
    # The served bar is above the comparison bar of its school, and school rows go top down.
    ys = [float(r.get("y", "")) for r in rects]
    assert ys[0] < ys[1] < ys[2] < ys[3]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[:6] == ["0%", "20%", "40%", "60%", "80%", "100%"] and "All schools" in texts


def test_a_school_name_is_text_in_the_chart_never_markup() -> None:
    evil = '</text><script>x</script>&"'  # within the 32 characters a chart shows
    s1 = pl.col("school_id") == "S1"
    table = aggregate_table().with_columns(school_name=pl.when(s1).then(pl.lit(evil)).otherwise(pl.col("school_name")))
    page = render_report(release(aggregate=table))
    for chart in _charts(page):
        assert not list(chart.iter(f"{SVG}script"))
        assert any(t.text == evil for t in chart.iter(f"{SVG}text"))


@given(st.floats(min_value=1.0, max_value=1e6, allow_nan=False))
def test_ticks_are_round_steps_that_cover_the_values(top: float) -> None:
    ticks = nice_ticks(top)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and len(ticks) >= 2
    assert all(math.isclose(b - a, step, rel_tol=1e-6) for a, b in zip(ticks, ticks[1:], strict=False))
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-12)
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1.0, 2.0, 2.5, 5.0))
    assert step * 5 >= top * (1 - 1e-9)  # five steps reach the largest value
    assert ticks[-1] <= top * 1.18 * (1 + 1e-9)  # and no tick lies past the axis
    # The step is the smallest round one that does so: the chart uses its width.
    steps = [m * 10.0**k for k in range(-1, 8) for m in (1.0, 2.0, 2.5, 5.0)]
    assert math.isclose(step, min(s for s in steps if s * 5 >= top * (1 - 1e-9)), rel_tol=1e-9)


def test_a_control_character_in_a_name_keeps_the_chart_well_formed_xml() -> None:
    svg = bar_chart("m", [("North\x0bHigh\x01", False)], [Bar("served", 0, -1, 0, 1)],
                    [Label(0, -1, 1, "1\x1f")], limit=2, ticks=[(0, "0")], colours=COLOURS)  # fmt: skip
    root = ET.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "North\ufffdHigh\ufffd" in texts and "1\ufffd" in texts


@pytest.mark.parametrize(
    ("bar", "limit"),
    [(Bar("served", 0, -1, 0, float("nan")), 2), (Bar("served", 0, -1, 0, -1), 2),
     (Bar("comparison", 0, 1, 1.5, 1), 2), (Bar("served", 0, -1, 0, 1), 0)],
)  # fmt: skip
def test_a_bar_that_cannot_be_drawn_is_refused(bar: Bar, limit: float) -> None:
    with pytest.raises(PackageError, match="report chart m: "):
        bar_chart("m", [("North", False)], [bar], [], limit=limit, ticks=[(0, "0")], colours=COLOURS)
