"""One table of the extract as the validator reads it: its file, its dtypes, what stops
its rules from running, and its grouped pass (:meth:`TableRead.group_stats`), which the
per-table rules, the cross-table rules and a release's attendance sums share.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from datashare.extract.cross import RowRules
from datashare.extract.grouped import distinct_days, key_ranges
from datashare.extract.read import ROW, TableFile, header_names, locate, scan_raw, typed
from datashare.extract.report import MAX_EXAMPLE_ROWS, Finding, make_finding
from datashare.extract.schema import TableSchema, accepted_source_dtypes, invalid_row
from datashare.extract.text import text_screens, text_specs

_finding = make_finding


class TableRead:
    """One table's file, its dtypes, and what stops its rules from running.

    A column that cannot be used (missing, stored with a wrong dtype, repeated in the
    header) is *broken*: it reads as nulls, so only the rules that need it are silent and
    every other rule of the table still runs.
    """

    def __init__(
        self, folder: Path, schema: TableSchema, riders: Sequence[pl.Expr] = (), workdir: Path | None = None
    ) -> None:
        self.schema = schema
        self.riders = tuple(riders)
        self.workdir = workdir
        self.staged: Path | None = None
        self.file: TableFile | None = None
        self.present = False
        self.source: dict[str, pl.DataType] = {}
        self.broken: set[str] = set()
        self.findings: list[Finding] = []
        self.readable = False
        self.rows: int | None = None
        self.masks: pl.LazyFrame | None = None
        self.enrolled: pl.DataFrame | None = None
        self.splits: list[str] = []
        self.rules: RowRules | None = None
        """Cross-table rules counted in this table's own pass (:data:`ROW_RULE_TABLES`)."""
        self.crossed = False
        """Whether :attr:`rules` were checked, so that the cross-table stage skips them."""
        self.key_unique = False
        """Whether the table's own pass proved its key unique (hashes of complete keys all distinct)."""
        self.clean_text: set[str] = set()
        """The id and text columns whose every cell passed the text rules (a table without
        a grouped pass), so that an id found in them needs no text rule elsewhere."""
        self._groups: pl.DataFrame | None = None
        try:
            self._open(folder)
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            self.readable = False
            self.findings.append(unreadable_file(schema.name, self.file, exc))

    def _open(self, folder: Path) -> None:
        table = self.schema.name
        files = locate(folder, table)
        odd = [path.name for fmt in ("csv", "parquet") if os.path.lexists(path := folder / f"{table}.{fmt}") and not path.is_file()]
        if odd and not files:
            # A folder, a pipe or a broken link under the table's name: neither the table nor
            # its absence (an optional table read as absent would change the extract's form).
            self.findings.append(_finding(
                "unreadable_file", table, None,
                f"{odd[0]} in {folder} is not a regular file (a folder, a pipe, a device or a broken link); "
                f"expected the table {table} as a file",
            ))
            return
        if not files:
            if not self.schema.optional:
                self.findings.append(_finding(
                    "missing_table", table, None,
                    f"table {table} is missing: expected {table}.csv or {table}.parquet in {folder}",
                ))
            return
        self.present = True
        if len(files) > 1:
            self.findings.append(_finding(
                "both_formats", table, files[0],
                f"table {table} is present as both {table}.csv and {table}.parquet; it must be one file",
            ))
            return
        self.file = file = files[0]
        if file.path.stat().st_size == 0:
            self.findings.append(_finding(
                "empty_file", table, file,
                f"{file.path.name} is empty (zero bytes); a table with no rows still needs a header",
            ))
            return
        try:
            self.source = dict(scan_raw(file).collect_schema())
        except (pl.exceptions.PolarsError, OSError) as exc:
            self.findings.append(unreadable_file(table, file, exc))
            return
        self.readable = True
        self._check_columns(header_names(file) or list(self.source))
        if file.format == "csv" and self.workdir is not None:
            self._stage(file)

    @property
    def usable_source(self) -> dict[str, pl.DataType]:
        """The dtypes of the schema columns that can be read (broken ones left out)."""
        return {n: d for n, d in self.source.items() if n in self.schema.names and n not in self.broken}

    def usable(self, *columns: str) -> bool:
        """Whether the table was read and none of ``columns`` is broken (an absent optional
        column is usable: it reads as nulls)."""
        return self.readable and not self.broken.intersection(columns)

    def _stage(self, file: TableFile) -> None:
        """Parse a CSV once into a private Parquet copy that every later check scans.

        Each rule is a query of its own; on a CSV each would parse the whole file again.
        The copy keeps the text exactly (no type is inferred) and the row order, so row
        numbers still are CSV line numbers; it lives in a private temporary folder (mode
        0700) that is deleted when validation, or the release using the extract, ends.
        """
        assert self.workdir is not None
        staged = self.workdir / f"{self.schema.name}.parquet"
        columns = list(self.usable_source)
        try:
            if columns:
                scan_raw(file).select(columns).sink_parquet(staged, compression="lz4")
            else:  # only the row count matters
                scan_raw(file).select(pl.nth(0).is_null().alias("__none")).sink_parquet(staged)
        except (pl.exceptions.PolarsError, OSError) as exc:
            staged.unlink(missing_ok=True)
            self.readable = False
            self.findings.append(unreadable_file(self.schema.name, file, exc))
            return
        self.staged = staged

    def _check_columns(self, header: list[str]) -> None:
        """Missing, repeated, mistyped and unknown columns.

        A header cell is user data (a CSV exported without its header line has a student's
        values there): it is named only when it is a column of the schema, otherwise by its
        position.
        """
        table, file = self.schema.name, self.file
        assert file is not None
        names = self.schema.names
        positions: dict[str, list[int]] = {}
        for position, name in enumerate(header, start=1):
            positions.setdefault(name, []).append(position)
        for name, where in positions.items():
            if len(where) > 1:
                known = name in names
                if known:
                    self.broken.add(name)
                self.findings.append(_finding(
                    "duplicate_column", table, file,
                    f"{file.path.name}: "
                    + (f"column {name} appears {len(where)} times" if known else "a column name is repeated")
                    + f" in the header (columns {', '.join(map(str, where))}); each name must be distinct",
                    column=name if known else None,
                ))
        headless = bool(header) and not any(name in positions for name in names)
        if headless:
            self.findings.append(_finding(
                "missing_header", table, file,
                f"{file.path.name}: the first line names none of the columns of {table}; "
                "is the header line missing?",
            ))
        for spec in self.schema.columns:
            dtype = self.source.get(spec.name)
            if dtype is None:
                if spec.required:
                    self.broken.add(spec.name)
                    self.findings.append(_finding(
                        "missing_column", table, file,
                        f"{file.path.name} has no column {spec.name} ({spec.expected()})",
                        column=spec.name,
                    ))
            elif not isinstance(dtype, accepted_source_dtypes(spec)):
                self.broken.add(spec.name)
                self.findings.append(_finding(
                    "wrong_dtype", table, file,
                    f"{file.path.name} stores {spec.name} as {dtype_name(dtype)}; expected text or {spec.dtype}",
                    column=spec.name,
                ))
        for name, where in positions.items():
            if name not in names and len(where) == 1 and not headless:
                self.findings.append(_finding(
                    "ignored_column", table, file,
                    f"{file.path.name}: column {where[0]} is not in the schema of {table}; it is ignored",
                    severity="info",
                ))

    def raw(self) -> pl.LazyFrame:
        assert self.file is not None
        return pl.scan_parquet(self.staged) if self.staged is not None else scan_raw(self.file)

    @property
    def header_columns(self) -> list[str]:
        """The columns a repeated CSV header line is recognised by (none for Parquet)."""
        if self.file is None or self.file.format != "csv":
            return []
        return [c for c in self.schema.names if self.usable_source.get(c) == pl.String]

    def typed(self, *extra: pl.Expr) -> pl.LazyFrame:
        """Typed columns plus the report row number (for cross-table findings); broken
        columns are nulls. ``extra`` are columns computed from the cells as the file holds
        them (before typing), kept alongside.

        Repeated header lines are dropped here (they are reported once, as such)."""
        assert self.file is not None
        raw = self.raw().with_row_index(ROW, offset=self.file.first_row).with_columns(extra)
        if self.header_columns:
            raw = raw.filter(~is_header_line(self.header_columns))
        return typed(raw, self.schema, self.usable_source, keep=(ROW, *(e.meta.output_name() for e in extra)))

    @property
    def grouped(self) -> bool:
        """Whether the table gets a grouped pass (:meth:`group_stats`): a usable compound key
        ending in a date (attendance, enrollments, the calendar: its distinct days are counted
        by day masks, and other rules use its groups), or riders to compute. The key of
        another table (grades, discipline) is proved unique by hashing in its text query,
        which costs less than grouping it."""
        key = self.schema.key
        if len(key) < 2 or not self.usable(*key):
            return False
        return self.schema.column(key[-1]).type == "date" or bool(self.riders)

    @property
    def lead(self) -> list[str]:
        """The key's leading columns, by which the grouped pass groups (none without one)."""
        return list(self.schema.key[:-1]) if self.grouped else []

    def invalid_flag(self) -> pl.Expr:
        """Per row, ``__invalid``: a cell fails a per-table rule (:func:`invalid_row`). The
        leading key columns are left to the groups (:func:`_text_findings`), and an empty id
        to the text screens (:func:`~.text.text_screens`), which count it too."""
        rest = [c for c in self.schema.names if c not in self.lead]
        screened = [s.name for s in text_specs(self) if s.type == "id"]
        return invalid_row(self.schema, self.usable_source, rest, screened).alias("__invalid")

    def group_stats(self) -> pl.DataFrame:
        """Per group of the key's leading columns: rows, distinct last key column, date bounds.

        Computed once per table (one grouped pass) and shared by the key rule and the
        cross-table rules of attendance. ``riders`` are further aggregations a caller asked
        for in the same pass (the release's per-student attendance summary), so that a big
        table is scanned once for validation and derivation together. ``masks`` (attendance
        only) are the allowed days: a group with a day outside them gets ``__off``. ``splits``
        cut the pass into ranges of the first leading column (:func:`~.grouped.student_splits`). The rows
        failing a per-table rule (``__invalid``) or a text rule (``__text``) are counted too,
        and those breaking each of the table's cross-table ``rules`` (``__cross<i>``, the rows
        joined to the ids of students and schools), so that pandera, the text rules and the
        cross-table stage need not read a clean table again. ``enrolled`` (attendance only)
        masks the days of students with several enrollments at a school (``__several``,
        ``__stray``: see :func:`~.cross.enrolled_masks`).
        """
        if self._groups is None:
            *lead, last = self.schema.key
            dates = [c.name for c in self.schema.columns if c.type == "date"]
            bounds = [
                *[pl.col(d).min().alias(f"__first_{d}") for d in dates],
                *[pl.col(d).max().alias(f"__last_{d}") for d in dates],
            ]
            rows = self.typed(self.invalid_flag())
            text = [screen for column, screen in text_screens(self).items() if column not in lead]
            text_rows = pl.any_horizontal(text).sum() if text else pl.lit(0)
            riders = (*self.riders, pl.col("__invalid").sum(), text_rows.alias("__text"))
            if self.rules is not None:
                rows = self.rules.apply(rows)
                riders += tuple(f.expr.fill_null(False).sum().alias(f"__cross{i}") for i, f in enumerate(self.rules.flags))
            parts = []
            for part in key_ranges(pl.col(lead[0]), self.splits):
                if self.schema.column(last).type == "date":
                    groups = distinct_days(rows.filter(part), lead, last, bounds, riders, self.masks, self.enrolled)
                else:
                    groups = rows.filter(part).group_by(lead).agg(
                        pl.len().alias("__n"), pl.col(last).n_unique().alias("__u"), *bounds, *riders
                    )
                parts.append(groups.collect(engine="streaming"))
            self._groups = pl.concat(parts)
        return self._groups


def dtype_name(dtype: pl.DataType) -> str:
    return type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__


def unreadable_file(table: str, file: TableFile | None, exc: BaseException | None) -> Finding:
    # The parser's own message can quote a line of the file (a name, a birth date): keep only
    # the kind of problem, never the line.
    kind = f" ({type(exc).__name__})" if exc is not None else ""
    if file is None:
        return _finding("unreadable_file", table, None, f"table {table} could not be read{kind}")
    expected = (
        "UTF-8 CSV with a header row and the same number of fields on every line"
        if file.format == "csv" else "a Parquet file"
    )
    count, rows = _long_lines(file) if file.format == "csv" and "more fields" in str(exc) else (0, ())
    where = (
        f"; {count:,} line(s) have more fields than the header, the first at line(s) {', '.join(map(str, rows))}"
        if count else ""
    )
    return _finding(
        "unreadable_file", table, file,
        f"{file.path.name} could not be read as {file.format.upper()}{kind}: expected {expected}{where}",
        count=max(count, 1), rows=rows,
    )


def _long_lines(file: TableFile) -> tuple[int, tuple[int, ...]]:
    """The lines of a CSV file with more fields than its header (how many, and the first
    line numbers), for the message of a file the parser refused: found only on the lines
    without a quote character, where every comma separates two fields, so a quoted comma is
    never miscounted (a long line holding a quote is then left unnamed)."""
    try:
        lines = pl.scan_csv(
            file.path, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"],
            infer_schema=False, truncate_ragged_lines=True, encoding="utf8-lossy",
        ).with_row_index("number", offset=1)
        fields = pl.col("line").str.count_matches(",", literal=True) + 1
        header = fields.first()
        long = lines.filter(~pl.col("line").str.contains('"', literal=True) & (fields > header) & (pl.col("number") > 1))
        found = pl.collect_all([long.select(pl.len()), long.select("number").head(MAX_EXAMPLE_ROWS)])
    except (pl.exceptions.PolarsError, OSError):
        return 0, ()
    return found[0].item(), tuple(found[1]["number"].to_list())


def is_header_line(columns: list[str]) -> pl.Expr:
    """A CSV line that repeats the header: every text cell holds its own column's name."""
    return pl.all_horizontal([pl.col(c).eq_missing(pl.lit(c)) for c in columns])
