"""Validate the extract: every rule of every table and across tables, in one run.

Per-table rules (types, enumerations, ranges, required cells, keys) are pandera schemas on
the polars backend, with data-level validation switched on so that a ``LazyFrame`` is
checked cell by cell and not only by its schema. Cross-table rules (unknown ids, dates
outside the school year, attendance outside an enrollment) are polars joins; all of
attendance's cross-table rules are answered by one scan. Findings carry row numbers and
counts, never cell values.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context

from datashare._cleanup import WorkFolder
from datashare.errors import ExtractError, ExtractInvalid
from datashare.extract.read import ROW, Extract, TableFile, locate, scan_raw, typed
from datashare.extract.report import (
    MAX_EXAMPLE_ROWS,
    Finding,
    TableInfo,
    ValidationReport,
    sort_findings,
)
from datashare.extract.schema import (
    TABLES,
    TableSchema,
    accepted_source_dtypes,
    load_schemas,
    pandera_schema,
    school_year_ok,
)
from datashare.schoolyear import SchoolYear

_PANDERA_CODES = {"not_nullable": "missing_value"}
"""pandera's built-in check names as finding codes; every other check is named by its code."""


def _finding(
    code: str, table: str, file: TableFile | None, message: str, *,
    column: str | None = None, count: int = 1, rows: tuple[int, ...] = (), severity: str = "error",
) -> Finding:
    return Finding(
        code=code, severity=severity, table=table, column=column, count=count,  # type: ignore[arg-type]
        rows=rows, message=message, file=str(file.path) if file else None,
    )


class _TableRead:
    """One table's file, its dtypes, and the findings that stop it being read further."""

    def __init__(
        self, folder: Path, schema: TableSchema, riders: Sequence[pl.Expr] = (), workdir: Path | None = None
    ) -> None:
        self.schema = schema
        self.riders = tuple(riders)
        self.workdir = workdir
        self.staged: Path | None = None
        self.file: TableFile | None = None
        self.source: dict[str, pl.DataType] = {}
        self.findings: list[Finding] = []
        self.readable = False
        self.rows: int | None = None
        self._groups: pl.DataFrame | None = None
        self._open(folder)

    def _open(self, folder: Path) -> None:
        table = self.schema.name
        files = locate(folder, table)
        if not files:
            self.findings.append(_finding(
                "missing_table", table, None,
                f"table {table} is missing: expected {table}.csv or {table}.parquet in {folder}",
            ))
            return
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
            self.findings.append(_unreadable(table, file, exc))
            return
        self._check_columns()
        if self.readable and file.format == "csv" and self.workdir is not None:
            self._stage(file)

    def _stage(self, file: TableFile) -> None:
        """Parse a CSV once into a private Parquet copy that every later check scans.

        Each rule is a query of its own; on a CSV each would parse the whole file again.
        The copy keeps the text exactly (no type is inferred) and the row order, so row
        numbers still are CSV line numbers; it lives in a private temporary folder (mode
        0700) that is deleted when validation, or the release using the extract, ends.
        """
        assert self.workdir is not None
        staged = self.workdir / f"{self.schema.name}.parquet"
        columns = [c for c in self.schema.names if c in self.source]
        try:
            scan_raw(file).select(columns).sink_parquet(staged, compression="lz4")
        except (pl.exceptions.PolarsError, OSError) as exc:
            staged.unlink(missing_ok=True)
            self.readable = False
            self.findings.append(_unreadable(self.schema.name, file, exc))
            return
        self.staged = staged

    def _check_columns(self) -> None:
        table, file = self.schema.name, self.file
        assert file is not None
        ok = True
        for spec in self.schema.columns:
            dtype = self.source.get(spec.name)
            if dtype is None:
                if spec.required:
                    ok = False
                    self.findings.append(_finding(
                        "missing_column", table, file,
                        f"{file.path.name} has no column {spec.name} ({spec.expected()})",
                        column=spec.name,
                    ))
            elif not isinstance(dtype, accepted_source_dtypes(spec)):
                ok = False
                self.findings.append(_finding(
                    "wrong_dtype", table, file,
                    f"{file.path.name} stores {spec.name} as {dtype}; expected text or {spec.dtype}",
                    column=spec.name,
                ))
        for name in self.source:
            if name not in self.schema.names:
                self.findings.append(_finding(
                    "ignored_column", table, file,
                    f"{file.path.name} has a column {name} that is not in the schema; it is ignored",
                    column=name, severity="info",
                ))
        self.readable = ok

    def raw(self) -> pl.LazyFrame:
        assert self.file is not None
        return pl.scan_parquet(self.staged) if self.staged is not None else scan_raw(self.file)

    @property
    def header_columns(self) -> list[str]:
        """The columns a repeated CSV header line is recognised by (none for Parquet)."""
        if self.file is None or self.file.format != "csv":
            return []
        return [c for c in self.schema.names if self.source.get(c) == pl.String]

    def typed(self) -> pl.LazyFrame:
        """Typed columns plus the report row number (for cross-table findings).

        Repeated header lines are dropped here (they are reported once, as such)."""
        assert self.file is not None
        raw = self.raw().with_row_index(ROW, offset=self.file.first_row)
        if self.header_columns:
            raw = raw.filter(~_is_header_line(self.header_columns))
        return typed(raw, self.schema, self.source, keep=(ROW,))

    def group_stats(self) -> pl.DataFrame:
        """Per group of the key's leading columns: rows, distinct last key column, date bounds.

        Computed once per table (one grouped pass) and shared by the key rule and the
        cross-table rules of attendance. ``riders`` are further aggregations a caller asked
        for in the same pass (the release's per-student attendance summary), so that a big
        table is scanned once for validation and derivation together.
        """
        if self._groups is None:
            *lead, last = self.schema.key
            dates = [c.name for c in self.schema.columns if c.type == "date"]
            bounds = [
                *[pl.col(d).min().alias(f"__first_{d}") for d in dates],
                *[pl.col(d).max().alias(f"__last_{d}") for d in dates],
            ]
            if self.schema.column(last).type == "date":
                groups = _distinct_days(self.typed(), lead, last, bounds, self.riders)
            else:
                groups = self.typed().group_by(lead).agg(
                    pl.len().alias("__n"), pl.col(last).n_unique().alias("__u"), *bounds, *self.riders
                )
            self._groups = groups.collect(engine="streaming")
        return self._groups


def _distinct_days(
    lf: pl.LazyFrame, lead: list[str], day: str, bounds: list[pl.Expr], riders: Sequence[pl.Expr]
) -> pl.LazyFrame:
    """Rows and distinct days per group, without a hash set per group.

    Counting distinct dates with ``n_unique`` keeps a set per (student, school): about
    10 GB for a million students' daily attendance. Instead each day sets one bit of a
    512-bit mask (days since 1970 modulo 512: the days of one school year never share a
    bit), grouped first by the mask's 64-bit word and then by the group. A repeated day
    always leaves fewer bits than rows, so no duplicate is missed; days outside the year
    may share a bit and make a group a suspect, which the exact check then clears. Riders
    must be sums or counts, since they are added up across a group's words.
    """
    offset = pl.col(day).cast(pl.Int32) % 512
    words = lf.with_columns(
        (offset // 64).alias("__word"),
        pl.lit(2, dtype=pl.UInt64).pow((offset % 64).cast(pl.UInt64)).alias("__bit"),
    )
    names = [r.meta.output_name() for r in riders]
    per_word = words.group_by(*lead, "__word").agg(
        pl.len().alias("__n"),
        pl.col("__bit").bitwise_or().alias("__bits"),
        *bounds,
        *riders,
    )
    return per_word.group_by(lead).agg(
        pl.col("__n").sum(),
        pl.col("__bits").bitwise_count_ones().sum().cast(pl.UInt32).alias("__u"),
        *[pl.col(b.meta.output_name()).min() for b in bounds if b.meta.output_name().startswith("__first_")],
        *[pl.col(b.meta.output_name()).max() for b in bounds if b.meta.output_name().startswith("__last_")],
        *[pl.col(name).sum() for name in names],
    )


def _unreadable(table: str, file: TableFile, exc: Exception | None) -> Finding:
    # The parser's own message can quote a line of the file (a name, a birth date): keep only
    # the kind of problem, never the line.
    kind = f" ({type(exc).__name__})" if exc is not None else ""
    return _finding(
        "unreadable_file", table, file,
        f"{file.path.name} could not be read as {file.format.upper()}{kind}: expected UTF-8 "
        "CSV with a header row and the same number of fields on every line",
    )


def _is_header_line(columns: list[str]) -> pl.Expr:
    """A CSV line that repeats the header: every text cell holds its own column's name."""
    return pl.all_horizontal([pl.col(c).eq_missing(pl.lit(c)) for c in columns])


def _repeated_header_check(columns: list[str]) -> pa.Check:
    def check(data: object) -> pl.LazyFrame:
        return data.lazyframe.select(~_is_header_line(columns).alias("ok"))  # type: ignore[attr-defined]

    return pa.Check(check, name="repeated_header")


def _pandera_findings(read: _TableRead) -> list[Finding]:
    """Every per-table rule of one table, by pandera with data-level validation on."""
    table, file = read.schema.name, read.file
    assert file is not None
    header = read.header_columns
    header_check = [_repeated_header_check(header)] if header else None
    schema = pandera_schema(read.schema, read.source, header_check, with_key=False)
    try:
        with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
            schema.validate(read.raw(), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    except pa.errors.SchemaError as exc:  # pragma: no cover - lazy=True collects them all
        cases = exc.failure_cases
    except (pl.exceptions.PolarsError, OSError) as exc:
        return [_unreadable(table, file, exc)]
    else:
        return []
    if cases is None or cases.is_empty():
        return []
    if cases["index"].null_count():
        # pandera turns a check that could not run (the file broke mid-read) into a failure
        # case without a row: the file, not a cell, is at fault.
        return [_unreadable(table, file, None)]
    cases = cases.select(
        pl.col("column"),
        pl.col("check").str.replace(r"\(.*$", ""),
        (pl.col("index").cast(pl.Int64) + file.first_row).alias("row"),
    )
    header_rows = set(cases.filter(pl.col("check") == "repeated_header")["row"].to_list())
    if header_rows:
        cases = cases.filter((pl.col("check") == "repeated_header") | ~pl.col("row").is_in(list(header_rows)))
    grouped = (
        cases.group_by("column", "check", maintain_order=True)
        .agg(pl.col("row").unique().sort().alias("rows"))
        .sort("check", "column", nulls_last=True)
    )
    findings = []
    for column, check, rows in grouped.iter_rows():
        code = _PANDERA_CODES.get(check, check)
        findings.append(_finding(
            code, table, file, _message(code, read.schema, column, file),
            column=None if code == "repeated_header" else column,  # a line-wide check
            count=len(rows), rows=tuple(rows[:MAX_EXAMPLE_ROWS]),
        ))
    return findings


def _message(code: str, schema: TableSchema, column: str | None, file: TableFile) -> str:
    where = f"{file.path.name}"
    if code == "duplicate_key":
        return f"{where}: rows repeat the key ({', '.join(schema.key)}), which must be unique"
    if code == "repeated_header":
        return f"{where}: lines repeat the header in the middle of the file"
    spec = schema.column(column) if column in schema.names else None
    expected = spec.expected() if spec else "a valid value"
    if code == "missing_value":
        return f"{where}: column {column} is required but has empty cells"
    return f"{where}: column {column} has cells that are not {expected}"


def _key_findings(read: _TableRead, typed_lf: pl.LazyFrame) -> list[Finding]:
    """Duplicate keys, found group-wise: rows per leading key columns against distinct last column.

    Only groups that hold a duplicate are scanned again for their row numbers, so a valid
    table costs one grouped pass.
    """
    key = list(read.schema.key)
    file = read.file
    assert file is not None
    if not key:
        return []
    *lead, last = key
    if lead:
        bad = read.group_stats().filter(pl.col("__n") > pl.col("__u")).select(lead)
        if bad.is_empty():
            return []
        candidates = typed_lf.join(bad.lazy(), on=lead, how="semi", nulls_equal=True)
    else:
        candidates = typed_lf
    complete = pl.all_horizontal([pl.col(k).is_not_null() for k in key])
    dup = candidates.filter(complete).filter(pl.struct(key).is_duplicated()).select(ROW).sort(ROW).collect()
    if dup.is_empty():
        return []
    rows = dup[ROW].to_list()
    return [_finding(
        "duplicate_key", read.schema.name, file, _message("duplicate_key", read.schema, None, file),
        column="+".join(key), count=len(rows), rows=tuple(rows[:MAX_EXAMPLE_ROWS]),
    )]


# ---------------------------------------------------------------------------------------
# Cross-table rules


def _flag_findings(
    lf: pl.LazyFrame, flags: Mapping[str, tuple[str, str, pl.Expr]], table: str, file: TableFile
) -> list[Finding]:
    """Count and sample rows for several row-level flags in one query over ``lf``.

    ``flags`` maps a finding key to (code, column, boolean expression); nulls count as False.
    """
    exprs = []
    for key, (_, _, flag) in flags.items():
        flag = flag.fill_null(False)
        exprs.append(flag.sum().alias(f"{key}__n"))
        exprs.append(pl.col(ROW).filter(flag).head(MAX_EXAMPLE_ROWS).implode().alias(f"{key}__rows"))
    if not exprs:
        return []
    result = lf.select(exprs).collect(engine="streaming").row(0, named=True)
    findings = []
    for key, (code, column, _) in flags.items():
        count = result[f"{key}__n"] or 0
        if count:
            findings.append(_finding(
                code, table, file, _cross_message(code, table, column, file),
                column=column, count=int(count), rows=tuple(sorted(result[f"{key}__rows"])),
            ))
    return findings


def _cross_message(code: str, table: str, column: str, file: TableFile) -> str:
    name = file.path.name
    return {
        "unknown_student": f"{name}: {column} not found in students",
        "unknown_school": f"{name}: {column} not found in schools",
        "outside_school_year": f"{name}: {column} falls outside the school year",
        "outside_enrollment": f"{name}: attendance days outside every enrollment of the student at that school",
        "exit_before_entry": f"{name}: exit_date is before entry_date",
        "revoked_before_granted": f"{name}: revoked_on is before granted_on",
        "wrong_school_year": f"{name}: {column} differs from the extract's school year",
    }[code]


def _enrollment_intervals(enrollments: pl.LazyFrame) -> tuple[pl.DataFrame, int]:
    """Per (student, school): the enrollment intervals as columns entry_k/exit_k (small)."""
    grouped = (
        enrollments.filter(pl.col("entry_date").is_not_null())
        .group_by("student_id", "school_id")
        .agg(pl.col("entry_date", "exit_date").sort_by("entry_date"))
        .collect()
    )
    width = int(grouped["entry_date"].list.len().max() or 0)
    intervals = grouped.select(
        "student_id",
        "school_id",
        pl.lit(True).alias("__enrolled"),
        *[pl.col("entry_date").list.get(k, null_on_oob=True).alias(f"__entry{k}") for k in range(width)],
        *[pl.col("exit_date").list.get(k, null_on_oob=True).alias(f"__exit{k}") for k in range(width)],
    )
    return intervals, width


def _inside_enrollment(date: str, width: int) -> pl.Expr:
    day = pl.col(date)
    inside = [
        (day >= pl.col(f"__entry{k}")) & (pl.col(f"__exit{k}").is_null() | (day <= pl.col(f"__exit{k}")))
        for k in range(width)
    ]
    return pl.any_horizontal([i.fill_null(False) for i in inside]) if inside else pl.lit(False)


def _suspect_attendance_groups(
    groups: pl.DataFrame,
    intervals: pl.DataFrame,
    students: pl.LazyFrame | None,
    schools: pl.LazyFrame | None,
    year: SchoolYear,
) -> pl.DataFrame:
    """The (student, school) groups of attendance that may break a cross-table rule.

    The grouped pass of the key rule (first and last day per group) clears the usual case: a
    known student at a known school, all days in the year and inside the group's only
    enrollment. Only the remaining groups are checked row by row, so a valid extract scans
    attendance once.
    """
    keys = ["student_id", "school_id"]
    lf = groups.lazy().rename({"__first_date": "__first", "__last_date": "__last"})
    lf = lf.join(students, on="student_id", how="left") if students is not None else lf.with_columns(pl.lit(True).alias("__known_student"))
    lf = lf.join(schools, on="school_id", how="left") if schools is not None else lf.with_columns(pl.lit(True).alias("__known_school"))
    single = intervals.filter(pl.col("__entry1").is_null()) if "__entry1" in intervals.columns else intervals
    lf = lf.join(single.lazy().select(*keys, "__entry0", "__exit0"), on=keys, how="left")
    clear = (
        pl.col("__known_student").is_not_null()
        & pl.col("__known_school").is_not_null()
        & (pl.col("__first") >= year.start)
        & (pl.col("__last") <= year.end)
        & (pl.col("__first") >= pl.col("__entry0"))
        & (pl.col("__exit0").is_null() | (pl.col("__last") <= pl.col("__exit0")))
    )
    return lf.filter(~clear.fill_null(False)).select(keys).collect()


def _school_year_of(reads: Mapping[str, _TableRead]) -> tuple[str | None, list[Finding]]:
    """The extract's school year: the most common ``school_year`` of enrollments."""
    read = reads["enrollments"]
    if not read.readable:
        return None, []
    counts = (
        read.typed().group_by("school_year").len().sort("len", "school_year", descending=[True, False])
        .collect()
    )
    counts = counts.filter(school_year_ok(pl.col("school_year")))
    if counts.is_empty():
        return None, [_finding(
            "no_school_year", "enrollments", read.file,
            "enrollments has no valid school_year, so the school year of the extract is unknown",
            column="school_year",
        )]
    return str(counts["school_year"][0]), []


def _cross_findings(reads: Mapping[str, _TableRead], year: SchoolYear) -> list[Finding]:
    typed = {name: r.typed() for name, r in reads.items() if r.readable}
    findings: list[Finding] = []
    students = typed["students"].select("student_id", pl.lit(True).alias("__known_student")).unique("student_id") if "students" in typed else None
    schools = typed["schools"].select("school_id", pl.lit(True).alias("__known_school")).unique("school_id") if "schools" in typed else None

    def known(lf: pl.LazyFrame, flags: dict, school_optional: bool = False) -> pl.LazyFrame:
        if students is not None:
            lf = lf.join(students, on="student_id", how="left")
            flags["student"] = ("unknown_student", "student_id", pl.col("__known_student").is_null() & pl.col("student_id").is_not_null())
        if schools is not None and "school_id" in lf.collect_schema():
            lf = lf.join(schools, on="school_id", how="left")
            flags["school"] = ("unknown_school", "school_id", pl.col("__known_school").is_null() & pl.col("school_id").is_not_null())
        return lf

    def outside(column: str) -> pl.Expr:
        return (pl.col(column) < year.start) | (pl.col(column) > year.end)

    for name in ("enrollments", "attendance", "discipline", "grades", "service_contacts", "consents"):
        if name not in typed:
            continue
        lf, flags = typed[name], {}
        if name == "attendance" and "enrollments" in typed:
            intervals, width = _enrollment_intervals(typed["enrollments"])
            suspects = _suspect_attendance_groups(reads[name].group_stats(), intervals, students, schools, year)
            # Only the suspect groups are read again, before any join: is_in on a few ids is
            # answered cheaply by the Parquet reader; the semi join keeps exactly those groups.
            ids = suspects["student_id"].drop_nulls().unique()
            lf = lf.filter(pl.col("student_id").is_in(ids.implode()) | pl.col("student_id").is_null())
            lf = lf.join(suspects.lazy(), on=["student_id", "school_id"], how="semi", nulls_equal=True)
            lf = lf.join(intervals.lazy(), on=["student_id", "school_id"], how="left")
            flags["enrolled"] = (
                "outside_enrollment", "date",
                pl.col("date").is_not_null() & ~_inside_enrollment("date", width),
            )
        lf = known(lf, flags)
        match name:
            case "enrollments":
                flags["year"] = ("wrong_school_year", "school_year", pl.col("school_year") != year.label)
                flags["exit"] = ("exit_before_entry", "exit_date", pl.col("exit_date") < pl.col("entry_date"))
            case "attendance":
                flags["year"] = ("outside_school_year", "date", outside("date"))
            case "discipline":
                flags["year"] = ("outside_school_year", "incident_date", outside("incident_date"))
            case "grades":
                flags["year"] = ("wrong_school_year", "school_year", pl.col("school_year") != year.label)
            case "consents":
                flags["revoked"] = ("revoked_before_granted", "revoked_on", pl.col("revoked_on") < pl.col("granted_on"))
        file = reads[name].file
        assert file is not None
        findings += _flag_findings(lf, flags, name, file)
    return findings


# ---------------------------------------------------------------------------------------


def _reads(
    folder: Path, riders: Mapping[str, Sequence[pl.Expr]] | None = None, workdir: Path | None = None
) -> dict[str, _TableRead]:
    if not folder.is_dir():
        raise ExtractError(f"extract folder {folder} does not exist or is not a folder")
    schemas = load_schemas()
    riders = riders or {}
    unknown = set(riders) - {n for n in TABLES if len(schemas[n].key) > 1}
    if unknown:
        raise ValueError(f"riders need a table with a key of two or more columns, not {sorted(unknown)}")
    return {name: _TableRead(folder, schemas[name], riders.get(name, ()), workdir) for name in TABLES}


def validate(folder: str | Path, *, school_year: str | None = None) -> ValidationReport:
    """Check every table of the extract in ``folder`` and return every finding at once.

    ``school_year`` (``2025-2026``) fixes the year; by default it is the most common
    ``school_year`` of enrollments. Raises :class:`ExtractError` only when the folder itself
    is missing; everything wrong inside it is a finding.
    """
    workdir = StagingFolder()
    try:
        report, _ = _validate(Path(folder), school_year, workdir=workdir.path)
    finally:
        workdir.cleanup()
    return report


def _validate(
    folder: Path,
    school_year: str | None,
    riders: Mapping[str, Sequence[pl.Expr]] | None = None,
    workdir: Path | None = None,
) -> tuple[ValidationReport, dict[str, _TableRead]]:
    reads = _reads(folder, riders, workdir)
    findings: list[Finding] = []
    for read in reads.values():
        findings += read.findings
        if read.readable:
            table_findings = _pandera_findings(read)
            if any(f.code == "unreadable_file" for f in table_findings):
                read.readable = False
            else:
                try:
                    table_findings += _key_findings(read, read.typed())
                except (pl.exceptions.PolarsError, OSError) as exc:
                    read.readable = False
                    table_findings.append(_unreadable(read.schema.name, read.file, exc))  # type: ignore[arg-type]
            findings += table_findings
    year_findings: list[Finding] = []
    if school_year is None:
        school_year, year_findings = _school_year_of(reads)
    findings += year_findings
    try:
        year = SchoolYear.parse(school_year) if school_year else None
    except ValueError as exc:
        raise ExtractError(f"{exc}; give --school-year like 2025-2026") from None
    if year is not None:
        findings += _cross_findings(reads, year)
    tables = tuple(
        TableInfo(
            table=name,
            file=str(r.file.path) if r.file else None,
            format=r.file.format if r.file else None,
            rows=_row_count(r) if r.readable else None,
        )
        for name, r in reads.items()
    )
    report = ValidationReport(
        folder=str(folder),
        school_year=year.label if year else None,
        tables=tables,
        findings=sort_findings(findings, TABLES),
    )
    return report, reads


def _row_count(read: _TableRead) -> int | None:
    try:
        return int(read.raw().select(pl.len()).collect().item())
    except pl.exceptions.PolarsError:
        return None


class StagingFolder:
    """A private temporary folder for staged CSV tables, removed by :meth:`cleanup` or at exit.

    Not removed when an :class:`Extract` is garbage-collected: its lazy tables may still be
    read after the Extract object itself is gone (``load_extract(d).tables["x"].collect()``).
    """

    def __init__(self) -> None:
        # A WorkFolder: recognisable and owned, so a later run removes it after a SIGKILL.
        self._folder = WorkFolder("extract")
        self.path = self._folder.path
        atexit.register(self.cleanup)

    def cleanup(self) -> None:
        self._folder.remove()
        atexit.unregister(self.cleanup)


def load_extract(
    folder: str | Path,
    *,
    school_year: str | None = None,
    riders: Mapping[str, Sequence[pl.Expr]] | None = None,
) -> Extract:
    """Validate the extract and return its typed tables; raise :class:`ExtractInvalid` if not valid.

    ``riders`` maps a table with a compound key (``attendance``, ``enrollments``,
    ``discipline``, ``grades``) to aggregations computed in the validator's own grouped pass
    over that table, grouped by the key's leading columns (for attendance: ``student_id``,
    ``school_id``); their results are in ``Extract.aggregates``. The release uses this to
    derive its attendance summary without a second scan of daily attendance.
    """
    folder = Path(folder)
    workdir = StagingFolder()
    try:
        report, reads = _validate(folder, school_year, riders, workdir.path)
    except BaseException:
        workdir.cleanup()
        raise
    if not report.valid or report.school_year is None:
        workdir.cleanup()
        errors = report.errors
        first = errors[0].message if errors else "the school year is unknown"
        raise ExtractInvalid(
            f"extract {folder} is not valid: {len(errors)} finding(s); first: {first}. "
            f"Run `datashare validate {folder}` for the full report.",
            report,
        )
    aggregates = {}
    for name, exprs in (riders or {}).items():
        read = reads[name]
        lead = list(read.schema.key[:-1])
        names = [e.meta.output_name() for e in exprs]
        aggregates[name] = read.group_stats().select(*lead, *names)
    return Extract(
        folder=folder,
        tables={name: typed(r.raw(), r.schema, r.source) for name, r in reads.items()},
        files={name: r.file.path for name, r in reads.items() if r.file},
        school_year=SchoolYear.parse(report.school_year),
        report=report,
        aggregates=aggregates,
        workdir=workdir,
    )
