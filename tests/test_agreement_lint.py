"""Lint: every rule triggered by a small YAML file, with its code, YAML path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from datashare.agreement import lint, load_agreement
from datashare.agreement.lint import add_months
from datashare.errors import AgreementError, AgreementRefused

BASE = """\
datashare: 1
id: test-2025-2026
version: 1
title: Test agreement
district: {id: apple-tree, name: Apple Tree School District}
partner: {id: test-partner, name: Test Partner}
school_year: 2025-2026
term: {effective: 2025-08-01, expires: 2026-08-31}
purpose: Evaluate the partner's tutoring services for the students it serves.
legal_basis: Written consent of a parent or eligible student under FERPA.
schools: all
eligibility: {min_contacts: 9, count: distinct_days}
aggregate:
  metrics: [attendance_rate, mean_gpa]
  min_cell_size: 10
individual:
  consent_scope: individual_data
  fields:
    students: [grade_level]
    attendance: [days_present]
retention: {destroy_by: 2027-06-30}
"""


def write(tmp_path: Path, text: str, name: str = "agreement.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_base_lints_clean(tmp_path):
    loaded = load_agreement(write(tmp_path, BASE))
    assert loaded.findings == ()
    assert not loaded.template
    loaded.require_releasable()


# (old text, new text, code, severity, YAML path, text on the expected line or None)
CASES = [
    ("students: [grade_level]", "students: [grade_level, student_id]",
     "direct_identifier", "error", "individual.fields.students[1]", "students: [grade_level"),
    ("students: [grade_level]", "students: [first_name, grade_level]",
     "direct_identifier", "error", "individual.fields.students[0]", "students: [first_name"),
    ("attendance: [days_present]", "attendance: [days_present, home_phone]",
     "direct_identifier", "error", "individual.fields.attendance[1]", "attendance: [days_present"),
    ("attendance: [days_present]", "attendance: [days_present, tardies]",
     "unknown_field", "error", "individual.fields.attendance[1]", "attendance: [days_present"),
    ("attendance: [days_present]", "attendance: [days_present, days_present]",
     "duplicate_entry", "error", "individual.fields.attendance[1]", "attendance: [days_present"),
    ("metrics: [attendance_rate, mean_gpa]", "metrics: [attendance_rate, attendance_rate]",
     "duplicate_entry", "error", "aggregate.metrics[1]", "metrics:"),
    ("min_cell_size: 10", "min_cell_size: 4",
     "min_cell_size_too_small", "error", "aggregate.min_cell_size", "min_cell_size"),
    ("min_cell_size: 10", "min_cell_size: 7",
     "min_cell_size_low", "warning", "aggregate.min_cell_size", "min_cell_size"),
    ("effective: 2025-08-01", "effective: 2026-08-31",
     "term_order", "error", "term.expires", "term:"),
    ("retention: {destroy_by: 2027-06-30}\n", "",
     "missing_retention", "error", "retention.destroy_by", None),
    ("purpose: Evaluate the partner's tutoring services for the students it serves.\n", "",
     "missing_key", "error", "purpose", None),
    ("school_year: 2025-2026", "school_year: 2023-2024",
     "school_year_mismatch", "warning", "school_year", "school_year:"),
    ("expires: 2026-08-31", "expires: 2027-03-31",
     "long_term", "warning", "term.expires", "term:"),
    ("destroy_by: 2027-06-30", "destroy_by: 2028-06-30",
     "long_retention", "warning", "retention.destroy_by", "retention:"),
    ("destroy_by: 2027-06-30", "destroy_by: 2026-07-01",
     "destroy_before_expiry", "warning", "retention.destroy_by", "retention:"),
    ("students: [grade_level]", "students: [grade_level, economically_disadvantaged]",
     "special_indicator", "warning", "individual.fields.students[1]", "students: [grade_level"),
    ("purpose: Evaluate the partner's tutoring services for the students it serves.", "purpose: Tutoring evaluation.",
     "short_purpose", "warning", "purpose", "purpose:"),
    ("  consent_scope: individual_data\n", "  consent_scope: individual_data\n  adult_student_consent: any\n",
     "adult_consent_any", "warning", "individual.adult_student_consent", "adult_student_consent"),
    ("min_contacts: 9", "min_contacts: 5",
     "min_contacts_low", "warning", "eligibility.min_contacts", "eligibility:"),
    ("legal_basis: Written consent of a parent or eligible student under FERPA.\n", "",
     "no_legal_basis", "warning", "legal_basis", None),
    ("schools: all", "schools: []", "no_schools", "warning", "schools", "schools:"),
    ("retention: {destroy_by: 2027-06-30}\n",
     "retention: {destroy_by: 2027-06-30}\ndelivery:\n  age_recipients: [not-a-key]\n",
     "age_recipient", "error", "delivery.age_recipients[0]", "age_recipients"),
    # Shaped like a key (age1...) but no key: the run would refuse it, so review must too.
    ("retention: {destroy_by: 2027-06-30}\n",
     "retention: {destroy_by: 2027-06-30}\ndelivery:\n  age_recipients: [age1bogus]\n",
     "age_recipient", "error", "delivery.age_recipients[0]", "age_recipients"),
]


@pytest.mark.parametrize(("old", "new", "code", "severity", "path", "needle"), CASES,
                         ids=[f"{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_each_rule(tmp_path, old, new, code, severity, path, needle):
    assert old in BASE
    text = BASE.replace(old, new)
    file = write(tmp_path, text)
    findings = lint(file)
    matching = [f for f in findings if f.code == code]
    assert matching, findings
    finding = matching[0]
    assert finding.severity == severity
    assert finding.path == path
    assert finding.line == (line_of(text, needle) if needle else None)
    assert finding.message
    # Only this rule fires: each case changes one thing.
    assert {f.code for f in findings} == {code}
    if severity == "error":
        with pytest.raises(AgreementRefused, match=path.replace("[", r"\[").replace("]", r"\]")):
            load_agreement(file).require_releasable()


def test_nothing_released(tmp_path):
    text = BASE.split("aggregate:")[0] + "retention: {destroy_by: 2027-06-30}\n"
    findings = lint(write(tmp_path, text))
    assert [(f.code, f.severity) for f in findings] == [("nothing_released", "warning")]


def test_errors_sort_before_warnings(tmp_path):
    text = BASE.replace("min_cell_size: 10", "min_cell_size: 3").replace("min_contacts: 9", "min_contacts: 2")
    findings = lint(load_agreement(write(tmp_path, text)))
    assert [f.severity for f in findings] == ["error", "warning"]


def test_template_in_templates_folder_may_omit_parties(tmp_path):
    text = "datashare: 1\naggregate: {min_cell_size: 10}\n"
    loaded = load_agreement(write(tmp_path, text, "templates/t.yaml"))
    assert loaded.template
    assert loaded.findings == ()
    with pytest.raises(AgreementRefused, match="template cannot be released"):
        loaded.require_releasable()


def test_file_without_partner_is_a_template(tmp_path):
    text = BASE.replace("partner: {id: test-partner, name: Test Partner}\n", "")
    loaded = load_agreement(write(tmp_path, text))
    assert loaded.template
    assert [f.code for f in loaded.findings] == []


def test_agreement_missing_parties_and_dates_is_refused(tmp_path):
    text = "datashare: 1\nid: x-2025\npartner: {id: p, name: P}\naggregate: {min_cell_size: 10}\n"
    loaded = load_agreement(write(tmp_path, text))
    assert not loaded.template
    paths = {f.path for f in loaded.errors}
    assert {"version", "district", "school_year", "term", "purpose", "retention.destroy_by"} <= paths


@pytest.mark.parametrize(
    ("old", "new", "path", "needle", "expected"),
    [
        ("id: test-2025-2026", "id: Test_2025", "id", "id: Test", "[a-z0-9-]"),
        ("{id: test-partner,", "{id: Test Partner,", "partner.id", "partner:", "[a-z0-9-]"),
        ("  min_cell_size: 10", "  min_cel_size: 10", "aggregate.min_cel_size", "min_cel_size",
         "unknown key 'min_cel_size'"),
        ("  consent_scope: individual_data\n", "", "individual.consent_scope", "individual:",
         "missing required key 'consent_scope'"),
        ("  min_cell_size: 10", "  min_cell_size: ten", "aggregate.min_cell_size", "min_cell_size", "integer"),
        ("metrics: [attendance_rate, mean_gpa]", "metrics: [attendance_rate, gpa]", "aggregate.metrics[1]",
         "metrics:", "attendance_rate"),
        ("school_year: 2025-2026", "school_year: 2025-2027", "school_year", "school_year:", "two consecutive years"),
        ("schools: all", "schools: some", "schools", "schools:", "'all'"),
    ],
)
def test_model_errors_name_file_path_line(tmp_path, old, new, path, needle, expected):
    text = BASE.replace(old, new)
    file = write(tmp_path, text)
    with pytest.raises(AgreementError) as info:
        load_agreement(file)
    message = str(info.value)
    assert message.startswith(str(file))
    assert f"{path} (agreement.yaml, line {line_of(text, needle)}): " in message
    assert expected in message


def test_unknown_key_lists_allowed_keys(tmp_path):
    file = write(tmp_path, BASE.replace("  min_cell_size: 10", "  min_cel_size: 10"))
    with pytest.raises(AgreementError, match="expected one of: metrics, min_cell_size"):
        load_agreement(file)


def test_add_months_clamps():
    import datetime as dt

    assert add_months(dt.date(2025, 8, 31), 6) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2025, 11, 15), 15) == dt.date(2027, 2, 15)
