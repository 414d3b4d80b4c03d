"""``import edfi``: read an Ed-Fi source, build every extract table, write, validate."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from datashare.edfi.api import read_resources
from datashare.edfi.descriptors import load_map
from datashare.edfi.events import build_attendance, build_calendar, build_discipline, build_grades
from datashare.edfi.findings import ImportReport, finding
from datashare.edfi.interchange import read_interchange
from datashare.edfi.people import build_enrollments, build_schools, build_students, school_year_of
from datashare.edfi.resources import BY_NAME
from datashare.edfi.write import copy_or_header, prepare_out, write_table
from datashare.errors import DatashareError, ImportSourceError
from datashare.extract.report import Finding
from datashare.schoolyear import SchoolYear

_MISSING = (
    # (kinds, severity, what the import does without them)
    (("schools",), "error", "schools.csv is header-only"),
    (("students",), "error", "students.csv is header-only"),
    (("enrollments",), "error",
     "enrollments.csv is header-only and students have no grade level (XML: StudentEnrollment.xml)"),
    (("attendance_events",), "warning", "attendance.csv is header-only: attendance not supplied"),
    (("incidents",), "warning", "discipline.csv is header-only: discipline not supplied"),
    (("grades", "transcripts"), "warning", "grades.csv is header-only: grades not supplied"),
    (("programs", "edorg_associations"), "warning",
     "english_learner, special_education and economically_disadvantaged are left empty (unknown)"),
)


def read_source(source: Path) -> tuple[str, dict[str, pl.DataFrame], list[Finding]]:
    """Every Ed-Fi record under ``source`` (JSON resources and/or XML interchanges)."""
    if not source.is_dir():
        raise ImportSourceError(f"Ed-Fi source {source} is not a folder")
    findings: list[Finding] = []
    parts: dict[str, list[pl.DataFrame]] = {}
    frames, problems, files = read_resources(source)
    findings += problems
    for name, frame in frames.items():
        parts.setdefault(name, []).append(frame)
    xml_files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() == ".xml")
    for path in xml_files:
        frames, problems = read_interchange(path)
        findings += problems
        for name, frame in frames.items():
            parts.setdefault(name, []).append(frame)
    kinds = [k for k, v in (("api", files), ("xml", xml_files)) if v]
    if not kinds:
        raise ImportSourceError(
            f"Ed-Fi source {source} holds no Ed-Fi API resource (<resource>.json, .jsonl, or <resource>/...) "
            "and no XML interchange (*.xml)"
        )
    merged = {name: pl.concat(p, how="diagonal_relaxed") if len(p) > 1 else p[0] for name, p in parts.items()}
    return "+".join(kinds), merged, findings


def import_edfi(
    source: str | Path, out: str | Path, *, school_year: str | None = None, descriptor_map: str | Path | None = None,
    service_contacts: str | Path | None = None, consents: str | Path | None = None,
) -> ImportReport:
    """Build an extract folder from Ed-Fi data and validate it; every problem is a finding."""
    source, out = Path(source), Path(out)
    dmap = load_map(Path(descriptor_map) if descriptor_map else None)
    kind, frames, findings = read_source(source)
    label = school_year or school_year_of(frames)
    if label is None:
        raise ImportSourceError(
            f"Ed-Fi source {source}: no session, enrollment or attendance event names a school year; pass --school-year"
        )
    try:
        year = SchoolYear.parse(label)
    except ValueError as exc:
        raise ImportSourceError(f"--school-year: {exc}") from None
    for kinds, severity, consequence in _MISSING:
        if not any(k in frames for k in kinds):
            names = " or ".join(BY_NAME[k].label for k in kinds)
            findings.append(finding("missing_resource", BY_NAME[kinds[0]].label,
                                    f"the source holds no {names}; {consequence}", severity=severity))
    prepare_out(out)
    built: dict[str, int] = {}
    schools, problems = build_schools(frames)
    findings += problems
    school_ids = schools["school_id"]
    enrollments, problems = build_enrollments(frames, year, dmap, school_ids)
    findings += problems
    students, problems = build_students(frames, year, dmap, enrollments)
    findings += problems
    student_ids = students["student_id"]
    calendar, problems = build_calendar(frames, year, dmap, school_ids)
    findings += problems
    attendance, problems = build_attendance(frames, year, dmap, school_ids, student_ids)
    findings += problems
    if calendar is None and attendance.height:
        findings.append(finding(
            "no_calendar", "studentSchoolAttendanceEvents",
            "attendance events record exceptions only, but the source holds no calendarDates or sessions to say "
            "which days were school days; attendance is not imported",
        ))
        attendance = attendance.clear()
    elif calendar is not None:
        off = attendance.join(calendar, on=["school_id", "date"], how="anti")
        if off.height:
            weekend = off.filter(pl.col("date").dt.weekday() > 5).height
            findings.append(finding(
                "outside_calendar", "studentSchoolAttendanceEvents",
                f"{off.height:,} attendance event(s) fall on a day that is not an instructional day of the school "
                f"({weekend:,} on a Saturday or Sunday); they are written, and the validator reports them",
                count=off.height, severity="warning",
            ))
    discipline, problems = build_discipline(frames, year, dmap, school_ids, student_ids)
    findings += problems
    grades, problems = build_grades(frames, year, dmap, school_ids, student_ids)
    findings += problems
    tables = {"schools": schools, "students": students, "enrollments": enrollments, "attendance": attendance,
              "discipline": discipline, "grades": grades}
    if calendar is not None:
        tables["calendar"] = calendar
    for name, frame in tables.items():
        built[name] = write_table(out, name, frame)
    for name, given, option in (("service_contacts", service_contacts, "--service-contacts"),
                                ("consents", consents, "--consents")):
        rows, problems = copy_or_header(out, name, Path(given) if given else None, option)
        findings += problems
        if rows is not None:
            built[name] = rows
    validation = None
    try:
        from datashare.extract import validate

        validation = validate(out, school_year=year.label)
    except DatashareError as exc:
        findings.append(finding("validation_failed", "extract", f"the written extract could not be validated: {exc}"))
    except pl.exceptions.PolarsError as exc:  # a validator without the robustness of issue 11 part 3
        findings.append(finding("validation_failed", "extract",
                                f"the validator stopped on the written extract ({type(exc).__name__}); run datashare validate on it"))
    rank = {"error": 0, "warning": 1, "info": 2}
    ordered = tuple(sorted(findings, key=lambda f: rank[f.severity]))  # stable: source order within a severity
    return ImportReport(str(source), str(out), kind, year.label, built, ordered, validation)
