"""``datashare import edfi`` on the shared real Ed-Fi samples as they are, and on small
fixtures in the Ed-Fi shapes for the resources those samples lack."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from datashare.cli import app
from datashare.edfi import import_edfi
from datashare.edfi.api import read_resources
from datashare.edfi.interchange import read_interchange
from datashare.errors import ImportSourceError
from edfi_fixtures import DISTRICT_MAP, write_api_source, write_xml_source

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="shared/real is not beside this checkout")


def _csv(folder: Path, table: str) -> pl.DataFrame:
    return pl.read_csv(folder / f"{table}.csv", infer_schema=False)


def _by_code(report, code: str):
    return [f for f in report.findings if f.code == code]


def _no_student_values(report, out: Path) -> None:
    """No finding of the import or the validator quotes a student's id, name or birth date."""
    students = _csv(out, "students")
    values = {v for c in ("student_id", "first_name", "last_name", "birth_date") for v in students[c].drop_nulls().to_list()}
    text = json.dumps(report.to_dict())
    assert not [v for v in values if f"'{v}'" in text or f" {v} " in text or f"\"{v}\"" in text]


# --- the shared real samples -------------------------------------------------------------

@pytest.fixture(scope="module")
def grand_bend(tmp_path_factory):
    out = tmp_path_factory.mktemp("gb") / "extract"
    return import_edfi(REAL / "edfi-grand-bend-xml", out), out


@needs_real
def test_grand_bend_says_what_is_missing_and_builds_the_rest(grand_bend):
    report, out = grand_bend
    assert report.kind == "xml" and report.school_year == "2021-2022"
    missing = {f.table: f for f in _by_code(report, "missing_resource")}
    assert missing["studentSchoolAssociations"].severity == "error"
    assert "StudentEnrollment.xml" in missing["studentSchoolAssociations"].message
    assert missing["grades"].severity == "warning"
    assert not report.valid
    assert report.built["schools"] == 3 and report.built["students"] == 960
    assert report.built["enrollments"] == 0 and report.built["grades"] == 0
    assert report.built["discipline"] == 21
    # 1,917 events, one "Partial" with no counterpart: reported with its record, not imported
    assert report.built["attendance"] == 1916
    [partial] = _by_code(report, "unmapped_descriptor")
    assert "AttendanceEventCategoryDescriptor#Partial" in partial.message
    assert partial.file.endswith("StudentSchoolAttendance.xml") and partial.rows == (4,)
    _no_student_values(report, out)


@needs_real
def test_grand_bend_calendar_comes_from_sessions_where_calendar_dates_are_too_few(grand_bend):
    report, out = grand_bend
    from_sessions = _by_code(report, "calendar_from_sessions")
    assert sorted(f.message.split(":")[0] for f in from_sessions) == [
        "school 255901001", "school 255901044", "school 255901107"]
    calendar = _csv(out, "calendar").with_columns(pl.col("date").str.to_date())
    assert calendar.filter(pl.col("date").dt.weekday() > 5).is_empty()
    assert calendar.group_by("school_id").len()["len"].to_list() == [189, 189, 189]
    # the Sunday events are not school days: said by the import, left for the validator
    [off] = _by_code(report, "outside_calendar")
    assert off.count == 3 and "3 on a Saturday or Sunday" in off.message


@needs_real
def test_grand_bend_discipline_keeps_the_most_severe_action_and_sums_days(grand_bend):
    _, out = grand_bend
    discipline = _csv(out, "discipline")
    assert discipline["incident_id"].str.contains(r"^\d+-\d+$").all()
    assert discipline.select(pl.struct("incident_id", "student_id").is_unique().all()).item()
    # student 604848 at incident 18 of school 255901001: two in-school suspensions of 3 days
    row = discipline.filter(pl.col("incident_id") == "255901001-18")
    assert row["action"].to_list() == ["in_school_suspension"] and row["days_removed"].to_list() == ["6.0"]


@needs_real
def test_grand_bend_flags_come_from_program_associations_in_force(grand_bend):
    _, out = grand_bend
    students = _csv(out, "students")
    counts = {f: students[f].eq("true").sum() for f in ("english_learner", "special_education", "economically_disadvantaged")}
    assert counts == {"english_learner": 78, "special_education": 97, "economically_disadvantaged": 82}


@needs_real
def test_data_lake_applies_upserts_and_deletes_in_run_date_order(tmp_path):
    report = import_edfi(REAL / "edfi-api-oea", tmp_path / "x", school_year=None)
    out = tmp_path / "x"
    assert report.kind == "api" and report.school_year == "2016-2017"
    schools = _csv(out, "schools")
    # 255901005 deleted in the run date of its upsert (key spelt Id, no BOM); 13894 upserted three times
    assert "255901005" not in schools["school_id"].to_list()
    assert schools["school_id"].to_list().count("13894") == 1
    dangling = [f for f in _by_code(report, "unknown_school_reference") if "255901005" in f.message]
    assert sum(f.count for f in dangling) == 1236 and all(f.severity == "warning" for f in dangling)
    students = _csv(out, "students")
    assert students["student_id"].str.starts_with("0").sum() > 5000  # leading zeros kept
    assert sum(f.count for f in _by_code(report, "overlapping_enrollments")) == 4
    enrollments = _csv(out, "enrollments")
    assert enrollments.select(pl.struct("student_id", "school_id").is_unique().all()).item()
    assert not [f for f in report.findings if f.code in ("unreadable_file", "unreadable_record")]  # BOM-only files are empty
    assert report.validation is not None and report.validation.valid
    _no_student_values(report, out)


# --- fixtures in the Ed-Fi API shapes -----------------------------------------------------

@pytest.fixture(scope="module")
def api_import(tmp_path_factory):
    base = tmp_path_factory.mktemp("api")
    source = write_api_source(base / "source")
    return import_edfi(source, base / "out"), base / "out", source


def test_api_attendance_keeps_the_most_severe_event_of_a_day(api_import):
    report, out, _ = api_import
    attendance = _csv(out, "attendance")
    assert attendance.filter(pl.col("student_id") == "001")["status"].to_list() == ["unexcused_absence"]
    [several] = _by_code(report, "several_attendance_events")
    assert several.rows == (1, 2)
    unmapped = {f.message.split("value '")[1].split("'")[0]: f for f in _by_code(report, "unmapped_descriptor")}
    assert set(unmapped) == {
        "uri://district.org/AttendanceEventCategoryDescriptor#Field Trip",
        "uri://ed-fi.org/AttendanceEventCategoryDescriptor#Partial",
        "uri://ed-fi.org/DisciplineDescriptor#Removal from Classroom",
    }
    assert all(f.severity == "error" and f.file for f in unmapped.values())


def test_api_discipline_most_severe_action_days_summed_unmapped_pair_withheld(api_import):
    _, out, _ = api_import
    rows = {(r["incident_id"], r["student_id"]): r for r in _csv(out, "discipline").iter_rows(named=True)}
    # incident identifiers repeat across schools: the school makes them unique
    assert rows[("200-7", "003")]["action"] == "out_of_school_suspension"
    assert rows[("200-7", "003")]["days_removed"] == "3.0"  # actual length 1 + assigned length 2
    assert rows[("200-7", "003")]["behavior"] == "School Violation"
    assert rows[("200-7", "004")]["action"] == "none"  # linked, no action
    assert ("100-7", "001") not in rows  # its only action is unmapped: never published as "none"
    assert rows[("100-7", "002")]["incident_date"] == "2021-08-31"


def test_api_calendar_grades_and_flags(api_import):
    report, out, _ = api_import
    calendar = _csv(out, "calendar")
    assert calendar.group_by("school_id").len().sort("school_id")["len"].to_list() == [10, 10]
    assert [f.message.split(":")[0] for f in _by_code(report, "calendar_from_sessions")] == ["school 200"]
    grades = {(r["student_id"], r["course_id"]): r for r in _csv(out, "grades").iter_rows(named=True)}
    assert grades[("003", "ALG-1")]["grade_points"] == "3.3" and grades[("003", "ALG-1")]["credits_attempted"] == "0.5"
    assert grades[("004", "ALG-1")]["letter_grade"] == "F" and grades[("004", "ALG-1")]["credits_earned"] == "0.0"
    assert grades[("003", "ENG-1")]["subject"] == "English Language Arts"
    students = {r["student_id"]: r for r in _csv(out, "students").iter_rows(named=True)}
    assert set(students) == {"001", "002", "003", "004"}  # 005 left in 2021
    assert students["001"]["special_education"] == "true"
    assert students["002"]["special_education"] == "false"  # ended before the year began
    assert students["003"]["english_learner"] == "true" and students["003"]["economically_disadvantaged"] == "true"
    assert students["003"]["race_ethnicity"] == "Two or more races" and students["003"]["gender"] == "Female"
    assert students["004"]["race_ethnicity"] == "Hispanic or Latino"
    assert students["004"]["economically_disadvantaged"] == "true" and students["004"]["english_learner"] == "false"
    assert _csv(out, "service_contacts").is_empty() and {f.table for f in _by_code(report, "not_supplied")} == {
        "service_contacts", "consents"}


def test_district_descriptor_map_maps_its_namespace(tmp_path):
    source = write_api_source(tmp_path / "source")
    (tmp_path / "map.yaml").write_text(DISTRICT_MAP, encoding="utf-8")
    report = import_edfi(source, tmp_path / "out", descriptor_map=tmp_path / "map.yaml")
    assert not _by_code(report, "unmapped_descriptor")
    attendance = {r["student_id"]: r["status"] for r in _csv(tmp_path / "out", "attendance").iter_rows(named=True)}
    assert attendance["003"] == "present" and attendance["004"] == "early_departure"
    discipline = _csv(tmp_path / "out", "discipline").filter(pl.col("incident_id") == "100-7")
    assert sorted(discipline["action"].to_list()) == ["none", "referral"]


def test_service_contacts_and_consents_are_copied(tmp_path):
    source = write_api_source(tmp_path / "source")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("partner_id,student_id,contact_date,service_type\nel-centro,003,2021-09-01,tutoring\n", encoding="utf-8")
    consents = tmp_path / "consents.csv"
    consents.write_text("consent_id,student_id,partner_id,scope,granted_on,revoked_on,signed_by\n", encoding="utf-8")
    report = import_edfi(source, tmp_path / "out", service_contacts=contacts, consents=consents)
    assert not _by_code(report, "not_supplied")
    assert _csv(tmp_path / "out", "service_contacts").height == 1
    with pytest.raises(ImportSourceError, match="--consents"):
        import_edfi(source, tmp_path / "out2", consents=tmp_path / "nope.csv")


def test_data_lake_rules_on_a_small_lake(tmp_path):
    lake = tmp_path / "lake" / "schools" / "incremental"
    def put(kind: str, run: str, name: str, text: str, bom: bool = True) -> None:
        folder = lake / kind / f"rundate={run}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    school = lambda i, name: json.dumps({"id": f"id{i}", "schoolId": i, "nameOfInstitution": name})  # noqa: E731
    put("upserts", "2022-01-01", "a.json", "\n".join([school(1, "One"), school(2, "Two"), school(3, "Three")]))
    put("deletes", "2022-01-01", "d.json", json.dumps({"Id": "id2", "ChangeVersion": "1"}), bom=False)
    put("upserts", "2022-01-02", "b.json", school(1, "One renamed") + "\n{not json\n" + school(4, "Four"))
    put("deletes", "2022-01-01", "e.json", json.dumps({"id": "id3"}))
    put("upserts", "2022-01-03", "c.json", school(3, "Three again"))  # upserted after its delete
    put("deletes", "2022-01-03", "empty.json", "")  # only a byte-order mark
    frames, findings, _ = read_resources(tmp_path / "lake")
    names = dict(frames["schools"].select("school_id", "school_name").iter_rows())
    assert names == {"1": "One renamed", "3": "Three again", "4": "Four"}
    [bad] = findings
    assert bad.code == "unreadable_record" and bad.rows == (2,) and bad.file.endswith("b.json")


# --- fixtures in the Ed-Fi XML interchange shapes ---------------------------------------

def test_xml_enrollments_grades_and_transcripts(tmp_path):
    source = write_xml_source(tmp_path / "source")
    report = import_edfi(source, tmp_path / "out")
    out = tmp_path / "out"
    enrollments = {r["student_id"]: r for r in _csv(out, "enrollments").iter_rows(named=True)}
    assert enrollments["7001"]["grade_level"] == "07" and enrollments["7002"]["exit_date"] == "2022-05-27"
    [ungraded] = _by_code(report, "unmapped_descriptor")
    assert "GradeLevelDescriptor#Ungraded" in ungraded.message and ungraded.rows == (2,)
    assert enrollments["7002"]["grade_level"] is None  # kept, and the validator names the empty cell
    assert _csv(out, "schools")["district_id"].to_list() == ["9"]  # through the XML ref
    grades = {(r["student_id"], r["term"]): r for r in _csv(out, "grades").iter_rows(named=True)}
    assert grades[("7001", "First Six Weeks")]["grade_points"] == "2.0"
    assert grades[("7002", "First Six Weeks")]["letter_grade"] == "A"  # numeric 93 on the scale
    assert grades[("7001", "Fall Semester")]["credits_earned"] == "0.0"
    students = {r["student_id"]: r for r in _csv(out, "students").iter_rows(named=True)}
    assert students["7001"]["english_learner"] == "true" and students["7001"]["race_ethnicity"] == "Asian"


def test_xml_entities_are_refused_not_expanded(tmp_path):
    (tmp_path / "Student.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        '<InterchangeStudent><Student><StudentUniqueId>&b;</StudentUniqueId></Student></InterchangeStudent>',
        encoding="utf-8")
    frames, findings = read_interchange(tmp_path / "Student.xml")
    assert not frames and [f.code for f in findings] == ["unreadable_file"]
    assert "DTD" in findings[0].message


def test_broken_xml_is_a_finding(tmp_path):
    (tmp_path / "Student.xml").write_text(
        "<InterchangeStudent><Student><StudentUniqueId>1</StudentUniqueId></Student><Student>", encoding="utf-8")
    frames, findings = read_interchange(tmp_path / "Student.xml")
    assert frames["students"].height == 1 and findings[0].code == "unreadable_file"


def test_cli_import_edfi(tmp_path):
    source = write_api_source(tmp_path / "source")
    (tmp_path / "map.yaml").write_text(DISTRICT_MAP, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["import", "edfi", str(source), "--out", str(tmp_path / "out"),
                                 "--descriptor-map", str(tmp_path / "map.yaml"), "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "calendar_from_sessions" in result.output and "Validation of the written extract" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["valid"] is True
    again = runner.invoke(app, ["import", "edfi", str(source), "--out", str(tmp_path / "out")])
    assert again.exit_code == 2 and "never overwritten" in again.output
    unmapped = runner.invoke(app, ["import", "edfi", str(source), "--out", str(tmp_path / "out2")])
    assert unmapped.exit_code == 1 and "unmapped_descriptor" in unmapped.output
    nothing = runner.invoke(app, ["import", "edfi", str(tmp_path / "missing"), "--out", str(tmp_path / "o3")])
    assert nothing.exit_code == 2 and "not a folder" in nothing.output


# --- nothing crashes ----------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from datashare.errors import DatashareError  # noqa: E402

_JUNK = st.sampled_from(["", "{", "null", "[]", "\ufeff", '{"id": 5}', '"text"', "\x00", "<a>", "1e999",
                         '{"studentReference": {"studentUniqueId": null}}', '{"eventDate": 7}'])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_sources_give_a_report_or_a_clean_error(tmp_path_factory, data):
    base = tmp_path_factory.mktemp("fuzz")
    xml = data.draw(st.booleans())
    source = (write_xml_source if xml else write_api_source)(base / "source")
    files = sorted(p for p in source.iterdir() if p.is_file())
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(files))
        lines = path.read_text(encoding="utf-8").split("\n")
        at = data.draw(st.integers(0, len(lines) - 1))
        if data.draw(st.booleans()):
            lines[at] = data.draw(_JUNK)
        else:
            cut = data.draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:cut] + data.draw(_JUNK) + lines[at][cut:]
        path.write_text("\n".join(lines), encoding="utf-8")
    try:
        report = import_edfi(source, base / "out")
    except DatashareError:
        return
    assert report.to_dict()["findings"] is not None


def test_a_broken_descriptor_map_is_a_clear_error(tmp_path):
    source = write_api_source(tmp_path / "source")
    (tmp_path / "map.yaml").write_text("AttendanceEventCategoryDescriptor: [not, a, map\n", encoding="utf-8")
    with pytest.raises(ImportSourceError, match=r"map\.yaml is not valid YAML at line"):
        import_edfi(source, tmp_path / "out", descriptor_map=tmp_path / "map.yaml")
    (tmp_path / "map.yaml").write_text("AttendanceEventCategoryDescriptor: present\n", encoding="utf-8")
    with pytest.raises(ImportSourceError, match="must map values to codes"):
        import_edfi(source, tmp_path / "out", descriptor_map=tmp_path / "map.yaml")
    assert not (tmp_path / "out").exists()  # nothing written before the map is read


@needs_real
def test_grand_bend_with_partial_mapped_keeps_the_most_severe_event_of_the_day(tmp_path):
    (tmp_path / "map.yaml").write_text(
        "AttendanceEventCategoryDescriptor:\n  uri://ed-fi.org/AttendanceEventCategoryDescriptor#Partial: early_departure\n",
        encoding="utf-8")
    report = import_edfi(REAL / "edfi-grand-bend-xml", tmp_path / "out", descriptor_map=tmp_path / "map.yaml")
    assert not _by_code(report, "unmapped_descriptor")
    [several] = _by_code(report, "several_attendance_events")
    assert several.rows == (3, 4) and several.file.endswith("StudentSchoolAttendance.xml")
    assert report.built["attendance"] == 1916  # 1,917 events, two on one student-day
    statuses = _csv(tmp_path / "out", "attendance")["status"].value_counts()
    assert "early_departure" not in statuses["status"].to_list()  # the absence of that day wins


def _edit(source: Path, name: str, change) -> None:
    path = source / name
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    change(records)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_a_field_that_does_not_parse_is_named_not_lost(tmp_path):
    """A discipline length of "three", an Infinity, or a program's begin date of "not a date"
    were read as empty with no word: each is now a warning naming the resource, the field
    and the record, and the field is read as empty (no infinite days reach the extract)."""
    source = write_api_source(tmp_path / "source")
    (tmp_path / "map.yaml").write_text(DISTRICT_MAP, encoding="utf-8")
    _edit(source, "disciplineActions.jsonl", lambda r: (r[0].update(actualDisciplineActionLength="three"),
                                                       r[1].update(actualDisciplineActionLength="Infinity")))
    _edit(source, "studentSpecialEducationProgramAssociations.jsonl", lambda r: r[0].update(beginDate="not a date"))
    report = import_edfi(source, tmp_path / "out", descriptor_map=tmp_path / "map.yaml")
    found = {(f.table, f.column, f.rows, f.severity) for f in _by_code(report, "unreadable_value")}
    assert found == {("disciplineActions", "length", (1, 2), "warning"), ("studentProgramAssociations", "begin", (1,), "warning")}
    assert pl.read_csv(tmp_path / "out" / "discipline.csv")["days_removed"].is_finite().all()


def test_a_field_in_another_shape_is_named_not_lost(tmp_path):
    """``races`` as a string where Ed-Fi gives a list of objects read every record's race as
    empty with no word: a warning now names the file and the field."""
    source = write_api_source(tmp_path / "source")
    (tmp_path / "map.yaml").write_text(DISTRICT_MAP, encoding="utf-8")
    _edit(source, "studentEducationOrganizationAssociations.jsonl", lambda r: r[0].update(races="Asian"))
    report = import_edfi(source, tmp_path / "out", descriptor_map=tmp_path / "map.yaml")
    [found] = [f for f in _by_code(report, "unreadable_value") if f.column == "race"]
    assert found.severity == "warning" and "races[].raceDescriptor" in found.message
    assert found.file.endswith("studentEducationOrganizationAssociations.jsonl")
    clean = import_edfi(write_api_source(tmp_path / "clean"), tmp_path / "out2", descriptor_map=tmp_path / "map.yaml")
    assert not _by_code(clean, "unreadable_value")
