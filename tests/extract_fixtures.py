"""A tiny valid extract, written as CSV, for tests that corrupt one cell at a time."""

from __future__ import annotations

from pathlib import Path

HEADERS = {
    "schools": "school_id,school_name,district_id",
    "students": "student_id,first_name,last_name,birth_date,grade_level,gender,race_ethnicity,english_learner,special_education,economically_disadvantaged",
    "enrollments": "student_id,school_id,school_year,entry_date,exit_date,grade_level",
    "attendance": "student_id,school_id,date,status",
    "discipline": "incident_id,student_id,school_id,incident_date,behavior,action,days_removed",
    "grades": "student_id,school_id,school_year,term,course_id,subject,letter_grade,grade_points,credits_attempted,credits_earned",
    "service_contacts": "partner_id,student_id,contact_date,service_type,minutes,school_id",
    "consents": "consent_id,student_id,partner_id,scope,granted_on,revoked_on,signed_by",
}

ROWS = {
    "schools": ["0101,Maple Elementary,apple-tree", "0202,Oak Middle,apple-tree"],
    "students": [
        "000123,Ana,Lopez,2014-03-02,05,F,Hispanic,true,false,true",
        "000124,Ben,Okafor,2013-11-20,06,M,Black,false,false,false",
        "000125,Cy,Nguyen,2014-07-09,05,X,Asian,0,1,0",
    ],
    "enrollments": [
        "000123,0101,2025-2026,2025-08-18,,05",
        "000124,0202,2025-2026,2025-08-18,2026-01-16,06",
        "000124,0202,2025-2026,2026-02-02,,06",
        "000125,0101,2025-2026,2025-08-18,,05",
    ],
    "attendance": [
        "000123,0101,2025-08-18,present",
        "000123,0101,2025-08-19,tardy",
        "000123,0101,2025-08-20,unexcused_absence",
        "000124,0202,2025-08-18,present",
        "000124,0202,2026-02-02,excused_absence",
        "000125,0101,2025-08-18,early_departure",
    ],
    "discipline": [
        "I-1,000124,0202,2025-10-01,fighting,out_of_school_suspension,2",
        "I-2,000123,0101,2025-11-12,disruption,referral,0",
    ],
    "grades": [
        "000123,0101,2025-2026,S1,MATH5,math,B,3,1,1",
        "000124,0202,2025-2026,S1,ELA6,ela,F,0,1,0",
        "000125,0101,2025-2026,S1,MATH5,math,A,4.0,0.5,0.5",
    ],
    "service_contacts": [
        "el-centro,000123,2025-09-03,tutoring,45,0101",
        "el-centro,000123,2025-09-03,tutoring,30,",
        "el-centro,000124,2025-06-20,mentoring,,",
    ],
    "consents": [
        "C-1,000123,el-centro,individual_data,2025-09-01,,parent",
        "C-2,000124,el-centro,individual_data,2025-09-01,2026-01-01,guardian",
    ],
}


def write_extract(folder: Path, overrides: dict[str, list[str]] | None = None) -> Path:
    """Write the tiny extract; ``overrides`` replaces a table's data rows."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = {**ROWS, **(overrides or {})}
    for table, header in HEADERS.items():
        lines = [header, *rows[table]]
        (folder / f"{table}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def csv_line(table: str, index: int) -> int:
    """The CSV line number of data row ``index`` (0-based) of a table: header is line 1."""
    return index + 2
