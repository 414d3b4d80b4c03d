"""Loading: YAML errors, extends resolution and merge, hashing, round trip, shipped files, schema."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datashare.agreement as api
from datashare import _resources
from datashare.agreement import (
    Agreement,
    canonical_json,
    dump_agreement,
    load_agreement,
    load_agreements,
)
from datashare.agreement.fields import (
    DIRECT_IDENTIFIERS,
    INDIVIDUAL_FIELDS,
    METRICS,
    is_direct_identifier,
)
from datashare.agreement.model import METRICS as MODEL_METRICS
from datashare.agreement.schema import SCHEMA_PATH, schema_text
from datashare.errors import AgreementError

REPO = Path(__file__).resolve().parent.parent
AGREEMENTS = REPO / "agreements"

PARTIES = """\
id: test-2025-2026
version: 1
district: {id: apple-tree, name: Apple Tree School District}
partner: {id: test-partner, name: Test Partner}
school_year: 2025-2026
term: {effective: 2025-08-01, expires: 2026-08-31}
purpose: Evaluate the partner's tutoring services for the students it serves.
legal_basis: Written consent under FERPA.
retention: {destroy_by: 2027-06-30}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- YAML errors


def test_duplicate_key_is_an_error_with_line(tmp_path):
    file = write(tmp_path / "a.yaml", PARTIES + "aggregate:\n  min_cell_size: 10\n  min_cell_size: 3\n")
    with pytest.raises(AgreementError) as info:
        load_agreement(file)
    message = str(info.value)
    assert str(file) in message
    assert "line 12" in message
    assert "duplicate key 'min_cell_size'" in message


def test_duplicate_top_level_key(tmp_path):
    file = write(tmp_path / "a.yaml", PARTIES + "id: other-id\n")
    with pytest.raises(AgreementError, match=r"line 10: duplicate key 'id'"):
        load_agreement(file)


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    file = write(tmp_path / "a.yaml", PARTIES + "aggregate:\n  metrics: [attendance_rate\n  min_cell_size: 10\n")
    with pytest.raises(AgreementError) as info:
        load_agreement(file)
    message = str(info.value)
    assert message.startswith(f"{file}, line 12, column ")
    assert "YAML syntax error" in message


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    with pytest.raises(AgreementError, match="expected a mapping"):
        load_agreement(write(tmp_path / "a.yaml", text))


def test_missing_file(tmp_path):
    with pytest.raises(AgreementError, match="not found"):
        load_agreement(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- extends


def test_chain_of_two_templates_merges_deeply(tmp_path):
    write(tmp_path / "templates/base.yaml", """\
datashare: 1
aggregate:
  metrics: [attendance_rate, mean_gpa]
  min_cell_size: 10
individual:
  consent_scope: individual_data
  fields:
    students: [grade_level, gender]
    grades: [term]
""")
    write(tmp_path / "templates/mid.yaml", """\
extends: base
eligibility: {min_contacts: 12}
individual:
  fields:
    students: [grade_level]
""")
    file = write(tmp_path / "agreement.yaml", "extends: mid\n" + PARTIES + "aggregate: {min_cell_size: 15}\n")
    loaded = load_agreement(file)
    a = loaded.agreement
    assert loaded.sources == (file.resolve(), (tmp_path / "templates/mid.yaml").resolve(),
                              (tmp_path / "templates/base.yaml").resolve())
    assert a.aggregate.metrics == ("attendance_rate", "mean_gpa")  # from base
    assert a.aggregate.min_cell_size == 15  # the file wins
    assert a.eligibility.min_contacts == 12  # from mid
    assert a.individual.consent_scope == "individual_data"  # mapping merged key by key
    assert a.individual.fields.students == ("grade_level",)  # a list replaces whole
    assert a.individual.fields.grades == ("term",)
    assert a.extends is None  # the resolved agreement is self-contained
    assert loaded.locations["aggregate.metrics"] == ((tmp_path / "templates/base.yaml").resolve(), 3)
    assert loaded.locations["aggregate.min_cell_size"] == (file.resolve(), 11)
    assert loaded.locations["individual.fields.students[0]"][0].name == "mid.yaml"
    assert loaded.findings == ()


def test_relative_path_is_read_from_the_naming_file(tmp_path):
    write(tmp_path / "shared/t.yaml", "aggregate: {min_cell_size: 11}\n")
    write(tmp_path / "shared/u.yaml", "extends: t.yaml\neligibility: {min_contacts: 10}\n")
    file = write(tmp_path / "district/a.yaml", "extends: ../shared/u.yaml\n" + PARTIES)
    a = load_agreement(file).agreement
    assert a.aggregate.min_cell_size == 11
    assert a.eligibility.min_contacts == 10


def test_bare_name_finds_sibling_templates_folder(tmp_path):
    write(tmp_path / "agreements/templates/t.yaml", "aggregate: {min_cell_size: 12}\n")
    file = write(tmp_path / "agreements/examples/a.yaml", "extends: t\n" + PARTIES)
    assert load_agreement(file).agreement.aggregate.min_cell_size == 12


def test_local_templates_folder_wins_over_sibling(tmp_path):
    write(tmp_path / "agreements/templates/t.yaml", "aggregate: {min_cell_size: 12}\n")
    write(tmp_path / "agreements/examples/templates/t.yaml", "aggregate: {min_cell_size: 13}\n")
    file = write(tmp_path / "agreements/examples/a.yaml", "extends: t\n" + PARTIES)
    assert load_agreement(file).agreement.aggregate.min_cell_size == 13


def test_bare_name_falls_back_to_shipped_templates(tmp_path):
    file = write(tmp_path / "a.yaml", "extends: nine-contact-partner\n" + PARTIES)
    loaded = load_agreement(file)
    assert loaded.sources[1] == (_resources.templates_dir() / "nine-contact-partner.yaml").resolve()
    assert loaded.agreement.individual.consent_scope == "individual_data"


def test_template_dirs_argument(tmp_path):
    write(tmp_path / "elsewhere/t.yaml", "aggregate: {min_cell_size: 14}\n")
    file = write(tmp_path / "a.yaml", "extends: t\n" + PARTIES)
    with pytest.raises(AgreementError, match="no template named 't'"):
        load_agreement(file)
    loaded = load_agreement(file, template_dirs=[tmp_path / "elsewhere"])
    assert loaded.agreement.aggregate.min_cell_size == 14


def test_cycle_is_refused_naming_the_files(tmp_path):
    write(tmp_path / "templates/b.yaml", "extends: c\n")
    write(tmp_path / "templates/c.yaml", "extends: b\n")
    file = write(tmp_path / "a.yaml", "extends: b\n" + PARTIES)
    with pytest.raises(AgreementError, match="cycle") as info:
        load_agreement(file)
    assert "b.yaml" in str(info.value) and "c.yaml" in str(info.value)


def test_self_extension_is_a_cycle(tmp_path):
    file = write(tmp_path / "a.yaml", "extends: a.yaml\n" + PARTIES)
    with pytest.raises(AgreementError, match="cycle"):
        load_agreement(file)


@pytest.mark.parametrize(("value", "match"), [("missing-one", "no template named"), ("./none.yaml", "not found"),
                                              ("Bad Name", "neither a template name"), ("[1]", "expected a template")])
def test_broken_extends(tmp_path, value, match):
    file = write(tmp_path / "a.yaml", f"extends: {value}\n" + PARTIES)
    with pytest.raises(AgreementError, match=match):
        load_agreement(file)


def test_template_errors_name_the_template_line(tmp_path):
    write(tmp_path / "templates/t.yaml", "aggregate:\n  min_cell_size: 3\n")
    loaded = load_agreement(write(tmp_path / "a.yaml", "extends: t\n" + PARTIES))
    (finding,) = loaded.errors
    assert finding.code == "min_cell_size_too_small"
    assert (finding.file.name, finding.line) == ("t.yaml", 2)


# --------------------------------------------------------------------------- hash, round trip


def test_sha256_is_of_canonical_json_and_independent_of_spelling(tmp_path):
    inline = load_agreement(write(tmp_path / "inline.yaml", PARTIES + "aggregate: {min_cell_size: 10}\n"))
    write(tmp_path / "templates/t.yaml", "aggregate:\n  min_cell_size: 10\n  metrics: " + json.dumps(MODEL_METRICS) + "\n")
    split = load_agreement(write(tmp_path / "split.yaml", "extends: t\n" + PARTIES))
    assert inline.sha256 == split.sha256
    assert inline.sha256 == hashlib.sha256(canonical_json(inline.agreement)).hexdigest()
    data = json.loads(canonical_json(inline.agreement))
    assert list(data) == sorted(data)
    changed = load_agreement(write(tmp_path / "changed.yaml", PARTIES + "aggregate: {min_cell_size: 11}\n"))
    assert changed.sha256 != inline.sha256


def test_round_trip_of_every_shipped_file(tmp_path):
    for source in sorted(AGREEMENTS.glob("*/*.yaml")):
        loaded = load_agreement(source)
        copy = write(tmp_path / source.parent.name / source.name, dump_agreement(loaded.agreement))
        again = load_agreement(copy)
        assert again.agreement == loaded.agreement
        assert again.sha256 == loaded.sha256


_FIELDS = {table: sorted(fields) for table, fields in INDIVIDUAL_FIELDS.items()}


@settings(max_examples=30, deadline=None)
@given(
    min_cell_size=st.integers(5, 50),
    min_contacts=st.integers(1, 30),
    count=st.sampled_from(["distinct_days", "records"]),
    metrics=st.lists(st.sampled_from(MODEL_METRICS), unique=True, min_size=1, max_size=6),
    students=st.none() | st.lists(st.sampled_from(_FIELDS["students"]), unique=True, max_size=4),
    grades=st.none() | st.lists(st.sampled_from(_FIELDS["grades"]), unique=True, max_size=4),
    schools=st.just("all") | st.lists(st.from_regex(r"[0-9]{3}", fullmatch=True), unique=True, max_size=3),
    purpose=st.text(min_size=1, max_size=40),
)
def test_round_trip_property(tmp_path_factory, min_cell_size, min_contacts, count, metrics, students, grades,
                             schools, purpose):
    agreement = Agreement.model_validate({
        "id": "x-1", "version": 2, "purpose": purpose, "schools": schools,
        "eligibility": {"min_contacts": min_contacts, "count": count},
        "aggregate": {"metrics": metrics, "min_cell_size": min_cell_size},
        "individual": {"consent_scope": "individual_data", "fields": {"students": students, "grades": grades}},
        "retention": {"destroy_by": "2027-06-30"},
    })
    path = tmp_path_factory.mktemp("rt") / "a.yaml"
    path.write_text(dump_agreement(agreement), encoding="utf-8")
    assert load_agreement(path).agreement == agreement


# --------------------------------------------------------------------------- many files


def test_load_agreements_folder_skips_templates_and_sorts():
    loaded = load_agreements([AGREEMENTS / "examples"])
    assert [item.agreement.id for item in loaded] == ["bright-path-tutoring-2025-2026", "el-centro-2025-2026"]
    assert all(not item.template for item in loaded)


def test_load_agreements_refuses_duplicate_ids(tmp_path):
    write(tmp_path / "a.yaml", PARTIES)
    write(tmp_path / "b.yaml", PARTIES)
    with pytest.raises(AgreementError, match="'test-2025-2026' appears in two files") as info:
        load_agreements([tmp_path])
    assert "a.yaml" in str(info.value) and "b.yaml" in str(info.value)


def test_load_agreements_mixes_files_and_folders(tmp_path):
    write(tmp_path / "d/x.yaml", PARTIES)
    write(tmp_path / "d/templates/t.yaml", "datashare: 1\n")
    single = write(tmp_path / "y.yaml", PARTIES.replace("test-2025-2026", "other-2025-2026"))
    loaded = load_agreements([tmp_path / "d", single])
    assert [item.path.name for item in loaded] == ["x.yaml", "y.yaml"]


# --------------------------------------------------------------------------- shipped files


def test_every_shipped_file_loads_and_lints_clean():
    files = sorted(AGREEMENTS.glob("*/*.yaml"))
    assert {f.name for f in files} >= {"nine-contact-partner.yaml", "aggregate-only.yaml",
                                       "el-centro-2025-2026.yaml", "bright-path-tutoring-2025-2026.yaml"}
    for file in files:
        loaded = load_agreement(file)
        assert loaded.errors == [], (file, loaded.errors)
        # The only intended warnings: the documented special indicators of the nine-contact template.
        assert {f.code for f in loaded.warnings} <= {"special_indicator"}, (file, loaded.warnings)
        assert loaded.template == (file.parent.name == "templates")


def test_examples_match_the_synthetic_district():
    el_centro = load_agreement(AGREEMENTS / "examples/el-centro-2025-2026.yaml").agreement
    bright = load_agreement(AGREEMENTS / "examples/bright-path-tutoring-2025-2026.yaml").agreement
    assert (el_centro.partner.id, bright.partner.id) == ("el-centro", "bright-path-tutoring")
    assert el_centro.district.id == bright.district.id == "apple-tree"
    assert el_centro.individual is not None and bright.individual is None
    assert el_centro.aggregate.min_cell_size == 10 and list(el_centro.aggregate.metrics) == list(MODEL_METRICS)


def test_examples_resolve_in_the_wheel_layout(tmp_path):
    data = tmp_path / "datashare/_data/agreements"
    shutil.copytree(AGREEMENTS, data)
    for example in sorted((data / "examples").glob("*.yaml")):
        loaded = load_agreement(example)
        assert all(source.is_relative_to(data.resolve()) for source in loaded.sources)
        assert loaded.sha256 == load_agreement(AGREEMENTS / "examples" / example.name).sha256


def test_shipped_schema_equals_a_fresh_generation():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False
    assert "min_cell_size" in schema["$defs"]["Aggregate"]["properties"]


# --------------------------------------------------------------------------- catalog, exports


def test_catalog_never_lists_a_direct_identifier():
    for table, fields in INDIVIDUAL_FIELDS.items():
        for name, info in fields.items():
            assert not is_direct_identifier(name), name
            assert info.table == table and info.category
    assert list(METRICS) == list(MODEL_METRICS)
    for name in ["student_id", "first_name", "birth_date", "incident_id", "guardian_email", "home_address",
                 "mobile_phone", "surname"]:
        assert is_direct_identifier(name), name
    assert "student_id" in DIRECT_IDENTIFIERS


def test_public_names():
    assert set(api.__all__) >= {"load_agreement", "load_agreements", "lint", "review", "diff",
                                "LoadedAgreement", "LintFinding", "Agreement"}
    assert api.__all__ == sorted(api.__all__)
    for name in api.__all__:
        assert getattr(api, name) is not None


def test_a_nul_character_in_extends_is_named(tmp_path):
    file = write(tmp_path / "a.yaml", 'extends: "a\\0b.yaml"\n' + PARTIES)
    with pytest.raises(AgreementError, match="extends: the value holds a NUL character"):
        load_agreement(file)
