"""Validation findings as data: stable codes, a table, a column, rows and a count.

A report never holds a cell value: a finding names where the problem is (file, table,
column, row numbers) and what was expected, so it can be shared with a vendor or pasted
into a ticket without leaking a student's name or birth date.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from datashare.errors import ExtractError

Severity = Literal["error", "warning", "info"]

MAX_EXAMPLE_ROWS = 5

FIXES: dict[str, str] = {
    "missing_table": "export the table as <table>.csv or <table>.parquet into the extract folder",
    "both_formats": "keep only one of the CSV and Parquet files of the table",
    "empty_file": "export the table again; a table with no rows still needs its header line",
    "unreadable_file": "export the file again as UTF-8 CSV with a header row (or as Parquet)",
    "missing_column": "add the column to the export (check its spelling in the header)",
    "duplicate_column": "give every column of the header a distinct name",
    "wrong_dtype": "store the column as text (or as the type the schema names) in the Parquet file",
    "ignored_column": "nothing to do: the column is not part of the schema and is never read",
    "repeated_header": "remove the repeated header lines (files concatenated with their headers)",
    "missing_value": "fill in the cells; the column is required",
    "empty_id": "fill in the identifier",
    "invalid_date": "write dates as YYYY-MM-DD",
    "invalid_bool": "write true/false or 1/0",
    "invalid_number": "write a plain number (digits, optional decimal point)",
    "invalid_value": "use one of the allowed values",
    "invalid_school_year": "write the school year as 2025-2026",
    "out_of_range": "correct the value into the allowed range",
    "duplicate_key": "remove or merge the duplicate rows: the key must be unique",
    "unknown_student": "add the student to students, or remove the rows that name them",
    "unknown_school": "add the school to schools, or correct the school_id",
    "outside_school_year": "remove rows dated outside the school year, or export the right year",
    "birth_date_out_of_range": "correct the birth date in the SIS; a placeholder such as 0001-01-01 is not a birth date",
    "outside_enrollment": "check entry_date/exit_date in enrollments, or the attendance rows",
    "exit_before_entry": "correct the enrollment's dates: exit_date is the last day enrolled",
    "revoked_before_granted": "correct the consent's dates: revoked_on cannot precede granted_on",
    "wrong_school_year": "export one school year per extract",
    "no_school_year": "add enrollments (their school_year names the year of the extract)",
    "missing_header": "export the table again with its header line first (the column names)",
    "id_whitespace": "remove the spaces before and after identifiers: 000007 and '000007 ' are one student",
    "invalid_text": "export the file again as UTF-8; remove NUL bytes from text cells",
    "overlapping_enrollment": "correct entry_date/exit_date so that one student's enrollments at a school do not overlap",
    "outside_calendar": "add the day to calendar for that school, or correct the attendance row or the enrollment dates",
    "weekend_attendance": "nothing to do if the school meets on that day; else correct the attendance date",
    "not_supplied": "export the table with its rows if the SIS holds them; until then its metrics are withheld",
    "no_exceptions": "nothing to do if every student was present every day; else export the absences",
    "empty_calendar": "export the school calendar's instructional days, or remove calendar for daily attendance",
}
"""How to fix each finding, by code: printed with it and kept in the JSON report."""


@dataclass(frozen=True)
class Finding:
    """One problem in the extract, without any cell value."""

    code: str
    severity: Severity
    table: str
    column: str | None
    count: int
    rows: tuple[int, ...]
    message: str
    file: str | None = None

    @property
    def fix(self) -> str:
        return FIXES.get(self.code, "")

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["rows"] = list(self.rows)
        data["fix"] = self.fix
        return data


@dataclass(frozen=True)
class TableInfo:
    """What was read for one table: the file, its format and its row count."""

    table: str
    file: str | None
    format: str | None
    rows: int | None


@dataclass(frozen=True)
class ValidationReport:
    """Every finding of one validation run, and what was read."""

    folder: str
    school_year: str | None
    tables: tuple[TableInfo, ...]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def valid(self) -> bool:
        """True when no finding is an error (warnings and notes do not block)."""
        return not self.errors

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    def flatten(self, fields: Sequence[str] = ("table", "column", "code")) -> list[list[object]]:
        """The findings as rows of the named attributes, for terse assertions."""
        return [[getattr(f, name) for name in fields] for f in self.findings]

    def by_table(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.table, []).append(finding)
        return grouped

    def to_dict(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "folder": self.folder,
            "school_year": self.school_year,
            "tables": [asdict(t) for t in self.tables],
            "error_count": len(self.errors),
            "findings": [f.to_dict() for f in self.findings],
        }

    def write_json(self, path: Path) -> None:
        """Write the report as JSON, creating the folder it goes into if needed."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ExtractError(
                f"cannot write the validation report to {path}: {exc.strerror or type(exc).__name__}; "
                "give a --report path in a folder you can write to"
            ) from None


def make_finding(
    code: str, table: str, file: object | None, message: str, *,
    column: str | None = None, count: int = 1, rows: tuple[int, ...] = (), severity: str = "error",
) -> Finding:
    """A finding about ``file`` (a ``TableFile`` or ``None``), which must hold no cell value."""
    path = getattr(file, "path", None)
    return Finding(
        code=code, severity=severity, table=table, column=column, count=count,  # type: ignore[arg-type]
        rows=rows, message=message, file=str(path) if path is not None else None,
    )


def sort_findings(findings: Iterable[Finding], order: Sequence[str]) -> tuple[Finding, ...]:
    """Findings in table order, then by column and code: stable across runs."""
    rank = {name: i for i, name in enumerate(order)}
    return tuple(
        sorted(findings, key=lambda f: (rank.get(f.table, len(rank)), f.column or "", f.code, f.rows))
    )
