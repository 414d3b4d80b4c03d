"""Releases of whole agreements: gates, tables, refusals, the fan-out over partners."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from release_fixtures import AS_OF, SECRET, YEAR, District, agreement, loaded, release

from datashare.errors import AgreementRefused, ReleaseError
from datashare.release.compute import prepare
from datashare.release.disclosure import OUTPUT_SCHEMA
from datashare.release.keys import STUDENT_KEY_PATTERN, partner_key, student_key
from datashare.release.types import GATES


def _district() -> District:
    """School A: 30 students, 12 served by p1 (8 consented); school B: 15 students, none served."""
    d = District().school("A").school("B")
    for i in range(30):
        d.student(f"a{i:02d}", "A", present=18, absent=i % 4)
    for i in range(15):
        d.student(f"b{i:02d}", "B", present=15, absent=1)
    for i in range(12):
        d.contacts("p1", f"a{i:02d}", 9)
    d.contacts("p1", "a20", 3)
    for i in range(8):
        d.consent(f"a{i:02d}", "p1")
    d.consent("a20", "p1")  # consented but not eligible
    d.consent("b00", "p2")
    d.incident("a01", "A", action="in_school_suspension")
    d.grade("a01", "A", points=0).grade("a02", "A", points=4, credits=2)
    return d


def test_gates():
    [r] = release(_district(), agreement(min_cell_size=5))
    assert list(r.gates) == list(GATES)
    assert r.gates == {"enrolled": 45, "with_contacts": 13, "eligible": 12, "consented": 8, "withheld": 0, "released": 8}
    assert r.school_year == "2025-2026" and r.partner_id == "p1"


def test_aggregate_only_agreement_gets_no_individual_tables():
    [r] = release(_district(), agreement(individual=False, min_cell_size=5))
    assert list(r.tables) == ["aggregate_comparison"]
    assert r.gates["consented"] == 0 and r.gates["released"] == 0


def test_aggregate_table_shape_and_order():
    [r] = release(_district(), agreement(min_cell_size=5))
    table = r.tables["aggregate_comparison"]
    assert table.schema == pl.Schema(OUTPUT_SCHEMA)
    assert table.get_column("school_id").unique(maintain_order=True).to_list() == ["A", "B", "ALL"]
    assert table.height == 3 * 6
    assert table.filter(pl.col("school_id") == "ALL").get_column("school_name").unique().to_list() == [
        "All covered schools"
    ]


def test_individual_tables_hold_only_listed_fields():
    [r] = release(_district(), agreement(min_cell_size=5))
    assert list(r.tables) == ["aggregate_comparison", "students", "attendance", "discipline", "grades"]
    assert r.tables["students"].columns == ["student_key", "school_id", "grade_level", "english_learner"]
    assert r.tables["discipline"].columns == ["student_key", "school_id", "incident_date", "action", "days_removed"]
    assert r.tables["grades"].height == 2 and r.tables["discipline"].height == 1
    key = partner_key(SECRET, "p1")
    expected = sorted(student_key(key, f"a{i:02d}") for i in range(8))
    assert r.tables["students"].get_column("student_key").to_list() == expected
    assert r.tables["attendance"].get_column("student_key").str.contains(STUDENT_KEY_PATTERN).all()


def test_only_named_individual_tables_are_written():
    [r] = release(_district(), agreement(fields={"attendance": ["days_enrolled"]}, min_cell_size=5))
    assert list(r.tables) == ["aggregate_comparison", "attendance"]


def test_field_outside_the_catalog_is_refused():
    with pytest.raises(ReleaseError, match="first_name"):
        release(_district(), agreement(fields={"students": ["first_name"]}))


def test_partner_with_no_eligible_students():
    [r] = release(_district(), agreement("p9"))
    assert r.gates == {"enrolled": 45, "with_contacts": 0, "eligible": 0, "consented": 0, "withheld": 0, "released": 0}
    table = r.tables["aggregate_comparison"]
    assert table.get_column("suppressed").all()
    assert table.get_column("served_n").is_null().all()
    assert all(t.height == 0 for name, t in r.tables.items() if name != "aggregate_comparison")


def test_school_where_every_student_is_served():
    d = District().school("A").school("B")
    for i in range(12):
        d.student(f"a{i:02d}", "A", present=10).contacts("p1", f"a{i:02d}", 9)
    for i in range(40):
        d.student(f"b{i:02d}", "B", present=10)
    [r] = release(d, agreement(individual=False))
    a = r.tables["aggregate_comparison"].filter(pl.col("school_id") == "A")
    # No discipline and no grades rows at all: those tables are "not supplied", their
    # metrics withheld with that note; every other figure of school A is suppressed.
    missing = a.filter(pl.col("note") == "not_supplied").get_column("metric").to_list()
    assert missing == ["suspension_rate", "incidents_per_student", "mean_gpa", "course_failure_rate"]
    assert a.filter(pl.col("note") != "not_supplied").get_column("suppressed").all()
    a = a.filter(pl.col("metric").is_in(["attendance_rate", "chronic_absence_rate"]))
    assert set(a.get_column("note")) == {"served suppressed:complementary; comparison suppressed:small_cell"}


def test_covered_schools_only():
    [r] = release(_district(), agreement(schools=["B"]))
    assert r.gates["enrolled"] == 15 and r.gates["eligible"] == 0
    assert r.tables["aggregate_comparison"].get_column("school_id").unique().sort().to_list() == ["ALL", "B"]


def test_agreement_expired_the_day_before_as_of_is_refused():
    with pytest.raises(AgreementRefused, match="not in force on 2026-09-01"):
        release(_district(), agreement(), as_of=dt.date(2026, 9, 1))


def test_agreement_in_force_on_its_last_day():
    assert release(_district(), agreement(), as_of=dt.date(2026, 8, 31))


def test_unknown_school_is_refused():
    with pytest.raises(AgreementRefused, match="schools lists 'Z'"):
        release(_district(), agreement(schools=["A", "Z"]))


def test_one_refused_agreement_refuses_the_run():
    good, bad = agreement("p1"), agreement("p2", schools=["nowhere"])
    with pytest.raises(AgreementRefused):
        release(_district(), good, bad)


def test_many_partners_in_one_computation():
    d = _district()
    for i in range(12):
        d.contacts("p2", f"b{i:02d}", 10)
    r1, r2 = release(d, agreement("p1", min_cell_size=5), agreement("p2", min_cell_size=5))
    assert (r1.partner_id, r2.partner_id) == ("p1", "p2")
    assert r2.gates["eligible"] == 12 and r2.gates["consented"] == 1  # b00, through a p2 consent


def test_agreements_covering_the_same_schools_share_one_base():
    prepared = prepare(_district().tables(), YEAR)
    assert prepared.covered(None) is prepared.covered(None)
    assert prepared.covered(frozenset({"B"})).students.to_list() == [f"b{i:02d}" for i in range(15)]


def test_prepared_for_the_run_s_partners_releases_the_same_and_refuses_another():
    """A run prepares the contacts and consents of its own partners only: the releases are
    the same as from the whole extract, every partner with contacts is still named (for the
    warnings), and an agreement of a partner left out is refused rather than released empty."""
    from datashare.release.compute import release_all

    d = _district()
    for i in range(12):
        d.contacts("p2", f"b{i:02d}", 10)
    d.contacts("p3", "a00", 10)
    p1 = loaded(agreement("p1", min_cell_size=5))
    whole = release_all(prepare(d.tables(), YEAR), [p1], SECRET, AS_OF)
    prepared = prepare(d.tables(), YEAR, partners={"p1"})
    assert set(prepared.contacts.get_column("partner_id")) == {"p1"}
    assert set(prepared.consents.get_column("partner_id")) <= {"p1"}
    assert prepared.contact_partners == ("p1", "p2", "p3")
    [mine] = release_all(prepared, [p1], SECRET, AS_OF)
    assert mine.gates == whole[0].gates and mine.gates["eligible"] > 0
    assert set(mine.tables) == set(whole[0].tables)
    for name, table in mine.tables.items():
        assert table.equals(whole[0].tables[name]), name
    with pytest.raises(ReleaseError, match="partner 'p2' was not among the partners"):
        release_all(prepared, [p1, loaded(agreement("p2", min_cell_size=5))], SECRET, AS_OF)


def test_a_partner_s_release_does_not_depend_on_the_other_partners_of_the_run(tmp_path):
    """The holdings audit of every partner of a run is made in one set of queries; each
    partner's figures, records and gates must still be exactly those of a run of its own
    agreements alone, over a year of releases (earlier releases, withheld records)."""
    from datashare.extract import load_extract
    from datashare.package.ledger import History
    from datashare.release.compute import release_all
    from datashare.synth import synthesize

    synthesize(tmp_path / "x", students=3000, schools=6, partners=4, seed=3)
    extract = load_extract(tmp_path / "x")
    prepared = prepare(extract.tables, extract.school_year)
    partners = ("bright-path-tutoring", "el-centro", "partner-003", "partner-004")
    plan = [(p, "all", 5 + i) for i, p in enumerate(partners)] + [
        ("el-centro", ["101", "102", "104"], 5), ("partner-003", ["104", "105"], 6), ("partner-004", ["106"], 5)
    ]
    agreements = [
        loaded(agreement(p, schools=s, min_cell_size=k).model_copy(update={"id": f"{p}-{i}"}))
        for i, (p, s, k) in enumerate(plan)
    ]
    history, seen = History(), {"suppressed:holdings": 0, "withheld": 0}
    for as_of in (dt.date(2025, 10, 15), dt.date(2026, 1, 15), dt.date(2026, 6, 1)):
        together = {r.agreement_id: r for r in release_all(prepared, agreements, SECRET, as_of, history=history, extract_id="x")}
        for partner in partners:
            mine = [a for a in agreements if a.agreement.partner.id == partner]
            for alone in release_all(prepared, mine, SECRET, as_of, history=history, extract_id="x"):
                same = together[alone.agreement_id]
                assert alone.gates == same.gates and alone.suppression == same.suppression, alone.agreement_id
                assert set(alone.tables) == set(same.tables)
                for name, table in alone.tables.items():
                    assert table.equals(same.tables[name]), (alone.agreement_id, name)
        seen["suppressed:holdings"] += sum(r.suppression["suppressed:holdings"] for r in together.values())
        seen["withheld"] += sum(r.gates["withheld"] for r in together.values())
        records = tuple(r.ledger for r in together.values())
        history = History(releases=history.releases + records, rosters={"x": next(iter(together.values())).roster})
    assert seen["suppressed:holdings"] > 0 and seen["withheld"] > 0, seen  # the audit had work to do
