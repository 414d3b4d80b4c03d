"""``data/report.html``: the partner's report, for program staff who will not open a Parquet file.

One self-contained page (CONTRACT section 5): who is covered, the students at each gate,
and for every metric a chart of served against comparison per school and ``ALL`` beside a
table of the same figures, each withheld or coded figure marked and its reason explained
in words, then the agreement's terms.

Choices:

- **SVG written directly, inlined** (:mod:`~datashare.package.chart`). A chart is a fixed
  layout of bars and texts, so its elements are written in page coordinates and the
  browser lays out the text: no plotting library, no text measurement, no script and
  nothing fetched; sharp when printed, text kept as text. A run draws six
  charts per package, for hundreds of packages.
- **Deterministic.** Coordinates are written with two decimals and the ids carry the
  metric's name (distinct between the page's figures), so a rerun gives a byte-identical page.
- **Accessible.** The Okabe-Ito blue and vermillion (distinguishable with the common
  colour-vision deficiencies; both at least 3:1 against white, as WCAG asks of graphics),
  a hatch on the comparison bars so the groups differ without colour, every figure's
  value written beside its bar, a text equivalent for every chart (``role="img"`` with a
  description), and the same figures as a table. Text colours meet WCAG AA (4.5:1).
- **Jinja2** fills the page from ``templates/report.html.j2`` (shipped inside the package),
  with autoescaping: school names come from the SIS and are not trusted. The figure
  tables, one row per school and metric, are written (and escaped the same way) by
  polars for the whole table at once: a large district has hundreds of schools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import polars as pl
from markupsafe import Markup, escape

from datashare.agreement.model import SHARE_METRICS
from datashare.package.chart import Bar, Label, bar_chart, nice_ticks
from datashare.package.describe import _METRICS as METRIC_WORDS
from datashare.package.describe import GRAIN, REASONS
from datashare.release.types import GATES, PartnerRelease
from datashare.release.disclosure import MEAN_METRICS

SERVED_COLOUR = "#0072B2"
"""Okabe-Ito blue: 5.0:1 against white."""
COMPARISON_COLOUR = "#D55E00"
"""Okabe-Ito vermillion: 3.9:1 against white, and hatched."""
MUTED_TEXT = "#4d4d4d"
"""Grey for marks of withheld figures: 8.5:1 against white."""

GATE_WORDS: dict[str, str] = {
    "enrolled": "students enrolled at the covered schools",
    "with_contacts": "of them had at least one contact with you during the school year",
    "eligible": "had enough contacts to count as served (the agreement's eligibility rule)",
    "consented": "of the served students have a valid consent for individual records",
    "withheld": "of the consented students' records are held back this time, because "
    "releasing them would expose a figure already published",
    "released": "served students whose individual records are in this package",
}
"""Plain words for each gate; a gate not listed here is shown by its name."""

CHART_SCHOOLS = 15
"""The most schools one chart draws; see :func:`_charted`."""
INDIVIDUAL_GATES = frozenset({"consented", "withheld", "released"})
_CODED = re.compile(r"^(<=|>=)(\d+)%$")


@dataclass(frozen=True)
class Side:
    """One group's figure as the report shows it."""

    n: int | None
    value: float | None
    display: str
    state: str  # published | coded | withheld
    reasons: tuple[str, ...]
    low: float | None = None
    high: float | None = None


def render_report(release: PartnerRelease, rows: pl.DataFrame | None = None) -> str:
    """The report's HTML text for ``release``: the same release gives the same bytes.

    ``rows``: its comparison table as :func:`report_rows` gives it, when the caller made
    them for many releases at once (a run does, for all its packages)."""
    agreement = release.agreement
    table = release.tables.get("aggregate_comparison")
    if table is not None and rows is None:
        [rows] = report_rows([table])
    metrics, codes = _metrics(release, rows) if rows is not None else ([], [])
    seen = sorted(codes, key=lambda c: (list(REASONS).index(c) if c in REASONS else len(REASONS), c))
    individual = agreement.individual is not None
    enrolled = int(release.gates.get("enrolled", 0)) or 1
    gates = [
        {
            "name": gate,
            "count": int(release.gates.get(gate, 0)),
            "words": GATE_WORDS.get(gate, gate.replace("_", " ")),
            "applies": individual or gate not in INDIVIDUAL_GATES,
            "width": max(0.4, 100 * int(release.gates.get(gate, 0)) / enrolled),
        }
        for gate in GATES
    ]
    schools = _schools(table) if table is not None else []
    individual_files = [
        {"table": name, "rows": df.height, "grain": GRAIN.get(name, "")}
        for name, df in release.tables.items()
        if name not in ("aggregate_comparison", "withdrawn")
    ]
    withdrawn = release.tables.get("withdrawn")
    return _template().render(
        agreement=agreement,
        as_of=release.as_of.isoformat(),
        school_year=release.school_year or agreement.school_year,
        gates=gates,
        individual=individual,
        schools=schools,
        metrics=metrics,
        reasons=[(code, REASONS.get(code, code)) for code in seen],
        all_reasons=REASONS,
        individual_files=individual_files,
        withdrawn=withdrawn.height if withdrawn is not None else None,
        served_colour=SERVED_COLOUR,
        comparison_colour=COMPARISON_COLOUR,
    )


@cache
def template(name: str) -> Any:
    """A page template shipped in ``datashare/package/templates`` (Jinja2, autoescaped)."""
    import jinja2  # noqa: PLC0415

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("datashare.package", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(name)


def _template() -> Any:
    return template("report.html.j2")


def _schools(table: pl.DataFrame) -> list[str]:
    names = table.filter(pl.col("school_id") != "ALL").select("school_name").unique(maintain_order=True)
    return names.get_column("school_name").to_list()


def report_rows(tables: Sequence[pl.DataFrame]) -> list[pl.DataFrame]:
    """Each comparison table's rows as its report shows them: schools in file order and
    ``ALL`` last, each row classified and written as markup (:func:`_classified`), and
    ``_drawn`` marking the rows its charts draw (:func:`_drawn`).

    Many tables are done in one query: the table can list hundreds of schools per metric,
    and a run has hundreds of packages, whose reports cost polars a dozen small queries
    each when made one by one.
    """
    # Only tables of one schema (names, order and dtypes) share a query, so that no table's
    # page depends on the others it is made with; a run's tables all have one schema.
    alike: dict[tuple[tuple[str, pl.DataType], ...], list[int]] = {}
    for position, table in enumerate(tables):
        alike.setdefault(tuple(table.schema.items()), []).append(position)
    out: dict[int, pl.DataFrame] = {}
    for positions in alike.values():
        out.update(zip(positions, _rows_of_alike([tables[p] for p in positions]), strict=True))
    return [out[position] for position in range(len(tables))]


def _rows_of_alike(tables: Sequence[pl.DataFrame]) -> list[pl.DataFrame]:
    """:func:`report_rows` of tables of one schema, in one query."""
    numbered = [
        table.with_row_index("_order").with_columns(pl.lit(position, dtype=pl.UInt32).alias("_table"))
        for position, table in enumerate(tables)
    ]
    every = pl.concat(numbered) if len(numbered) > 1 else numbered[0]
    ordered = _drawn(_classified(every.sort("_table", pl.col("school_id") == "ALL", "_order")))
    parts = ordered.partition_by("_table", as_dict=True, include_key=False)
    return [parts.get((position,), ordered.clear().drop("_table")) for position in range(len(tables))]


def _metrics(release: PartnerRelease, ordered: pl.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
    """Each metric's table rows (``ordered``: see :func:`report_rows`) as markup and its
    chart, and every reason code the report shows. Only the rows a chart draws (at most
    :data:`CHART_SCHOOLS` and ``ALL``) become :class:`Side` objects in Python.
    """
    assert release.agreement.aggregate is not None
    seen = ordered.select(pl.col("_codes").explode().drop_nulls().unique()).to_series().to_list()
    parts = ordered.partition_by("metric", as_dict=True, include_key=True)
    drawn = ordered.filter("_drawn").partition_by("metric", as_dict=True)
    out = []
    for metric in release.agreement.aggregate.metrics:
        part = parts.get((metric,), ordered.clear())
        out.append(
            {
                "name": metric,
                "title": metric.replace("_", " ").capitalize().replace("gpa", "GPA"),
                "words": METRIC_WORDS.get(metric, ""),
                "unit": "percent" if _is_proportion(metric) else "mean",
                "schools_listed": part.height - 1,
                "table_rows": Markup("".join(part.get_column("_html"))),
                **_charted(metric, part.height, drawn.get((metric,), ordered.clear())),
            }
        )
    return out, seen


_TEXT = {name: pl.String for name in ("school_name", "note", "served_display", "comparison_display")}


def _classified(table: pl.DataFrame) -> pl.DataFrame:
    """``table`` with each side's state (published, coded, withheld) and text as the report
    shows them, the reason codes of the row (``_codes``) and the row's table markup (``_html``).

    A note is parsed once per distinct note, not once per row (a table has a handful).
    """
    empty = {name: _TEXT.get(name, pl.Float64) for name, dtype in table.schema.items() if dtype == pl.Null}
    table = table.cast(empty)  # an all-null column (a table built by hand) gets its type
    distinct = table.get_column("note").unique().to_list()
    notes = [_notes(n) for n in distinct]
    parsed = pl.DataFrame(
        {
            "note": distinct,
            "served_notes": [n["served"] for n in notes],
            "comparison_notes": [n["comparison"] for n in notes],
        },
        schema={"note": pl.String, "served_notes": pl.List(pl.String), "comparison_notes": pl.List(pl.String)},
    )
    query = table.lazy().with_columns(_difference_text())
    query = query.join(parsed.lazy(), on="note", how="left", nulls_equal=True, maintain_order="left")
    share = pl.col("metric").is_in(sorted(SHARE_METRICS))
    for side in ("served", "comparison"):
        value, display, codes = pl.col(f"{side}_value"), pl.col(f"{side}_display"), pl.col(f"{side}_notes")
        coded = value.is_null() & display.str.contains(_CODED.pattern) & share
        query = query.with_columns(
            pl.when(value.is_not_null()).then(pl.lit("published"))
            .when(coded).then(pl.lit("coded"))
            .otherwise(pl.lit("withheld")).alias(f"{side}_state"),
            pl.when(value.is_not_null()).then(display.fill_null(""))
            .when(coded).then(display.str.replace("<=", "\u2264", literal=True).str.replace(">=", "\u2265", literal=True))
            .when(codes.list.contains("not_supplied")).then(pl.lit("not supplied"))
            .otherwise(pl.lit("withheld")).alias(f"{side}_shown"),
            pl.when(coded & (codes.list.len() == 0)).then(pl.lit(["coded:extreme_share"]))
            .otherwise(codes).alias(f"{side}_reasons"),
        )
    frame = query.collect()
    pairs = frame.select("served_reasons", "comparison_reasons").unique().rows()
    reasons = pl.DataFrame(
        {
            "served_reasons": [p[0] for p in pairs],
            "comparison_reasons": [p[1] for p in pairs],
            "_reasons_html": [_reasons_html(*p) for p in pairs],
        },
        schema={"served_reasons": pl.List(pl.String), "comparison_reasons": pl.List(pl.String), "_reasons_html": pl.String},
    )
    return (
        frame.lazy()
        .join(reasons.lazy(), on=["served_reasons", "comparison_reasons"], how="left", maintain_order="left")
        .with_columns(pl.concat_list("served_reasons", "comparison_reasons").alias("_codes"), _row_html())
        .collect()
    )


def _reasons_html(served: Sequence[str], comparison: Sequence[str]) -> str:
    """The last cell of a table row: each side's reason codes, linked to their explanation."""
    return "; ".join(
        f'{label}: <a href="#reason-{escape(code.replace(":", "-"))}">{escape(code)}</a>'
        for label, codes in (("served", served), ("comparison", comparison))
        for code in codes
    )


def _row_html() -> pl.Expr:
    """One table row's markup, exactly as the report template lays it out, escaped."""
    is_all = pl.col("school_id") == "ALL"

    def count(side: str) -> pl.Expr:
        shown = pl.col(f"{side}_state") != "withheld"
        return pl.when(shown).then(pl.col(f"{side}_n").cast(pl.String)).otherwise(pl.lit("")).fill_null("")

    return pl.format(
        '      <tr{}>\n        <th scope="row">{}</th>\n        <td class="num">{}</td>\n'
        '        <td class="num {}">{}</td>\n        <td class="num">{}</td>\n'
        '        <td class="num {}">{}</td>\n        <td class="num">{}</td>\n        <td>{}</td>\n      </tr>\n',
        pl.when(is_all).then(pl.lit(' class="all"')).otherwise(pl.lit("")),
        _escape(pl.when(is_all).then(pl.lit("All schools")).otherwise(pl.col("school_name"))),
        count("served"),
        pl.col("served_state"),
        _escape(pl.col("served_shown")),
        count("comparison"),
        pl.col("comparison_state"),
        _escape(pl.col("comparison_shown")),
        _escape(pl.col("difference_text").fill_null("")),
        pl.col("_reasons_html"),
    ).alias("_html")


def _escape(text: pl.Expr) -> pl.Expr:
    """HTML-escape text as Jinja2's autoescape (markupsafe) does: ``& < > " '``."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("'", "&#39;")):
        text = text.str.replace_all(char, entity, literal=True)
    return text


def _drawn(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with ``_drawn``: whether the charts draw the row, for every table (``_table``)
    and metric at once.

    Up to :data:`CHART_SCHOOLS` schools every school is drawn. Beyond that a chart (and the
    page's size, a few elements per drawn school) would grow with the district while telling
    program staff little, so it draws the ``ALL`` row and the
    schools with the most served students among those with a published figure (ties in
    table order); the table still lists every school.
    """
    is_all = pl.col("school_id") == "ALL"
    published = (pl.col("served_state") != "withheld") | (pl.col("comparison_state") != "withheld")
    served_n = pl.when(pl.col("served_state") != "withheld").then(pl.col("served_n")).fill_null(0)
    chart = ["_table", "metric"]
    few = (~is_all).sum().over(chart) <= CHART_SCHOOLS
    indexed = rows.with_row_index("_row")
    largest = (
        indexed.filter(~is_all & published & ~few)
        .sort(*chart, served_n, "_order", descending=[False, False, True, False])
        .filter(pl.int_range(pl.len()).over(chart) < CHART_SCHOOLS)
        .get_column("_row")
    )
    return indexed.with_columns(_drawn=is_all | few | pl.col("_row").is_in(largest.implode())).drop("_row")


def _charted(metric: str, listed: int, drawn: pl.DataFrame) -> dict[str, Any]:
    """The chart of one metric (``drawn``: the rows it draws of the ``listed`` rows of its
    table, see :func:`_drawn`), its text equivalent, and what it leaves to the table."""
    records = [
        {
            "school": rec["school_name"] if rec["school_id"] != "ALL" else "All schools",
            "is_all": rec["school_id"] == "ALL",
            "sides": (_side(rec, "served"), _side(rec, "comparison")),
        }
        for rec in drawn.iter_rows(named=True)
    ]
    return {
        "svg": _chart(metric, records),
        "summary": _summary(records),
        "left_out": listed - drawn.height,
        "drawn_schools": sum(1 for r in records if not r["is_all"]),
    }


def _notes(note: str | None) -> dict[str, tuple[str, ...]]:
    """``note`` (``served suppressed:small_cell; comparison ...`` or a bare code) by side."""
    by_side: dict[str, list[str]] = {"served": [], "comparison": []}
    for part in (note or "").split(";"):
        words = part.split()
        if not words:
            continue
        if words[0] in by_side:
            by_side[words[0]].extend(words[1:])
        else:
            for codes in by_side.values():
                codes.extend(words)
    return {side: tuple(codes) for side, codes in by_side.items()}


def _is_proportion(metric: str) -> bool:
    return metric not in MEAN_METRICS


def _side(rec: Mapping[str, Any], side: str) -> Side:
    """One side of a classified row (see :func:`_classified`) as the chart draws it."""
    state, shown, reasons = rec[f"{side}_state"], rec[f"{side}_shown"], tuple(rec[f"{side}_reasons"])
    if state == "published":
        return Side(rec[f"{side}_n"], rec[f"{side}_value"], shown, state, reasons)
    if state == "coded":
        coded = _CODED.match(rec[f"{side}_display"])
        assert coded is not None
        bound = int(coded.group(2)) / 100
        low, high = (0.0, bound) if coded.group(1) == "<=" else (bound, 1.0)
        return Side(rec[f"{side}_n"], None, shown, state, reasons, low, high)
    return Side(None, None, shown, state, reasons)


def _difference_text() -> pl.Expr:
    """``difference`` as the table shows it: signed, in percentage points with one decimal for
    proportions, with two decimals for means (one expression for the whole table)."""
    diff = pl.col("difference")
    mean = pl.col("metric").is_in(sorted(MEAN_METRICS))
    scale = pl.when(mean).then(100).otherwise(10)
    scaled = (diff.abs() * pl.when(mean).then(100).otherwise(1000)).round(0).cast(pl.Int64)
    whole, part = scaled // scale, (scaled % scale).cast(pl.String)
    body = pl.when(mean).then(pl.format("{}.{}", whole, part.str.zfill(2))).otherwise(pl.format("{}.{}", whole, part))
    sign = pl.when(scaled == 0).then(pl.lit("")).when(diff > 0).then(pl.lit("+")).otherwise(pl.lit("\u2212"))
    return pl.concat_str([sign, body]).alias("difference_text")


def _summary(rows: Sequence[Mapping[str, Any]]) -> str:
    """The chart's text equivalent: every school's two figures in one sentence each."""
    parts = []
    for row in rows:
        served, comparison = row["sides"]
        parts.append(f"{row['school']}: served {_say(served)}, comparison {_say(comparison)}.")
    return " ".join(parts)


def _say(side: Side) -> str:
    if side.state == "withheld":
        return "withheld"
    if side.state == "coded":
        return side.display.replace("\u2264", "at most ").replace("\u2265", "at least ") + " (a range)"
    return side.display


def _chart(metric: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """One horizontal grouped bar chart as inline SVG markup (see :mod:`~datashare.package.chart`):
    per school, the served figure above the comparison figure, each with its value beside it;
    a coded share is drawn as its range, a withheld figure as words."""
    proportion = _is_proportion(metric)
    scale = 100.0 if proportion else 1.0
    values = [s.value for r in rows for s in r["sides"] if s.value is not None]
    top = 100.0 if proportion else max([1.0, *(v * 1.25 for v in values)])
    pad = top * 0.01
    bars: list[Bar] = []
    labels: list[Label] = []
    for index, row in enumerate(rows):
        served, comparison = row["sides"]
        if served.state == comparison.state == "withheld":
            text = "no data supplied" if served.display == "not supplied" else "both figures withheld (see the table)"
            labels.append(Label(index, 0, pad, text, muted=True))
            continue
        for group, side, figure in (("served", -1, served), ("comparison", 1, comparison)):
            if figure.state == "published":
                width = figure.value * scale
                bars.append(Bar(group, index, side, 0.0, width))
                labels.append(Label(index, side, width + pad, figure.display))
            elif figure.state == "coded":
                low, high = figure.low * scale, figure.high * scale
                bars.append(Bar(group, index, side, low, high, range=True))
                right = high < top * 0.8
                labels.append(Label(index, side, high + pad if right else low - pad, f"{figure.display} (range)",
                                    "start" if right else "end"))
            else:
                labels.append(Label(index, side, pad, f"{group} figure withheld", muted=True))
    ticks = nice_ticks(top)
    return bar_chart(
        f"chart-{metric}",
        [(_short(row["school"]), row["is_all"]) for row in rows],
        bars,
        labels,
        limit=top * 1.18,
        ticks=[(t, f"{t:.0f}%" if proportion else f"{t:g}") for t in ticks],
        colours={"served": SERVED_COLOUR, "comparison": COMPARISON_COLOUR},
    )


def _short(name: str, limit: int = 32) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"
