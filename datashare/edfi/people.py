"""Build ``schools``, ``enrollments`` and ``students`` (with demographic flags).

Rules where the contract is silent (documented in the README):

- The school year is ``--school-year``, else the most common school year of the sessions,
  else of the enrollments' entry dates, else of the attendance events.
- Enrollments are studentSchoolAssociations in force during the school year (entry on or
  before its last day, exit null or on or after its first). Overlapping associations of one
  student at one school are merged into one span (earliest entry, latest exit, the latest
  entry's grade level), with a warning.
- A student's ``grade_level`` is the entry grade level of their latest enrollment of the
  year. With enrollments, only students enrolled in the year are written.
- A flag is true when an association setting it (program association by program type, or
  education-organization association by English proficiency or student characteristic)
  is in force on some day of the school year: begun on or before its last day and not
  ended before its first. It is false for other students when the source holds any such
  association, and left empty (unknown) when it holds none.
"""

from __future__ import annotations

import polars as pl

from datashare.edfi.common import (
    as_date, date_year, dedupe, known_references, require, unreadable_values, year_label,
)
from datashare.edfi.descriptors import DescriptorMap, map_column
from datashare.edfi.findings import FILE, RECORD, finding, findings_from
from datashare.extract.report import Finding
from datashare.schoolyear import SchoolYear

FLAGS = ("english_learner", "special_education", "economically_disadvantaged")


def school_year_of(frames: dict[str, pl.DataFrame]) -> str | None:
    """The most common school year the source speaks of (see module docstring)."""
    candidates = []
    if "sessions" in frames:
        candidates.append(frames["sessions"].select(year_label("school_year").alias("y")))
    if "enrollments" in frames:
        candidates.append(frames["enrollments"].select(as_date("entry_date").alias("_d")).select(date_year("_d").alias("y")))
    if "attendance_events" in frames:
        candidates.append(frames["attendance_events"].select(as_date("date").alias("_d")).select(date_year("_d").alias("y")))
    for years in candidates:
        counted = years.drop_nulls().group_by("y").len().sort(["len", "y"], descending=[True, True])
        if counted.height:
            return counted["y"][0]
    return None


def build_schools(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, list[Finding]]:
    findings: list[Finding] = []
    out_schema = {"school_id": pl.String, "school_name": pl.String, "district_id": pl.String}
    if "schools" not in frames:
        return pl.DataFrame(schema=out_schema), findings
    schools = frames["schools"]
    if "leas" in frames:  # an XML school names its district through a ref to the LEA element
        refs = frames["leas"].select(pl.col("ref"), pl.col("district_id").alias("_lea")).drop_nulls("ref")
        schools = schools.join(refs, left_on="district_id", right_on="ref", how="left", maintain_order="left").with_columns(
            pl.coalesce("_lea", pl.when(~pl.col("district_id").str.contains("_")).then(pl.col("district_id"))).alias("district_id")
        ).drop("_lea")
    schools, problems = require(schools, {"school_id": "school id", "school_name": "name of institution"}, "schools")
    findings += problems
    schools, problems = dedupe(schools, ["school_id"], "schools")
    findings += problems
    findings += findings_from(
        schools.filter(pl.col("district_id").is_null()), "missing_field", "schools",
        "have no local education agency; district_id left empty", column="district_id", severity="info",
    )
    return schools.select(list(out_schema)).sort("school_id"), findings


def build_enrollments(
    frames: dict[str, pl.DataFrame], year: SchoolYear, dmap: DescriptorMap, schools: pl.Series
) -> tuple[pl.DataFrame, list[Finding]]:
    findings: list[Finding] = []
    schema = {"student_id": pl.String, "school_id": pl.String, "school_year": pl.String,
              "entry_date": pl.Date, "exit_date": pl.Date, "grade_level": pl.String}
    if "enrollments" not in frames:
        return pl.DataFrame(schema=schema), findings
    table = "studentSchoolAssociations"
    # An exit date that does not parse would read as "still enrolled": say so.
    findings += unreadable_values(frames["enrollments"], {"exit_date": (as_date("exit_date"), "a date")}, table)
    raw = frames["enrollments"].with_columns(
        as_date("entry_date").alias("entry_date"), as_date("exit_date").alias("exit_date"),
    )
    raw, problems = require(raw, {"student_id": "student", "school_id": "school", "entry_date": "entry date (YYYY-MM-DD)"}, table)
    findings += problems
    in_force = (pl.col("entry_date") <= year.end) & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= year.start))
    other = raw.filter(~in_force)
    if other.height:
        findings.append(finding(
            "outside_school_year", table,
            f"{other.height:,} association(s) not in force during {year.label}; not imported",
            count=other.height, severity="info",
        ))
    current = raw.filter(in_force)
    current, problems = known_references(current, "school_id", schools, table, "school", "unknown_school_reference")
    findings += problems
    current, problems = map_column(current, "grade", "GradeLevelDescriptor", dmap, table, drop_unmapped=False)
    findings += problems
    merged, problems = _merge_overlaps(current, year, table)
    findings += problems
    return merged.with_columns(pl.lit(year.label).alias("school_year")).select(list(schema)).sort(
        "student_id", "school_id", "entry_date"
    ), findings


def _merge_overlaps(frame: pl.DataFrame, year: SchoolYear, table: str) -> tuple[pl.DataFrame, list[Finding]]:
    """Merge overlapping spans of one student at one school (interval arithmetic, no loop)."""
    end = pl.col("exit_date").fill_null(year.end)
    spans = frame.sort("student_id", "school_id", "entry_date", FILE, RECORD).with_columns(end.alias("_end"))
    pair = ["student_id", "school_id"]
    spans = spans.with_columns(
        pl.col("_end").cum_max().shift(1).over(pair).alias("_reach"),
    ).with_columns(
        (pl.col("_reach").is_null() | (pl.col("entry_date") > pl.col("_reach"))).cum_sum().over(pair).alias("_span")
    )
    grouped = spans.group_by(pair + ["_span"], maintain_order=True).agg(
        pl.col("entry_date").min(),
        pl.when(pl.col("exit_date").is_null().any()).then(None).otherwise(pl.col("exit_date").max()).alias("exit_date"),
        pl.col("grade").sort_by("entry_date").last().alias("grade_level"),
        pl.len().alias("_n"),
    )
    several = spans.join(grouped.filter(pl.col("_n") > 1).select(pair + ["_span"]), on=pair + ["_span"], how="semi")
    findings = findings_from(
        several, "overlapping_enrollments", table,
        "overlap another association of the same student at the same school; merged into one enrollment",
        severity="warning",
    )
    return grouped.drop("_span", "_n"), findings


def build_students(
    frames: dict[str, pl.DataFrame], year: SchoolYear, dmap: DescriptorMap, enrollments: pl.DataFrame,
) -> tuple[pl.DataFrame, list[Finding]]:
    findings: list[Finding] = []
    columns = ["student_id", "first_name", "last_name", "birth_date", "grade_level", "gender",
               "race_ethnicity", *FLAGS]
    if "students" not in frames:
        return pl.DataFrame(schema={c: pl.String for c in columns}), findings
    students = frames["students"]
    students, problems = require(students, {"student_id": "student unique id"}, "students")
    findings += problems
    students, problems = dedupe(students, ["student_id"], "students")
    findings += problems
    grade = (
        enrollments.sort("entry_date").group_by("student_id").agg(pl.col("grade_level").last())
    )
    if "enrollments" in frames:
        outside = students.join(grade, on="student_id", how="anti")
        if outside.height:
            findings.append(finding(
                "not_in_school_year", "students",
                f"{outside.height:,} student(s) have no enrollment in {year.label}; not imported",
                count=outside.height, severity="info",
            ))
        students = students.join(grade, on="student_id", how="inner")
    else:
        students = students.with_columns(pl.lit(None, dtype=pl.String).alias("grade_level"))
    demo, problems = _demographics(frames, dmap)
    findings += problems
    students, problems = map_column(students, "sex", "SexDescriptor", dmap, "students", drop_unmapped=False)
    findings += problems
    students = students.join(demo, on="student_id", how="left").with_columns(
        pl.coalesce("gender", "sex").alias("gender")
    )
    flags, problems = _flags(frames, year, dmap)
    findings += problems
    if flags is None:
        students = students.with_columns([pl.lit(None, dtype=pl.Boolean).alias(f) for f in FLAGS])
    else:
        students = students.join(flags, on="student_id", how="left").with_columns(
            [pl.col(f).fill_null(False) for f in FLAGS]
        )
    return students.with_columns(as_date("birth_date").alias("birth_date")).select(columns).sort("student_id"), findings


def _demographics(frames: dict[str, pl.DataFrame], dmap: DescriptorMap) -> tuple[pl.DataFrame, list[Finding]]:
    """gender and race_ethnicity from the education-organization associations (the last read)."""
    schema = {"student_id": pl.String, "gender": pl.String, "race_ethnicity": pl.String}
    if "edorg_associations" not in frames:
        return pl.DataFrame(schema=schema), []
    table = "studentEducationOrganizationAssociations"
    seoa = frames["edorg_associations"]
    seoa, findings = map_column(seoa, "sex", "SexDescriptor", dmap, table, drop_unmapped=False)
    races = seoa.select(FILE, RECORD, "race").explode("race").drop_nulls("race")
    races, problems = map_column(races, "race", "RaceDescriptor", dmap, table, drop_unmapped=False)
    findings += problems
    races = races.drop_nulls("race").group_by(FILE, RECORD).agg(pl.col("race").unique().sort())
    seoa = seoa.drop("race").join(races, on=[FILE, RECORD], how="left")
    hispanic = pl.col("hispanic").str.to_lowercase().is_in(["true", "1"])
    race = (
        pl.when(hispanic).then(pl.lit("Hispanic or Latino"))
        .when(pl.col("race").list.len() > 1).then(pl.lit("Two or more races"))
        .otherwise(pl.col("race").list.first())
    )
    out = seoa.sort(FILE, RECORD).group_by("student_id").agg(
        pl.col("sex").drop_nulls().last().alias("gender"), race.drop_nulls().last().alias("race_ethnicity"),
    )
    return out.select(list(schema)), findings


def _flags(
    frames: dict[str, pl.DataFrame], year: SchoolYear, dmap: DescriptorMap
) -> tuple[pl.DataFrame | None, list[Finding]]:
    findings: list[Finding] = []
    setters: list[pl.DataFrame] = []
    if "programs" in frames:
        table = "studentProgramAssociations"
        findings += unreadable_values(
            frames["programs"], {"begin": (as_date("begin"), "a date"), "end": (as_date("end"), "a date")}, table)
        programs = frames["programs"].with_columns(as_date("begin").alias("begin"), as_date("end").alias("end"))
        programs, problems = map_column(programs, "program_type", "ProgramTypeDescriptor", dmap, table)
        findings += problems
        in_force = (pl.col("begin").is_null() | (pl.col("begin") <= year.end)) & (
            pl.col("end").is_null() | (pl.col("end") >= year.start))
        setters.append(programs.filter(in_force).select("student_id", pl.col("program_type").alias("flag")))
    if "edorg_associations" in frames:
        table = "studentEducationOrganizationAssociations"
        seoa = frames["edorg_associations"]
        lep, problems = map_column(seoa.drop_nulls("lep"), "lep", "LimitedEnglishProficiencyDescriptor", dmap, table)
        findings += problems
        setters.append(lep.filter(pl.col("lep") == "true").select("student_id", pl.lit("english_learner").alias("flag")))
        known = dmap.frame("StudentCharacteristicDescriptor")
        chars = seoa.select("student_id", pl.col("characteristic").alias("flag")).explode("flag").join(
            known, left_on="flag", right_on="_value", how="inner").select("student_id", pl.col("_code").alias("flag"))
        setters.append(chars)
    if not setters:
        return None, findings
    flags = pl.concat(setters).drop_nulls().unique()
    wide = flags.group_by("student_id").agg([(pl.col("flag") == f).any().alias(f) for f in FLAGS])
    return wide, findings
