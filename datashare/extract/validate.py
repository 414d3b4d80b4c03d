"""Validate the extract: every rule of every table and across tables, in one run.

Per-table rules (types, enumerations, ranges, required cells) are defined once
(:class:`~.schema.CellRule`) and counted in the validator's own pass over each table, with
the text rules, the key and the cross-table id rules; pandera, on the polars backend with
data-level validation, reports the failing rows of a table whose count is not zero.
Cross-table rules (:mod:`.cross`) are polars joins; attendance's are answered from the one
grouped pass over it. Findings carry
row numbers and counts, never cell values, and no input ends in a traceback: whatever the
files hold, the answer is a report (or an :class:`ExtractError` when the folder is missing).
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping, Sequence
from pathlib import Path

from typing import TYPE_CHECKING

import polars as pl

from datashare._cleanup import WorkFolder
from datashare.errors import ExtractError, ExtractInvalid
from datashare.extract.cross import (
    ROW_RULE_TABLES,
    Flag,
    Known,
    calendar_masks,
    cross_findings,
    enrolled_masks,
    flag_pass,
    known_ids,
    own_rules,
    row_rules,
    weekday_masks,
)
from datashare.extract.grouped import student_splits
from datashare.extract.read import ROW, Extract, TableFile, typed
from datashare.extract.report import (
    MAX_EXAMPLE_ROWS,
    Finding,
    TableInfo,
    ValidationReport,
    make_finding,
    sort_findings,
)
from datashare.extract.schema import (
    ALL_TABLES,
    OPTIONAL_TABLES,
    TABLES,
    TableSchema,
    invalid_row,
    load_schemas,
    pandera_schema,
    school_year_ok,
)
from datashare.extract.tableread import TableRead, is_header_line, unreadable_file
from datashare.extract.text import EMPTY, table_text_flags, text_screens, text_specs
from datashare.schoolyear import SchoolYear

if TYPE_CHECKING:  # pandera is imported only for a table with a failing cell (_pandera_findings)
    import pandera.polars as pa

_PANDERA_CODES = {"not_nullable": "missing_value"}
"""pandera's built-in check names as finding codes; every other check is named by its code."""


_finding = make_finding

EMPTY_MEANS_NOT_SUPPLIED = ("attendance", "discipline", "grades")
"""Tables whose header-only file means "not supplied": their metrics are withheld."""


def _repeated_header_check(columns: list[str]) -> pa.Check:
    import pandera.polars as pa  # noqa: PLC0415

    def check(data: object) -> pl.LazyFrame:
        return data.lazyframe.select(~is_header_line(columns).alias("ok"))  # type: ignore[attr-defined]

    return pa.Check(check, name="repeated_header")


def _pandera_findings(read: TableRead) -> list[Finding]:
    """Every per-table rule of one table, by pandera, which reports the failing rows.

    Called only for a table whose own pass counted a failing cell (or could not count):
    pandera reads every column once per rule, and its schema-level checks cannot fail here
    (the schema is compiled for the dtypes the file holds; a missing or mistyped column was
    reported when the file was opened), so a clean table costs pandera nothing, its import
    included.
    """
    import pandera.polars as pa  # noqa: PLC0415
    from pandera.config import ValidationDepth, config_context  # noqa: PLC0415

    table, file = read.schema.name, read.file
    assert file is not None
    header = read.header_columns
    header_check = [_repeated_header_check(header)] if header else None
    schema = pandera_schema(read.schema, read.usable_source, header_check, with_key=False)
    try:
        with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
            schema.validate(read.raw(), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    except pa.errors.SchemaError as exc:  # pragma: no cover - lazy=True collects them all
        cases = exc.failure_cases
    except (pl.exceptions.PolarsError, OSError) as exc:
        return [unreadable_file(table, file, exc)]
    else:
        return []
    if cases is None or cases.is_empty():
        return []
    if cases["index"].null_count():
        # pandera turns a check that could not run (the file broke mid-read) into a failure
        # case without a row: the file, not a cell, is at fault.
        return [unreadable_file(table, file, None)]
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
    if code == "empty_id":
        return f"{where}: column {column} has empty identifiers"
    if code == "id_whitespace":
        return f"{where}: column {column} has identifiers with leading or trailing whitespace"
    if code == "invalid_text":
        return f"{where}: column {column} has cells with a NUL byte or bytes that are not UTF-8"
    return f"{where}: column {column} has cells that are not {expected}"


def _key_findings(read: TableRead, typed_lf: pl.LazyFrame) -> list[Finding]:
    """The rows of repeated keys.

    A table's own pass has proved most keys unique already: a grouped table's by rows
    against distinct last key column per group (only the groups with a repeat are read
    again here), another's by the distinct hashes of its keys (``read.key_unique``; when
    they fall short, a repeat or a collision, the rows are compared exactly here).
    """
    key = list(read.schema.key)
    file = read.file
    assert file is not None
    if not key or not read.usable(*key) or read.key_unique:
        return []
    lead = read.lead
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


def _text_findings(read: TableRead) -> tuple[list[Finding], int]:
    """The table's own pass and what it finds: ids with surrounding whitespace, NUL bytes
    or bytes that are not UTF-8 in text, the cross-table rules of :attr:`TableRead.rules`;
    and the number of rows pandera would report (see :func:`_invalid_rows`).

    CSV is read lossily, so bytes that are not UTF-8 arrive as U+FFFD: a finding at their
    line, not an unreadable file. The leading key columns of a big table (attendance's
    student_id and school_id) are checked on the distinct groups of the grouped pass, the
    other columns of a grouped table are counted in that pass, and the rows are read again
    only for a rule with a hit. A table without a grouped pass is read once here: its cell
    rules, text screens, cross-table rules and key hashes in one query. Sets ``read.crossed``,
    and for a table without a grouped pass ``read.key_unique`` and ``read.clean_text``.
    """
    flags = table_text_flags(read)
    rules = read.rules
    assert read.file is not None
    if not read.grouped:
        lf = read.typed(read.invalid_flag())
        vouched = rules.vouched if rules is not None else {}
        screens = {f"text {column}": screen.sum() for column, screen in text_screens(read, vouched).items()}
        tallies = {"invalid": pl.col("__invalid").sum(), "rows": pl.len(), **screens, **_key_tallies(read)}
        if rules is not None and rules.joins and rules.all_known(lf):
            # Every id is known: the id rules find nothing and a vouched id column is clean
            # text, so the rows are read without the joins and without those screens.
            skipped = {f"text {column}" for column in vouched}
            tallies = {name: tally for name, tally in tallies.items() if name not in skipped}
            findings, tally = flag_pass(lf, list(rules.own_flags), read.schema.name, read.file, tallies)
            tally |= dict.fromkeys(skipped, 0)
        else:
            cross = list(rules.flags) if rules is not None else []
            findings, tally = flag_pass(
                rules.apply(lf) if rules is not None else lf, cross, read.schema.name, read.file, tallies
            )
        read.crossed = rules is not None
        read.key_unique = "keys" in tally and tally["keys"] == tally["distinct_keys"]
        hit = [s.name for s in text_specs(read) if tally[f"text {s.name}"]]
        read.clean_text = {s.name for s in text_specs(read)} - set(hit)
        dirty, empty = _told_apart(read, flags, hit)
        findings += dirty
        return findings, _invalid_rows(read, tally["invalid"] + empty, tally["rows"])
    lead = read.lead
    on_groups = [f for f in flags if f.column in lead]
    groups = read.group_stats()
    if on_groups and not groups.select(pl.any_horizontal([f.expr.fill_null(False) for f in on_groups]).any()).item():
        flags = [f for f in flags if f.column not in lead]
    on_rows = [s.name for s in text_specs(read) if s.name not in lead] if groups["__text"].sum() else []
    flags = [f for f in flags if f.column in lead]
    # The cross-table rules were counted in the grouped pass: rows are read for those with a hit.
    cross = [f for i, f in enumerate(rules.flags) if groups[f"__cross{i}"].sum()] if rules is not None else []
    lf = rules.apply(read.typed()) if rules is not None and cross else read.typed()
    findings, _ = flag_pass(lf, [*flags, *cross], read.schema.name, read.file)
    read.crossed = rules is not None
    dirty, empty = _told_apart(read, table_text_flags(read), on_rows)
    findings += dirty
    invalid = (
        groups["__invalid"].sum() + empty + groups.select(invalid_row(read.schema, read.usable_source, lead).sum()).item()
    )
    return findings, _invalid_rows(read, invalid, groups["__n"].sum())


def _told_apart(read: TableRead, flags: Sequence[Flag], columns: Sequence[str]) -> tuple[list[Finding], int]:
    """The text findings of ``columns`` (those whose screen had a hit), each rule on its own,
    and their empty ids: the screen counts an empty id too, which is a cell rule that only
    pandera reports (so pandera runs for an empty id, not for whitespace or bad bytes)."""
    if not columns:
        return [], 0
    assert read.file is not None
    ids = [s.name for s in text_specs(read) if s.type == "id" and s.name in columns]
    tallies = {f"empty {c}": pl.col(c).str.contains(EMPTY).fill_null(False).sum() for c in ids}
    chosen = [f for f in flags if f.column in columns]
    findings, tally = flag_pass(read.typed(), chosen, read.schema.name, read.file, tallies)
    return findings, int(sum(tally.values()))


def _key_tallies(read: TableRead) -> dict[str, pl.Expr]:
    """The rows with a complete key and the distinct hashes of those keys, counted in the text
    query of a table without a grouped pass: equal counts prove the key unique (a repeated
    key repeats its hash), so :func:`_key_findings` need not look for duplicates."""
    key = list(read.schema.key)
    if not key or not read.usable(*key):
        return {}
    complete = pl.all_horizontal([pl.col(k).is_not_null() for k in key])
    keys = pl.struct(key) if len(key) > 1 else pl.col(key[0])
    return {"keys": complete.sum(), "distinct_keys": keys.filter(complete).hash().n_unique()}


def _invalid_rows(read: TableRead, invalid: int, typed_rows: int) -> int:
    """Rows pandera would report: rows with a failing cell, and repeated header lines (the
    typed table, which drops them, has fewer rows than the file)."""
    assert read.rows is not None
    return int(invalid) + read.rows - int(typed_rows)


def _school_year_of(reads: Mapping[str, TableRead]) -> tuple[str | None, list[Finding]]:
    """The extract's school year: the most common ``school_year`` of enrollments."""
    read = reads["enrollments"]
    if not read.usable("school_year"):
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


# ---------------------------------------------------------------------------------------


def _reads(
    folder: Path, riders: Mapping[str, Sequence[pl.Expr]] | None = None, workdir: Path | None = None
) -> dict[str, TableRead]:
    if not folder.is_dir():
        raise ExtractError(f"extract folder {folder} does not exist or is not a folder")
    schemas = load_schemas()
    riders = riders or {}
    unknown = set(riders) - {n for n in TABLES if len(schemas[n].key) > 1}
    if unknown:
        raise ValueError(f"riders need a table with a key of two or more columns, not {sorted(unknown)}")
    return {name: TableRead(folder, schemas[name], riders.get(name, ()), workdir) for name in ALL_TABLES}


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
) -> tuple[ValidationReport, dict[str, TableRead]]:
    reads = _reads(folder, riders, workdir)
    findings: list[Finding] = []
    for read in reads.values():
        findings += read.findings
    year_findings: list[Finding] = []
    if school_year is None:
        try:
            school_year, year_findings = _school_year_of(reads)
        except (pl.exceptions.PolarsError, OSError) as exc:
            school_year, year_findings = None, [unreadable_file("enrollments", reads["enrollments"].file, exc)]
    findings += year_findings
    try:
        year = SchoolYear.parse(school_year) if school_year else None
    except ValueError as exc:
        raise ExtractError(f"{exc}; give --school-year like 2025-2026") from None
    # The calendar's rules run first: attendance's grouped pass checks its days against it.
    # The ids of students and schools are read once, after their own rules, for the id rules
    # of every later table (counted in that table's own pass, see ROW_RULE_TABLES).
    known: Known | None = None
    for name in (*OPTIONAL_TABLES, *TABLES):
        if name in ROW_RULE_TABLES:
            if known is None:
                known, unreadable = _known_ids(reads)
                findings += unreadable
            reads[name].rules = row_rules(name, reads[name], known, year)
        elif name == "students":  # its ids are the known ids: its own rules only
            reads[name].rules = own_rules(name, reads[name], year)
        findings += _table_findings(reads, name, year)
    findings += _empty_findings(reads)
    assert known is not None  # ROW_RULE_TABLES is never empty
    findings += cross_findings(reads, year, known)
    tables = tuple(
        TableInfo(
            table=name,
            file=str(r.file.path) if r.file else None,
            format=r.file.format if r.file else None,
            rows=r.rows if r.readable else None,
        )
        for name, r in reads.items()
        if r.present or not r.schema.optional
    )
    report = ValidationReport(
        folder=str(folder),
        school_year=year.label if year else None,
        tables=tables,
        findings=sort_findings(findings, ALL_TABLES),
    )
    return report, reads


def _table_findings(reads: Mapping[str, TableRead], name: str, year: SchoolYear | None) -> list[Finding]:
    """The per-table rules of one table (pandera, the key, text), and its row count.

    The grouped pass, or the text query of a table without one, first counts the rows that
    fail a rule; pandera reads the data, to report the rows, only when that count is not
    zero, or when that pass could not read the file (pandera then says what it can).
    """
    read = reads[name]
    if not read.readable:
        return []
    if name == "attendance" and year is not None:
        read.masks = _allowed_days(reads, year)
        read.enrolled = _enrolled_days(reads, year)
    text: list[Finding] | None = None
    invalid: int | None = None
    try:
        read.rows = int(read.raw().select(pl.len()).collect().item())
        read.splits = student_splits(reads, read)
        text, invalid = _text_findings(read)
    except (pl.exceptions.PolarsError, OSError):
        pass
    findings = _pandera_findings(read) if invalid != 0 else []
    if any(f.code == "unreadable_file" for f in findings):
        read.readable = False
        return findings
    try:
        findings += _key_findings(read, read.typed())
        if text is None:
            read.rows = int(read.raw().select(pl.len()).collect().item())
            text, _ = _text_findings(read)
        findings += text
    except (pl.exceptions.PolarsError, OSError) as exc:
        read.readable = False
        findings.append(unreadable_file(read.schema.name, read.file, exc))
    return findings


def _known_ids(reads: Mapping[str, TableRead]) -> tuple[Known, list[Finding]]:
    """The ids every table's id rules look up (:func:`~.cross.known_ids`). An id column that
    cannot be read after all makes its table unreadable: the rules would otherwise be silent."""
    frames: dict[str, pl.DataFrame | None] = {}
    clean: set[str] = set()
    findings = []
    for table, column in (("students", "student_id"), ("schools", "school_id")):
        read = reads[table]
        frames[table] = None
        if read.usable(column):
            try:
                frames[table] = known_ids(read, column)
            except (pl.exceptions.PolarsError, OSError) as exc:
                read.readable = False
                findings.append(unreadable_file(table, read.file, exc))
                continue
            if column in read.clean_text:
                clean.add(column)
    return Known(frames["students"], frames["schools"], frozenset(clean)), findings


def _enrolled_days(reads: Mapping[str, TableRead], year: SchoolYear) -> pl.DataFrame | None:
    """The enrolled days of students with several enrollments at one school, as masks for
    attendance's grouped pass (:func:`~.cross.enrolled_masks`); ``None`` without such a student
    or when enrollments cannot be read (the cross-table stage then reads what it must)."""
    enrollments = reads["enrollments"]
    if not enrollments.grouped:  # a usable key (student_id, school_id, entry_date)
        return None
    try:
        return enrolled_masks(enrollments, year)
    except (pl.exceptions.PolarsError, OSError):
        return None


def _allowed_days(reads: Mapping[str, TableRead], year: SchoolYear) -> pl.LazyFrame | None:
    """The days attendance may fall on, as masks for its grouped pass: the school's calendar
    days (calendar form), or the weekdays of the year (daily form)."""
    calendar = reads["calendar"]
    if not calendar.present:
        return weekday_masks(year)
    if not calendar.usable("school_id", "date"):
        return None
    return calendar_masks(calendar.typed(), year).collect().lazy()


def _empty_findings(reads: Mapping[str, TableRead]) -> list[Finding]:
    """Header-only tables that mean "not supplied" (warnings), and an empty calendar (error)."""
    findings = []
    calendar_form = reads["calendar"].present
    for name in EMPTY_MEANS_NOT_SUPPLIED:
        read = reads[name]
        if read.rows != 0:
            continue
        if name == "attendance" and calendar_form:
            findings.append(_finding(
                "no_exceptions", name, read.file,
                f"{read.file.path.name} has no rows: with a calendar this means every student was "  # type: ignore[union-attr]
                "present on every membership day, which is rare",
                severity="warning",
            ))
        else:
            findings.append(_finding(
                "not_supplied", name, read.file,
                f"{read.file.path.name} has no rows: {name} is taken as not supplied, and the "  # type: ignore[union-attr]
                "metrics drawn from it are withheld (note not_supplied), not published as zero",
                severity="warning",
            ))
    calendar = reads["calendar"]
    if calendar.rows == 0:
        findings.append(_finding(
            "empty_calendar", "calendar", calendar.file,
            f"{calendar.file.path.name} has no rows: a calendar lists every instructional day of "  # type: ignore[union-attr]
            "each school (remove the file if attendance has one row per day)",
        ))
    return findings


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
        tables={name: typed(r.raw(), r.schema, r.usable_source) for name, r in reads.items() if r.file is not None},
        files={name: r.file.path for name, r in reads.items() if r.file},
        school_year=SchoolYear.parse(report.school_year),
        report=report,
        aggregates=aggregates,
        workdir=workdir,
    )
