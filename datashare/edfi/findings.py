"""The import's findings and its report, in the validator's finding style.

A finding names the Ed-Fi resource (as ``table``), the source file and the record numbers
(the line of a JSON lines file, the position in a JSON array, the element's position among
the top-level elements of an XML interchange); never a student's id, name or date. Codes
such as descriptor values, school ids and resource names may appear in messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from datashare.extract.report import FIXES, MAX_EXAMPLE_ROWS, Finding, ValidationReport

RECORD = "_record"
"""Internal column of every source frame: the record's number within its file."""
FILE = "_file"
"""Internal column of every source frame: the file the record came from."""

IMPORT_FIXES: dict[str, str] = {
    "missing_resource": "export the resource from Ed-Fi into the source folder, or accept the table as not supplied",
    "unreadable_record": "export the file again; each record must be one JSON object (or one XML element)",
    "unreadable_file": "export the file again as UTF-8 JSON, JSON lines or Ed-Fi XML",
    "missing_record_id": "data lake records need their Ed-Fi resource id (id or Id) to apply upserts and deletes",
    "missing_field": "fill in the field in the Ed-Fi source; the extract needs it",
    "unmapped_descriptor": "map the descriptor value in a --descriptor-map YAML file (see README: Ed-Fi import)",
    "unknown_school_reference": "load the school into Ed-Fi, or check whether it was deleted",
    "unknown_student_reference": "load the student into Ed-Fi, or check whether the student was deleted",
    "unknown_incident_reference": "load the discipline incident into Ed-Fi",
    "overlapping_enrollments": "end the earlier studentSchoolAssociation before the later one begins",
    "duplicate_record": "remove the duplicate record from the Ed-Fi source",
    "calendar_from_sessions": "load the school's calendarDates (one per instructional day) into Ed-Fi",
    "no_calendar": "load calendarDates or sessions for the school",
    "several_attendance_events": "nothing to do unless unexpected: the most severe event of the day is kept",
    "not_supplied": "pass the CSV file with the option named in the message",
    "no_school_year": "pass --school-year 2025-2026",
    "outside_school_year": "nothing to do: records of other school years are not imported",
    "no_grade_level": "load the student's studentSchoolAssociation with its entry grade level",
    "no_credits": "load the course with its maximum available credits, or use courseTranscripts",
    "unknown_course": "load the course (with its academic subject) into Ed-Fi",
    "invalid_grade": "record a letter grade or a numeric grade from 0 to 100",
    "unreadable_value": "correct the field in the Ed-Fi source: a date as YYYY-MM-DD, a number as digits",
    "not_imported": "nothing to do: these records have no place in the extract",
    "not_in_school_year": "nothing to do: students without an enrollment in the school year are not imported",
}
FIXES.update({code: fix for code, fix in IMPORT_FIXES.items() if code not in FIXES})


def finding(
    code: str, table: str, message: str, *, file: str | Path | None = None, column: str | None = None,
    count: int = 1, rows: tuple[int, ...] = (), severity: str = "error",
) -> Finding:
    """One import finding; ``table`` is the Ed-Fi resource (or the extract table built)."""
    return Finding(
        code=code, severity=severity, table=table, column=column, count=count,  # type: ignore[arg-type]
        rows=tuple(rows)[:MAX_EXAMPLE_ROWS], message=message, file=str(file) if file is not None else None,
    )


def findings_from(
    bad: pl.DataFrame, code: str, table: str, describe: str, *, column: str | None = None,
    severity: str = "error", detail: str | None = None,
) -> list[Finding]:
    """One finding per source file for the records in ``bad`` (columns FILE and RECORD).

    ``describe`` is the message's tail; ``detail``, when given, names a column of ``bad``
    holding a code (a descriptor, a school id) to split the findings by, never a student value.
    """
    if bad.is_empty():
        return []
    keys = [FILE] + ([detail] if detail else [])
    grouped = (
        bad.group_by(keys, maintain_order=True)
        .agg(pl.len().alias("n"), pl.col(RECORD).sort().head(MAX_EXAMPLE_ROWS).alias("rows"))
        .sort(keys, nulls_last=True)
    )
    out = []
    for row in grouped.iter_rows(named=True):
        name = Path(row[FILE]).name if row[FILE] else table
        what = describe.format(detail=row[detail]) if detail else describe
        out.append(finding(
            code, table, f"{name}: {row['n']:,} record(s) {what}", file=row[FILE], column=column,
            count=row["n"], rows=tuple(int(r) for r in row["rows"] if r is not None), severity=severity,
        ))
    return out


@dataclass(frozen=True)
class ImportReport:
    """What an import read, what it built, its own findings and the validator's report."""

    source: str
    out: str
    kind: str
    school_year: str | None
    built: dict[str, int]
    findings: tuple[Finding, ...] = field(default=())
    validation: ValidationReport | None = None

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def valid(self) -> bool:
        """True when neither the import nor the validator found an error."""
        return not self.errors and (self.validation is None or self.validation.valid)

    def codes(self) -> set[tuple[str, str]]:
        """(table, code) of every import finding, for terse assertions."""
        return {(f.table, f.code) for f in self.findings}

    def to_dict(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "source": self.source,
            "out": self.out,
            "kind": self.kind,
            "school_year": self.school_year,
            "built": self.built,
            "error_count": len(self.errors),
            "findings": [f.to_dict() for f in self.findings],
            "validation": self.validation.to_dict() if self.validation is not None else None,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
