"""Helpers every builder shares: dates, school years, required fields, dangling references."""

from __future__ import annotations

import polars as pl

from datashare.edfi.findings import FILE, RECORD, findings_from
from datashare.extract.report import Finding
from datashare.schoolyear import SchoolYear


def as_date(column: str) -> pl.Expr:
    """An Ed-Fi date (``2021-08-23``, or a timestamp starting with one) as a date, else null."""
    return pl.col(column).str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def as_number(column: str) -> pl.Expr:
    """An Ed-Fi number as a float, else null (``Infinity`` and ``NaN`` too: no count of days
    or credits is one)."""
    value = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def unreadable_values(
    frame: pl.DataFrame, fields: dict[str, tuple[pl.Expr, str]], table: str
) -> list[Finding]:
    """A warning per file and field for records whose field is given but does not parse
    (``fields``: column -> (its parsed value, what it should hold)); such a field is read as
    empty, and the warning says so rather than losing it silently."""
    findings: list[Finding] = []
    for column, (parsed, expected) in fields.items():
        given = pl.col(column).is_not_null() & (pl.col(column).str.strip_chars() != "")
        findings += findings_from(
            frame.filter(given & parsed.is_null()), "unreadable_value", table,
            f"have a {column} that is not {expected}; it is read as empty", column=column, severity="warning",
        )
    return findings


def year_label(column: str) -> pl.Expr:
    """A school year as Ed-Fi writes it (``2022`` in the API, ``2021-2022`` in XML) as ``2021-2022``."""
    text = pl.col(column).str.strip_chars()
    ending = text.cast(pl.Int64, strict=False)
    return (
        pl.when(text.str.contains(r"^\d{4}-\d{4}$")).then(text)
        .when(ending.is_not_null()).then((ending - 1).cast(pl.String) + "-" + ending.cast(pl.String))
        .otherwise(None)
    )


def date_year(column: str) -> pl.Expr:
    """The school year a date falls in (July 1 to June 30), as ``2021-2022``."""
    d = pl.col(column)
    first = pl.when(d.dt.month() >= 7).then(d.dt.year()).otherwise(d.dt.year() - 1)
    return first.cast(pl.String) + "-" + (first + 1).cast(pl.String)


def in_year(column: str, year: SchoolYear) -> pl.Expr:
    return pl.col(column).is_between(year.start, year.end)


def require(
    frame: pl.DataFrame, columns: dict[str, str], table: str, *, severity: str = "error"
) -> tuple[pl.DataFrame, list[Finding]]:
    """Keep records whose ``columns`` (name -> what it should hold) are present and valid.

    The columns must already be parsed (a date that did not parse is null); each missing
    field gives one finding per file, and its records are left out.
    """
    findings: list[Finding] = []
    ok = pl.lit(True)
    for column, expected in columns.items():
        missing = pl.col(column).is_null()
        findings += findings_from(
            frame.filter(ok & missing), "missing_field", table,
            f"have no {expected} ({column}); not imported", column=column, severity=severity,
        )
        ok = ok & ~missing
    return frame.filter(ok), findings


def known_references(
    frame: pl.DataFrame, column: str, known: pl.Series, table: str, what: str, code: str
) -> tuple[pl.DataFrame, list[Finding]]:
    """Leave out records naming a school or student that the source does not hold (for
    example one deleted in the data lake); a warning per file, naming a school id but never
    a student id."""
    dangling = ~pl.col(column).is_in(known.implode())
    bad = frame.filter(dangling)
    detail = "_ref" if what == "school" else None
    describe = (f"name {what} {{detail}}, which the source does not hold (deleted or never loaded); not imported"
                if detail else f"name a {what} the source does not hold (deleted or never loaded); not imported")
    findings = findings_from(
        bad.with_columns(pl.col(column).alias("_ref")), code, table, describe,
        column=column, severity="warning", detail=detail,
    )
    return frame.filter(~dangling), findings


def dedupe(frame: pl.DataFrame, key: list[str], table: str) -> tuple[pl.DataFrame, list[Finding]]:
    """One record per key (the last read wins), with a warning for the others."""
    ordered = frame.sort(FILE, RECORD)
    dup = ordered.filter(pl.struct(key).is_duplicated() & ~pl.struct(key).is_last_distinct())
    findings = findings_from(
        dup, "duplicate_record", table,
        f"repeat the key ({', '.join(key)}) of a later record; the later one is kept", severity="warning",
    )
    return ordered.unique(key, keep="last", maintain_order=True), findings
