"""The report's bar chart of one metric, written as SVG markup.

A chart is a fixed layout of a few kinds of shape: one horizontal bar per group and school,
a label beside each bar, the school names, an axis with its ticks. So its SVG elements are
written directly, in page coordinates computed here, and the browser lays the text out
(names end at the axis, labels start at their bar): no text is measured. Written this way
a chart costs well under a millisecond; drawn by a plotting library it cost about 20 ms
(axes, ticks and text layout), which made the charts most of a run's staging time when a
district releases to hundreds of partners (see the README, "Performance").

Every text comes from the caller already shortened and is escaped here (school names come
from the SIS); a control character XML does not allow becomes U+FFFD, so the chart stays
well-formed XML wherever it is read. Ids (the hatch patterns) carry the metric's name, so
the charts of one page never share an id. The same rows give the same bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

from datashare.errors import PackageError

WIDTH = 518.4
"""Points (7.2 inches)."""
ROW = 30.24
"""Points per school row (0.42 inch)."""
_LEFT, _PLOT = 0.30 * WIDTH, 0.62 * WIDTH  # the plot area: after the names, before the margin
_TOP, _BOTTOM = 10.8, 32.4  # margins above the plot and below it (ticks and their labels)
BAR = 0.38
"""A bar's thickness, in rows; a school's two bars sit either side of its row's middle."""
_GRID, _AXIS, _TEXT = "#d9d9d9", "#4d4d4d", "#1a1a1a"


@dataclass(frozen=True)
class Bar:
    """One bar: its group (``served`` or ``comparison``), its row (0: the top one), its side
    of the row (-1 above the middle, +1 below) and its extent in the chart's units; a
    ``range`` bar is an interval, drawn open and crosshatched."""

    group: str
    row: int
    side: int
    start: float
    end: float
    range: bool = False


@dataclass(frozen=True)
class Label:
    """A text beside a bar (or across an empty row): ``anchor`` ``start`` or ``end`` at ``x``."""

    row: int
    side: int
    x: float
    text: str
    anchor: str = "start"
    muted: bool = False


def nice_ticks(top: float, bins: int = 5) -> list[float]:
    """Ticks from 0 in steps of 1, 2, 2.5 or 5 times a power of ten, at most ``bins``
    intervals up to ``top``, and one more tick if it still fits under ``top * 1.18``."""
    raw = top / bins
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * (1 - 1e-9))
    count = math.floor(top * 1.18 / step + 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    """Text content: escaped, with the characters XML 1.0 forbids replaced."""
    return str(escape(_NOT_XML.sub("\ufffd", value)))


def _n(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def bar_chart(
    name: str,
    schools: Sequence[tuple[str, bool]],
    bars: Sequence[Bar],
    labels: Sequence[Label],
    *,
    limit: float,
    ticks: Sequence[tuple[float, str]],
    colours: dict[str, str],
) -> str:
    """The SVG of a chart with one row per ``(school name, bold)`` in ``schools``, top down;
    the value axis runs from 0 to ``limit``. ``name`` makes the chart's ids unique in a page.

    Raises :class:`PackageError` for a bar that is not finite or runs backwards, or a limit
    that is not positive: such a chart would be invalid SVG, and its figures a mistake
    upstream, so the run stops (fail closed) with a message rather than a traceback."""
    if not (math.isfinite(limit) and limit > 0):
        raise PackageError(f"report chart {name}: the axis limit must be a positive number, not {limit!r}")
    for bar in bars:
        if not (math.isfinite(bar.start) and math.isfinite(bar.end) and 0 <= bar.start <= bar.end):
            raise PackageError(
                f"report chart {name}: a bar must run forwards from 0 or more, not {bar.start!r} to {bar.end!r}"
            )
    rows = len(schools)
    plot_height = ROW * rows + 7.2
    height = _TOP + plot_height + _BOTTOM
    base = _TOP + plot_height

    def x(value: float) -> float:
        return _LEFT + value / limit * _PLOT

    def y(row: int, side: int = 0) -> float:
        middle = _TOP + (row + 0.5) / rows * plot_height if rows else _TOP
        return middle + side * BAR / 2 * plot_height / max(rows, 1)

    thick = BAR * 0.92 * plot_height / max(rows, 1)
    served, comparison = colours["served"], colours["comparison"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(WIDTH)}pt" height="{_n(height)}pt" '
        f'viewBox="0 0 {_n(WIDTH)} {_n(height)}" font-size="9">',
        "<defs>",
        f'<pattern id="{name}-comparison" patternUnits="userSpaceOnUse" width="5" height="5">'
        f'<rect width="5" height="5" fill="{comparison}"/>'
        '<path d="M-1,1 l2,-2 M0,5 l5,-5 M4,6 l2,-2" stroke="white" stroke-width="0.8"/></pattern>',
        *(
            f'<pattern id="{name}-{group}-range" patternUnits="userSpaceOnUse" width="5" height="5">'
            f'<rect width="5" height="5" fill="white"/>'
            f'<path d="M-1,1 l2,-2 M0,5 l5,-5 M4,6 l2,-2 M-1,4 l2,2 M0,0 l5,5 M4,-1 l2,2" '
            f'stroke="{colour}" stroke-width="0.8"/></pattern>'
            for group, colour in (("served", served), ("comparison", comparison))
        ),
        "</defs>",
        f'<rect width="{_n(WIDTH)}" height="{_n(height)}" fill="white"/>',
    ]
    for value, text in ticks:
        at = _n(x(value))
        out.append(f'<line x1="{at}" y1="{_n(_TOP)}" x2="{at}" y2="{_n(base)}" stroke="{_GRID}" stroke-width="0.6"/>')
        out.append(f'<line x1="{at}" y1="{_n(base)}" x2="{at}" y2="{_n(base + 3.5)}" stroke="{_AXIS}" stroke-width="0.8"/>')
        out.append(f'<text x="{at}" y="{_n(base + 14)}" text-anchor="middle" fill="{_AXIS}">{_text(text)}</text>')
    for bar in bars:
        left, top = x(bar.start), y(bar.row, bar.side) - thick / 2
        box = f'x="{_n(left)}" y="{_n(top)}" width="{_n(x(bar.end) - left)}" height="{_n(thick)}"'
        colour = served if bar.group == "served" else comparison
        if bar.range:
            out.append(f'<rect {box} fill="url(#{name}-{bar.group}-range)" stroke="{colour}" stroke-width="1.2"/>')
        elif bar.group == "served":
            out.append(f'<rect {box} fill="{colour}"/>')
        else:
            out.append(f'<rect {box} fill="url(#{name}-comparison)"/>')
    for label in labels:
        style = f' fill="{_AXIS}" font-style="italic"' if label.muted else f' fill="{_TEXT}"'
        out.append(
            f'<text x="{_n(x(label.x))}" y="{_n(y(label.row, label.side))}" dy="0.35em" font-size="8" '
            f'text-anchor="{label.anchor}"{style}>{_text(label.text)}</text>'
        )
    names = _n(_LEFT - 0.02 * _PLOT)
    for row, (school, bold) in enumerate(schools):
        weight = ' font-weight="bold"' if bold else ""
        out.append(
            f'<text x="{names}" y="{_n(y(row))}" dy="0.35em" text-anchor="end" fill="{_TEXT}"{weight}>{_text(school)}</text>'
        )
    out.append(
        f'<path d="M{_n(_LEFT)},{_n(_TOP)} V{_n(base)} H{_n(_LEFT + _PLOT)}" fill="none" stroke="{_AXIS}" stroke-width="0.8"/>'
    )
    out.append("</svg>")
    return "\n".join(out)
