"""Build ``calendar``, ``attendance``, ``discipline`` and ``grades`` from Ed-Fi events.

Rules where the contract is silent (documented in the README):

- Calendar: a school's instructional days are its calendarDates whose event maps to
  ``instructional``. Where those count fewer days than its sessions of the year state
  (``totalInstructionalDays``), its calendar is every Monday to Friday inside its sessions,
  with a warning (holidays inside a session are then counted as school days).
- Attendance holds the exceptions Ed-Fi records (the calendar form). Several events of one
  student on one day at one school keep the most severe: unexcused absence, excused
  absence, early departure, tardy, present.
- Discipline: one row per student and incident; ``incident_id`` is ``<school_id>-<incident
  identifier>`` because an incident identifier is unique only within its school. Several
  actions for one student and incident keep the most severe (expulsion, alternative
  placement, out-of-school suspension, in-school suspension, detention, referral, none)
  and sum their days (the actual length, else the assigned length). A student linked to an
  incident without any action has action ``none`` and 0 days.
- Grades: courseTranscripts give credits as recorded; grades take the attempted credits
  from the course's maximum available credits, and earn them when grade_points > 0.
  grade_points follow the shipped grade scale (see ``descriptors.yaml``).
"""

from __future__ import annotations

import polars as pl

from datashare.edfi.common import (
    as_date, as_number, dedupe, in_year, known_references, require, unreadable_values, year_label,
)
from datashare.edfi.descriptors import DescriptorMap, map_column
from datashare.edfi.findings import FILE, RECORD, finding, findings_from
from datashare.extract.report import Finding
from datashare.schoolyear import SchoolYear

ATTENDANCE_SEVERITY = ["present", "tardy", "early_departure", "excused_absence", "unexcused_absence"]
ACTION_SEVERITY = ["none", "referral", "detention", "in_school_suspension", "out_of_school_suspension",
                   "alternative_placement", "expulsion"]

CALENDAR_SCHEMA = {"school_id": pl.String, "date": pl.Date}


def build_calendar(
    frames: dict[str, pl.DataFrame], year: SchoolYear, dmap: DescriptorMap, schools: pl.Series
) -> tuple[pl.DataFrame | None, list[Finding]]:
    """The calendar, or None when the source holds neither calendarDates nor sessions."""
    findings: list[Finding] = []
    if "calendar_dates" not in frames and "sessions" not in frames:
        return None, findings
    dates = pl.DataFrame(schema=CALENDAR_SCHEMA)
    if "calendar_dates" in frames:
        table = "calendarDates"
        cd = frames["calendar_dates"].explode("event").with_columns(as_date("date").alias("date"))
        cd, problems = require(cd, {"school_id": "school", "date": "date (YYYY-MM-DD)"}, table)
        findings += problems
        cd, problems = map_column(cd, "event", "CalendarEventDescriptor", dmap, table)
        findings += problems
        dates = cd.filter((pl.col("event") == "instructional") & in_year("date", year)).select(list(CALENDAR_SCHEMA)).unique()
    stated = pl.DataFrame(schema={"school_id": pl.String, "stated": pl.Int64, "weekdays": pl.Int64})
    weekdays = pl.DataFrame(schema=CALENDAR_SCHEMA)
    if "sessions" in frames:
        table = "sessions"
        sessions = frames["sessions"].with_columns(
            as_date("begin").alias("begin"), as_date("end").alias("end"),
            pl.col("days").cast(pl.Int64, strict=False).alias("days"), year_label("school_year").alias("school_year"),
        )
        sessions, problems = require(sessions, {"school_id": "school", "begin": "begin date", "end": "end date"}, table)
        findings += problems
        sessions = sessions.filter(
            pl.col("school_year").is_null() | (pl.col("school_year") == year.label)
        ).filter((pl.col("begin") <= year.end) & (pl.col("end") >= year.start))
        weekdays = (
            sessions.select("school_id", pl.date_ranges("begin", "end").alias("date")).explode("date")
            .filter(in_year("date", year) & (pl.col("date").dt.weekday() <= 5)).unique()
        )
        stated = sessions.group_by("school_id").agg(pl.col("days").sum().alias("stated")).join(
            weekdays.group_by("school_id").agg(pl.len().alias("weekdays")), on="school_id", how="left")
    counted = dates.group_by("school_id").agg(pl.len().alias("counted"))
    plan = (
        pl.DataFrame({"school_id": schools}).join(counted, on="school_id", how="left")
        .join(stated, on="school_id", how="left").with_columns(pl.col("counted").fill_null(0))
    )
    from_sessions = plan.filter((pl.col("counted") < pl.col("stated").fill_null(0)) & (pl.col("weekdays") > 0))
    for row in from_sessions.sort("school_id").iter_rows(named=True):
        findings.append(finding(
            "calendar_from_sessions", "calendarDates",
            f"school {row['school_id']}: calendarDates give {row['counted']} instructional day(s) but its sessions "
            f"state {row['stated']}; its calendar is the sessions' {row['weekdays']} weekdays (Monday to Friday)",
            severity="warning",
        ))
    none = plan.filter((pl.col("counted") == 0) & ~pl.col("school_id").is_in(from_sessions["school_id"].implode()))
    if none.height:
        findings.append(finding(
            "no_calendar", "calendarDates",
            f"{none.height} school(s) have neither calendarDates nor sessions in {year.label}: "
            + ", ".join(none["school_id"].sort().to_list()[:10]),
            count=none.height, severity="warning",
        ))
    calendar = pl.concat([
        dates.join(from_sessions.select("school_id"), on="school_id", how="anti"),
        weekdays.join(from_sessions.select("school_id"), on="school_id", how="semi"),
    ]).filter(pl.col("school_id").is_in(schools.implode()))
    return calendar.unique().sort("school_id", "date"), findings


def build_attendance(
    frames: dict[str, pl.DataFrame], year: SchoolYear, dmap: DescriptorMap, schools: pl.Series, students: pl.Series,
) -> tuple[pl.DataFrame, list[Finding]]:
    schema = {"student_id": pl.String, "school_id": pl.String, "date": pl.Date, "status": pl.String}
    if "attendance_events" not in frames:
        return pl.DataFrame(schema=schema), []
    table = "studentSchoolAttendanceEvents"
    events = frames["attendance_events"].with_columns(as_date("date").alias("date"))
    events, findings = require(events, {"student_id": "student", "school_id": "school", "date": "event date (YYYY-MM-DD)"}, table)
    events, problems = map_column(events, "category", "AttendanceEventCategoryDescriptor", dmap, table)
    findings += problems
    events, problems = require(events, {"category": "attendance event category"}, table)
    findings += problems
    other = events.filter(~in_year("date", year))
    if other.height:
        findings.append(finding("outside_school_year", table,
                                f"{other.height:,} event(s) fall outside {year.label}; not imported",
                                count=other.height, severity="info"))
    events = events.filter(in_year("date", year))
    events, problems = known_references(events, "school_id", schools, table, "school", "unknown_school_reference")
    findings += problems
    events, problems = known_references(events, "student_id", students, table, "student", "unknown_student_reference")
    findings += problems
    key = ["student_id", "school_id", "date"]
    rank = pl.col("category").replace_strict(ATTENDANCE_SEVERITY, list(range(len(ATTENDANCE_SEVERITY))), default=0)
    several = events.filter(pl.struct(key).is_duplicated())
    findings += findings_from(
        several, "several_attendance_events", table,
        "share their student, school and day with another event; the most severe of the day is kept",
        severity="warning",
    )
    kept = events.with_columns(rank.alias("_rank")).sort(key + ["_rank"]).unique(key, keep="last")
    return kept.select(*key, pl.col("category").alias("status")).sort(key), findings


def build_discipline(
    frames: dict[str, pl.DataFrame], year: SchoolYear, dmap: DescriptorMap, schools: pl.Series, students: pl.Series,
) -> tuple[pl.DataFrame, list[Finding]]:
    schema = {"incident_id": pl.String, "student_id": pl.String, "school_id": pl.String, "incident_date": pl.Date,
              "behavior": pl.String, "action": pl.String, "days_removed": pl.Float64}
    if "incidents" not in frames:
        findings = []
        for kind, label in (("behaviors", "studentDisciplineIncidentBehaviorAssociations"), ("actions", "disciplineActions")):
            if kind in frames:
                findings.append(finding("missing_resource", "disciplineIncidents",
                                        f"{label} are present but disciplineIncidents are not; discipline is not imported"))
        return pl.DataFrame(schema=schema), findings
    findings: list[Finding] = []
    incidents = frames["incidents"].with_columns(as_date("date").alias("date"), pl.col("behavior").list.first())
    incidents, problems = require(incidents, {"incident": "incident identifier", "school_id": "school",
                                              "date": "incident date (YYYY-MM-DD)"}, "disciplineIncidents")
    findings += problems
    incidents, problems = dedupe(incidents, ["school_id", "incident"], "disciplineIncidents")
    findings += problems
    incidents = incidents.filter(in_year("date", year))
    incidents, problems = map_column(incidents, "behavior", "BehaviorDescriptor", dmap, "disciplineIncidents", drop_unmapped=False)
    findings += problems
    inc = incidents.select("ref", "school_id", "incident", pl.col("date").alias("incident_date"),
                           pl.col("behavior").alias("incident_behavior"))
    links = _links(frames, dmap, inc, findings)
    actions = _actions(frames, dmap, findings)
    pair = ["school_id", "incident", "student_id"]
    rows = pl.concat([links.select(pair), actions.select(pair)]).unique()
    rows = rows.join(inc.drop("ref"), on=["school_id", "incident"], how="left")
    lost = rows.filter(pl.col("incident_date").is_null())
    if lost.height:  # links or actions of incidents outside the year or not in the source
        findings.append(finding(
            "unknown_incident_reference", "disciplineActions",
            f"{lost.height:,} student-incident pair(s) name an incident not in the source for {year.label}; not imported",
            count=lost.height, severity="warning"))
    rows = rows.filter(pl.col("incident_date").is_not_null())
    rows, problems = known_references(rows.with_columns(pl.lit(None, dtype=pl.String).alias(FILE), pl.lit(None, dtype=pl.Int64).alias(RECORD)),
                                      "student_id", students, "studentDisciplineIncidentBehaviorAssociations",
                                      "student", "unknown_student_reference")
    findings += problems
    rows = rows.join(links.select(*pair, "behavior").unique(pair, keep="first"), on=pair, how="left")
    summary = actions.group_by(pair).agg(
        pl.col("_rank").max(), pl.col("days").fill_null(0).sum().alias("days_removed"), pl.col("_unmapped").any(),
    )
    rows = rows.join(summary, on=pair, how="left").filter(~pl.col("_unmapped").fill_null(False))
    out = rows.select(
        (pl.col("school_id") + "-" + pl.col("incident")).alias("incident_id"), "student_id", "school_id", "incident_date",
        pl.coalesce("behavior", "incident_behavior").alias("behavior"),
        pl.col("_rank").fill_null(0).replace_strict(list(range(len(ACTION_SEVERITY))), ACTION_SEVERITY).alias("action"),
        pl.col("days_removed").fill_null(0.0),
    )
    out, problems = known_references(out.with_columns(pl.lit(None, dtype=pl.String).alias(FILE), pl.lit(None, dtype=pl.Int64).alias(RECORD)),
                                     "school_id", schools, "disciplineIncidents", "school", "unknown_school_reference")
    findings += problems
    return out.select(list(schema)).sort("incident_id", "student_id"), findings


def _links(frames: dict[str, pl.DataFrame], dmap: DescriptorMap, inc: pl.DataFrame, findings: list[Finding]) -> pl.DataFrame:
    schema = {"school_id": pl.String, "incident": pl.String, "student_id": pl.String, "behavior": pl.String}
    if "behaviors" not in frames:
        return pl.DataFrame(schema=schema)
    table = "studentDisciplineIncidentBehaviorAssociations"
    links = frames["behaviors"]
    refs = inc.select("ref", pl.col("school_id").alias("_school"), pl.col("incident").alias("_incident")).drop_nulls("ref")
    links = links.join(refs, left_on="incident_ref", right_on="ref", how="left", maintain_order="left").with_columns(
        pl.coalesce("school_id", "_school").alias("school_id"), pl.coalesce("incident", "_incident").alias("incident"))
    links, problems = require(links, {"student_id": "student", "incident": "discipline incident", "school_id": "incident's school"}, table)
    findings += problems
    links, problems = map_column(links, "behavior", "BehaviorDescriptor", dmap, table, drop_unmapped=False)
    findings += problems
    return links.select(list(schema))


def _actions(frames: dict[str, pl.DataFrame], dmap: DescriptorMap, findings: list[Finding]) -> pl.DataFrame:
    schema = {"school_id": pl.String, "incident": pl.String, "student_id": pl.String, "_rank": pl.Int64,
              "days": pl.Float64, "_unmapped": pl.Boolean}
    if "actions" not in frames:
        return pl.DataFrame(schema=schema)
    table = "disciplineActions"
    actions = frames["actions"]
    actions, problems = require(actions, {"student_id": "student"}, table)
    findings += problems
    unlinked = actions.filter(pl.col("link_incident").list.len().fill_null(0) == 0)
    findings += findings_from(unlinked, "missing_field", table,
                              "name no student discipline incident association; not imported", column="link_incident")
    actions = actions.filter(pl.col("link_incident").list.len().fill_null(0) > 0)
    actions, problems = dedupe(actions, ["action_id", "date", "student_id"], table)
    findings += problems
    findings += unreadable_values(actions, {"length": (as_number("length"), "a number of days")}, table)
    actions = actions.with_columns(
        pl.when(pl.col("link_school").list.len() == pl.col("link_incident").list.len())
        .then(pl.col("link_school")).otherwise(pl.col("link_incident").list.eval(pl.lit(None, dtype=pl.String)))
        .alias("link_school"),
    ).explode("link_incident", "link_school").with_columns(
        pl.coalesce("link_school", "school_id").alias("school_id"), pl.col("link_incident").alias("incident"),
        as_number("length").alias("days"),
    ).explode("discipline").with_columns(pl.col("discipline").alias("_raw"))
    actions, problems = map_column(actions, "discipline", "DisciplineDescriptor", dmap, table, drop_unmapped=False)
    findings += problems
    findings += findings_from(actions.filter(pl.col("_raw").is_null()), "missing_field", table,
                              "have no discipline; their student and incident are not imported", column="discipline")
    rank = pl.col("discipline").replace_strict(ACTION_SEVERITY, list(range(len(ACTION_SEVERITY))), default=None)
    per_action = actions.group_by(FILE, RECORD, "school_id", "incident", "student_id").agg(
        rank.max().alias("_rank"), pl.col("days").first(), pl.col("discipline").is_null().any().alias("_unmapped"),
    )
    return per_action.select("school_id", "incident", "student_id", pl.col("_rank").cast(pl.Int64), "days", "_unmapped")


def build_grades(
    frames: dict[str, pl.DataFrame], year: SchoolYear, dmap: DescriptorMap, schools: pl.Series, students: pl.Series,
) -> tuple[pl.DataFrame, list[Finding]]:
    schema = {"student_id": pl.String, "school_id": pl.String, "school_year": pl.String, "term": pl.String,
              "course_id": pl.String, "subject": pl.String, "letter_grade": pl.String, "grade_points": pl.Float64,
              "credits_attempted": pl.Float64, "credits_earned": pl.Float64}
    findings: list[Finding] = []
    parts: list[pl.DataFrame] = []
    courses = frames.get("courses", pl.DataFrame(schema={"course_id": pl.String, "subject": pl.String, "credits": pl.String}))
    courses = courses.unique("course_id", keep="last").select(
        "course_id", pl.col("subject").alias("_course_subject"), as_number("credits").alias("_course_credits"))
    for kind, table, term_descriptor in (("transcripts", "courseTranscripts", "TermDescriptor"),
                                         ("grades", "grades", "GradingPeriodDescriptor")):
        if kind not in frames:
            continue
        g = frames[kind].with_columns(year_label("school_year").alias("school_year"))
        if "subject" not in g.columns:
            g = g.with_columns(pl.lit(None, dtype=pl.String).alias("subject"))
        g = g.join(courses, on="course_id", how="left", maintain_order="left").with_columns(
            pl.coalesce("subject", "_course_subject").alias("subject"))
        g = g.filter(pl.col("school_year").is_null() | (pl.col("school_year") == year.label)).with_columns(
            pl.lit(year.label).alias("school_year"))
        g, problems = require(g, {"student_id": "student", "school_id": "school", "course_id": "course code",
                                  "term": "term or grading period"}, table)
        findings += problems
        g, problems = map_column(g, "term", term_descriptor, dmap, table)
        findings += problems
        g, problems = map_column(g, "subject", "AcademicSubjectDescriptor", dmap, table)
        findings += problems
        g = g.with_columns(_points(dmap).alias("grade_points"), _letter(dmap).alias("letter_grade"))
        findings += findings_from(g.filter(pl.col("grade_points").is_null()), "invalid_grade", table,
                                  "have no letter grade on the grade scale and no numeric grade from 0 to 100; not imported",
                                  column="letter")
        g = g.filter(pl.col("grade_points").is_not_null())
        if kind == "transcripts":
            findings += unreadable_values(g, {"attempted": (as_number("attempted"), "a number of credits"),
                                              "earned": (as_number("earned"), "a number of credits")}, table)
            g = g.with_columns(as_number("attempted").alias("credits_attempted"), as_number("earned").alias("credits_earned"))
        else:
            g = g.with_columns(pl.col("_course_credits").alias("credits_attempted")).with_columns(
                pl.when(pl.col("grade_points") > 0).then(pl.col("credits_attempted")).otherwise(0.0).alias("credits_earned"))
        g, problems = require(g, {"subject": "academic subject (on the record or its course)",
                                  "credits_attempted": "attempted credits (or the course's maximum available credits)"}, table)
        findings += problems
        g, problems = dedupe(g, ["student_id", "course_id", "term"], table)
        findings += problems
        g, problems = known_references(g, "school_id", schools, table, "school", "unknown_school_reference")
        findings += problems
        g, problems = known_references(g, "student_id", students, table, "student", "unknown_student_reference")
        findings += problems
        parts.append(g.with_columns(pl.col("credits_earned").fill_null(0.0)).select(list(schema)))
    if not parts:
        return pl.DataFrame(schema=schema), findings
    return pl.concat(parts).unique(["student_id", "course_id", "term"], keep="first", maintain_order=True).sort(
        "student_id", "course_id", "term"), findings


def _letter(dmap: DescriptorMap) -> pl.Expr:
    """The letter grade as recorded, else the letter the numeric grade falls on."""
    numeric = as_number("numeric")
    expr = pl.lit(None, dtype=pl.String)
    for letter, floor in sorted(dmap.numeric_to_letter.items(), key=lambda kv: kv[1]):
        expr = pl.when(numeric.is_between(floor, 100.0)).then(pl.lit(letter)).otherwise(expr)
    return pl.coalesce(pl.col("letter").str.strip_chars(), expr)


def _points(dmap: DescriptorMap) -> pl.Expr:
    letters = list(dmap.letter_points)
    points = [dmap.letter_points[k] for k in letters]
    return _letter(dmap).str.to_uppercase().str.replace_all(" ", "").replace_strict(
        letters, points, default=None, return_dtype=pl.Float64)
