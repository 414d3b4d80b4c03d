"""Version diff: changes that widen a release exit 1, changes that narrow it exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from datashare.agreement import diff, load_agreement

REPO = Path(__file__).resolve().parent.parent

OLD = """\
datashare: 1
id: test-2025-2026
version: 1
district: {id: apple-tree, name: Apple Tree School District}
partner: {id: test-partner, name: Test Partner}
school_year: 2025-2026
term: {effective: 2025-08-01, expires: 2026-06-30}
purpose: Evaluate the partner's tutoring services for the students it serves.
legal_basis: Written consent under FERPA.
schools: ["101", "102"]
eligibility: {min_contacts: 9, count: distinct_days}
aggregate:
  metrics: [attendance_rate, mean_gpa]
  min_cell_size: 10
individual:
  consent_scope: individual_data
  fields:
    students: [grade_level]
retention: {destroy_by: 2026-12-31}
delivery: {age_recipients: [age1aaaa]}
"""

NO_INDIVIDUAL = OLD.replace("""individual:
  consent_scope: individual_data
  fields:
    students: [grade_level]
""", "")

# (description, old text, new text, path of a widening change)
WIDENING = [
    ("new field", OLD, OLD.replace("students: [grade_level]", "students: [grade_level, gender]"),
     "individual.fields.students"),
    ("new table", OLD, OLD.replace("students: [grade_level]", "students: [grade_level]\n    grades: [term]"),
     "individual.fields.grades"),
    ("new metric", OLD, OLD.replace("[attendance_rate, mean_gpa]", "[attendance_rate, mean_gpa, suspension_rate]"),
     "aggregate.metrics"),
    ("lower min_cell_size", OLD, OLD.replace("min_cell_size: 10", "min_cell_size: 8"), "aggregate.min_cell_size"),
    ("lower min_contacts", OLD, OLD.replace("min_contacts: 9", "min_contacts: 6"), "eligibility.min_contacts"),
    ("count records", OLD, OLD.replace("count: distinct_days", "count: records"), "eligibility.count"),
    ("longer term", OLD, OLD.replace("expires: 2026-06-30", "expires: 2026-08-31"), "term.expires"),
    ("earlier start", OLD, OLD.replace("effective: 2025-08-01", "effective: 2025-07-01"), "term.effective"),
    ("later destroy_by", OLD, OLD.replace("2026-12-31", "2027-06-30"), "retention.destroy_by"),
    ("individual added", NO_INDIVIDUAL, OLD, "individual"),
    ("adult consent any", OLD,
     OLD.replace("  consent_scope: individual_data\n", "  consent_scope: individual_data\n  adult_student_consent: any\n"),
     "individual.adult_student_consent"),
    ("consent scope", OLD, OLD.replace("consent_scope: individual_data", "consent_scope: program"),
     "individual.consent_scope"),
    ("more schools", OLD, OLD.replace('["101", "102"]', '["101", "102", "103"]'), "schools"),
    ("all schools", OLD, OLD.replace('["101", "102"]', "all"), "schools"),
    ("encryption removed", OLD, OLD.replace("delivery: {age_recipients: [age1aaaa]}\n", ""), "delivery.age_recipients"),
    ("new recipient", OLD, OLD.replace("[age1aaaa]", "[age1aaaa, age1bbbb]"), "delivery.age_recipients"),
    ("other partner", OLD, OLD.replace("{id: test-partner, name: Test Partner}", "{id: other, name: Other}"),
     "partner"),
    ("moved to individual", OLD,
     OLD.replace("[attendance_rate, mean_gpa]", "[mean_gpa]").replace(
         "students: [grade_level]", "students: [grade_level]\n    attendance: [attendance_rate]"),
     "individual.fields.attendance"),
]

# (description, old text, new text)
NARROWING = [
    ("field removed", OLD.replace("students: [grade_level]", "students: [grade_level, gender]"), OLD),
    ("metric removed", OLD, OLD.replace("[attendance_rate, mean_gpa]", "[mean_gpa]")),
    ("higher min_cell_size", OLD, OLD.replace("min_cell_size: 10", "min_cell_size: 12")),
    ("shorter term", OLD, OLD.replace("expires: 2026-06-30", "expires: 2026-05-31")),
    ("sooner destroy_by", OLD, OLD.replace("2026-12-31", "2026-09-30")),
    ("individual removed", OLD, NO_INDIVIDUAL),
    ("fewer schools", OLD, OLD.replace('["101", "102"]', '["101"]')),
    ("count distinct days", OLD.replace("count: distinct_days", "count: records"), OLD),
    ("reworded, new version", OLD, OLD.replace("version: 1", "version: 2").replace("tutoring services", "tutoring")),
    ("recipient rotated out", OLD.replace("[age1aaaa]", "[age1aaaa, age1bbbb]"), OLD),
]

runner = CliRunner()


def pair(tmp_path: Path, old: str, new: str) -> tuple[Path, Path]:
    (tmp_path / "old.yaml").write_text(old, encoding="utf-8")
    (tmp_path / "new.yaml").write_text(new, encoding="utf-8")
    return tmp_path / "old.yaml", tmp_path / "new.yaml"


@pytest.mark.parametrize(("what", "old", "new", "path"), WIDENING, ids=[w[0] for w in WIDENING])
def test_widening_changes_exit_1(tmp_path, what, old, new, path):
    from datashare.cli import app

    old_file, new_file = pair(tmp_path, old, new)
    result = diff(load_agreement(old_file), load_agreement(new_file))
    assert result.widens
    assert any(c.path == path and c.widens for c in result.changes), result.changes
    cli = runner.invoke(app, ["diff", str(old_file), str(new_file)])
    assert cli.exit_code == 1, cli.output
    assert f"WIDENS {path}" in cli.stdout


@pytest.mark.parametrize(("what", "old", "new"), NARROWING, ids=[n[0] for n in NARROWING])
def test_narrowing_changes_exit_0(tmp_path, what, old, new):
    from datashare.cli import app

    old_file, new_file = pair(tmp_path, old, new)
    result = diff(old_file, new_file)
    assert result.changes, "a change is listed even when it narrows"
    assert not result.widens, [c for c in result.changes if c.widens]
    cli = runner.invoke(app, ["diff", str(old_file), str(new_file)])
    assert cli.exit_code == 0, cli.output
    assert "WIDENS" not in cli.stdout


def test_moved_field_says_so(tmp_path):
    _, old, new, _ = WIDENING[-1]
    result = diff(*pair(tmp_path, old, new))
    reasons = [c.reason for c in result.changes if c.widens]
    assert "attendance_rate moved from the aggregate comparison to individual records" in reasons


def test_identical_agreements_have_no_changes(tmp_path):
    example = REPO / "agreements/examples/el-centro-2025-2026.yaml"
    assert diff(example, example).changes == ()
    from datashare.cli import app

    cli = runner.invoke(app, ["diff", str(example), str(example)])
    assert cli.exit_code == 0 and "no changes" in cli.stdout


def test_aggregate_only_to_nine_contact_widens():
    examples = REPO / "agreements/examples"
    result = diff(examples / "bright-path-tutoring-2025-2026.yaml", examples / "el-centro-2025-2026.yaml")
    assert result.widens
    assert any(c.path == "individual" and c.widens for c in result.changes)
