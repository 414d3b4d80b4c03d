"""Disclosure control over everything a partner holds, tested by an independent attacker.

The attacker (``tests/attacker.py``) is first checked on hand-made holdings and against a
subset-by-subset search, then pointed at real releases: the three attacks of issue 10 and
random sequences of releases. Each attack test failed on the release before the holdings
audit, with the attack it names.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import polars as pl
from attacker import Cell, Received, Violation, attack, derivable, describe, members, read_truth
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from release_fixtures import District

import datashare
from datashare.release.keys import init_secret, partner_key, read_secret, student_keys

MODEL_KINDS = {
    "n_mismatch", "gate_mismatch", "unknown_key", "released_not_eligible", "released_not_consented", "identifier",
}
"""Violations meaning the attacker's member model and the release disagree, or an id leaked."""


# --------------------------------------------------------------------------- helpers


def write_extract(district: District, folder: Path) -> Path:
    """The district's tables as CSV files, as a district would hand them in."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in district.tables().items():
        frame.collect().write_csv(folder / f"{name}.csv")
    return folder


def write_agreement(
    folder: Path, agreement_id: str, *, partner: str = "p1", schools: str | list[str] = "all",
    min_cell_size: int = 10, min_contacts: int = 9, count: str = "distinct_days", individual: bool = False,
) -> Path:
    """An agreement file (JSON is YAML) for the 2025-2026 test year."""
    data: dict[str, Any] = {
        "datashare": 1, "id": agreement_id, "version": 1, "title": "Holdings test",
        "district": {"id": "d1", "name": "District"}, "partner": {"id": partner, "name": partner.upper()},
        "school_year": "2025-2026", "term": {"effective": "2025-08-01", "expires": "2026-08-31"},
        "purpose": "Testing disclosure control over a partner's holdings.", "schools": schools,
        "eligibility": {"min_contacts": min_contacts, "count": count},
        "aggregate": {"min_cell_size": min_cell_size}, "retention": {"destroy_by": "2027-06-30"},
    }
    if individual:
        data["individual"] = {
            "consent_scope": "individual_data",
            "fields": {"students": ["grade_level"], "attendance": ["days_enrolled", "attendance_rate"]},
        }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{agreement_id}.yaml"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


class Partner:
    """A partner keeping a copy of every package it receives, run after run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.key = init_secret(root / "district.key")
        self.secret = read_secret(self.key)
        self.out = root / "out"
        self.kept: list[Received] = []
        self.runs = 0

    def release(self, extract: Path, agreements: list[Path], as_of: dt.date) -> None:
        datashare.release(
            extract=extract, agreements=agreements, key_file=self.key, as_of=as_of,
            out=self.out, replace=self.runs > 0, operator="test",
        )
        self.runs += 1
        by_id = {path.stem: path for path in agreements}
        for package in sorted((self.out / "partners").glob("*/*")):
            if package.is_dir() and package.name in by_id:
                copy = self.root / "kept" / f"run{self.runs}" / package.name
                shutil.copytree(package, copy)
                self.kept.append(Received(copy, extract, by_id[package.name], self.secret))

    def attack(self) -> list[Violation]:
        return attack(self.kept)

    def published(self) -> int:
        """Figures with a value in every package kept: a release that hides everything is no answer."""
        tables = [pl.read_parquet(r.package / "data" / "aggregate_comparison.parquet") for r in self.kept]
        return sum(t.select(pl.col("served_value", "comparison_value").is_not_null().sum()).sum_horizontal().item()
                   for t in tables)


def school_of(d: District, school: str, served: int, others: int, *, start: int, partner: str = "p1",
              present: int = 10, absent: int = 1) -> list[str]:
    """``served`` students with 9 contact days and ``others`` without, at one school."""
    ids = []
    for i in range(served + others):
        sid = f"{start + i:05d}"
        d.student(sid, school, present=present + i % 4, absent=absent + i % 3)
        if i % 3 == 0:
            d.incident(sid, school, action="in_school_suspension" if i % 2 else "detention")
        d.grade(sid, school, points=float(i % 5))
        if i < served:
            d.contacts(partner, sid, 9)
        ids.append(sid)
    return ids


# --------------------------------------------------------------------------- the attacker alone


def cell(label: str, ids: range | list[int], *, coded: bool = False, mcs: int = 10) -> Cell:
    return Cell(label, "attendance_rate", "x", frozenset(f"s{i}" for i in ids), coded, mcs)


def test_attacker_finds_a_minus_b_for_nested_groups() -> None:
    found, _ = derivable([cell("A", range(20)), cell("B", range(14))], set(), 10)
    assert [f.size for f in found] == [6]
    assert sorted(found[0].combo, key=lambda c: c[1]) == [(Fraction(1), "A"), (Fraction(-1), "B")]
    assert found[0].members == {f"s{i}" for i in range(14, 20)}


def test_attacker_finds_all_minus_the_published_schools() -> None:
    all_row = cell("ALL", range(30))
    a, b = cell("A", range(0, 15)), cell("B", range(15, 27))  # schools C (3) and D (... ) suppressed
    found, _ = derivable([all_row, a, b], set(), 10)
    assert [f.size for f in found] == [3]


def test_attacker_differences_against_individual_records() -> None:
    served = cell("served", range(12))
    found, _ = derivable([served], {f"s{i}" for i in range(4)}, 10)
    assert [f.size for f in found] == [8]
    # Records of every member leave nothing unknown: not a breach.
    assert derivable([served], {f"s{i}" for i in range(12)}, 10)[0] == []


def test_attacker_leaves_a_safe_holding_alone() -> None:
    # Two schools and their ALL, each 10 or more, and a few released students spread so
    # that no combination isolates fewer than 10 unreleased students.
    cells = [cell("ALL", range(40)), cell("A", range(20)), cell("B", range(20, 40)),
             cell("other", range(100, 130))]
    found, coded = derivable(cells, {"s0", "s25"}, 10)
    assert found == [] and coded == []


def test_attacker_finds_combinations_beyond_pairs() -> None:
    # ALL - A - B + (A and B, a published overlap) = the 4 students of C only.
    cells = [cell("ALL", range(44)), cell("A", range(0, 20)), cell("B", range(10, 40)),
             cell("AB", range(10, 20))]
    found, _ = derivable(cells, set(), 10)
    assert [f.size for f in found] == [4]


def test_attacker_holds_each_group_to_the_agreements_it_needs() -> None:
    # A figure of 7 under a min_cell_size 5 agreement is fine alone, even beside a
    # min_cell_size 10 agreement; the same 7 reached by differencing the two is not.
    loose, strict = cell("A loose", range(7), mcs=5), cell("ALL strict", range(30))
    assert derivable([loose, strict], set(), None)[0] == []
    found, _ = derivable([cell("ALL loose", range(37), mcs=5), strict], set(), None)
    assert [(f.size, f.k) for f in found] == [(7, 10)]
    # With k given, every agreement is held to it.
    assert [f.size for f in derivable([loose, strict], set(), 10)[0]] == [7]


def test_attacker_reports_only_groups_not_signed_combinations() -> None:
    # A - B is in the span but counts students of B negatively: not a group of students.
    found, _ = derivable([cell("A", range(0, 6)), cell("B", range(3, 9))], set(), 10)
    assert sorted((f.size, len(f.combo)) for f in found) == [(6, 1), (6, 1)]


def test_attacker_flags_a_coded_share_whose_total_is_derivable() -> None:
    cells = [cell("ALL", range(30), coded=True), cell("A", range(15)), cell("B", range(15, 30))]
    found, coded = derivable(cells, set(), 10)
    assert found == [] and [(c.label, n) for c, n in coded] == [("ALL", 30)]
    # Without B published the coded total stays hidden.
    assert derivable(cells[:2], set(), 10)[1] == []


def _rank(vectors: list[list[int]]) -> int:
    """Rank over the rationals, by plain Gaussian elimination (written apart from the attacker's)."""
    rows = [[Fraction(v) for v in vector] for vector in vectors]
    rank = 0
    for column in range(len(rows[0]) if rows else 0):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][column]), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][column]:
                f = rows[i][column] / rows[rank][column]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[rank])]
        rank += 1
    return rank


def _naive(cells: list[Cell], released: set[str], k: int | None) -> tuple[list[frozenset[str]], list[str]]:
    """Every subset of unreleased students tried against the span, one by one."""
    people = sorted(set().union(*(c.members for c in cells)) | released)
    vector = lambda ids: [int(p in ids) for p in people]  # noqa: E731
    units = [vector({p}) for p in released]
    limits = {c.label: (k if k is not None else c.min_cell_size) for c in cells}
    figures = [(vector(c.members), limits[c.label]) for c in cells if not c.coded]

    def spans(target: list[int], most: int) -> bool:
        basis = units + [v for v, limit in figures if limit <= most]
        return _rank(basis + [target]) == _rank(basis)

    hidden = [p for p in people if p not in released]
    top = max((limit for _v, limit in figures), default=0)
    groups = [
        frozenset(group)
        for size in range(1, top)
        for group in itertools.combinations(hidden, size)
        if spans(vector(set(group)), top) and not spans(vector(set(group)), size)
    ]
    coded = [c.label for c in cells if c.coded and c.members - released and spans(vector(c.members), top)]
    return groups, coded


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(
    st.integers(3, 9).flatmap(lambda n: st.tuples(
        st.lists(
            st.tuples(st.lists(st.booleans(), min_size=n, max_size=n), st.sampled_from((False, False, True)),
                      st.integers(2, 6)),
            min_size=2, max_size=6,
        ),
        st.lists(st.sampled_from((False, False, False, True)), min_size=n, max_size=n),
        st.sampled_from((None, None, 3, 5)),
    ))
)
def test_attacker_search_equals_trying_every_subset(case: tuple) -> None:
    """The atom and pivot search finds exactly the groups a subset-by-subset search finds."""
    figures, released_flags, k = case
    cells = [
        Cell(f"g{i}", "m", "x", frozenset(f"s{j}" for j, inside in enumerate(flags) if inside), coded, mcs)
        for i, (flags, coded, mcs) in enumerate(figures)
    ]
    released = {f"s{j}" for j, flag in enumerate(released_flags) if flag}
    found, coded = derivable(cells, released, k)
    groups, coded_labels = _naive(cells, released, k)
    assert sorted(sorted(f.members) for f in found) == sorted(sorted(g) for g in groups)
    assert all(f.size == len(f.members) for f in found)
    assert sorted(c.label for c, _n in coded) == sorted(coded_labels)


def test_attacker_reads_a_hand_made_package(tmp_path: Path) -> None:
    """Published n rebuilt from the extract; small cells, wrong n and released keys are caught."""
    d = District().school("A")
    ids = school_of(d, "A", served=12, others=12, start=0)
    extract = write_extract(d, tmp_path / "extract")
    agreement = write_agreement(tmp_path / "agreements", "p1-hand", individual=True, min_cell_size=10)
    init_secret(tmp_path / "k")
    secret = read_secret(tmp_path / "k")
    package = tmp_path / "package"
    (package / "data" / "individual").mkdir(parents=True)
    (package / "release.json").write_text(json.dumps({"agreement": {"id": "p1-hand"}, "as_of": "2026-06-01"}))

    def table(served_n: int | None, comparison_n: int | None) -> None:
        row = {"school_id": "A", "school_name": "A", "metric": "attendance_rate", "served_n": served_n,
               "served_value": 0.9 if served_n is not None else None, "served_display": "",
               "comparison_n": comparison_n, "comparison_value": 0.8 if comparison_n is not None else None,
               "comparison_display": "", "difference": None, "suppressed": False, "note": None}
        pl.DataFrame([row], schema_overrides={"served_n": pl.Int64, "comparison_n": pl.Int64}).write_parquet(
            package / "data" / "aggregate_comparison.parquet")

    keys = student_keys(pl.Series(ids[:10]), partner_key(secret, "p1"))
    keys.drop("student_id").with_columns(pl.lit("A").alias("school_id")).write_parquet(
        package / "data" / "individual" / "students.parquet")
    held = [Received(package, extract, agreement, secret)]

    table(12, 12)  # right: 12 served, 12 others; 10 served released (no consent in the extract)
    kinds = sorted(v.kind for v in attack(held))
    assert kinds == ["derivable_group", "released_not_consented"], describe(attack(held))
    (v,) = [v for v in attack(held) if v.kind == "derivable_group"]
    assert v.size == 2 and v.metric == "attendance_rate"

    table(11, 12)  # a wrong n is reported, never smoothed over
    assert "n_mismatch" in {v.kind for v in attack(held)}
    table(12, None)
    (package / "data" / "individual" / "students.parquet").unlink()
    assert attack(held) == []
    assert [v.kind for v in attack(held, k=13)] == ["derivable_group"]
    (package / "data" / "README.md").write_text(f"x=371.{ids[3]}\n")  # a decimal, not an id
    assert attack(held) == []
    (package / "data" / "README.md").write_text(f"row of student {ids[3]}.\n")
    assert [v.kind for v in attack(held)] == ["identifier"]
    (package / "data" / "README.md").unlink()
    pl.DataFrame({"born": [dt.date(2012, 5, 5)]}).write_parquet(package / "data" / "extra.parquet")
    assert [v.detail for v in attack(held)] == ["data/extra.parquet holds a birth date"]


def test_attacker_reads_the_calendar_form_like_the_daily_form(tmp_path: Path) -> None:
    """Membership days from the calendar and exceptions give the same groups as daily rows."""
    d = District().school("A").school("B")
    for i in range(20):  # every student of a school on every calendar day: 12 at A, 3 at B
        school, days = ("A", 12) if i < 12 else ("B", 3)
        d.student(f"{i:05d}", school, present=days - i % 3, absent=i % 3)
        if i % 2:
            d.contacts("p1", f"{i:05d}", 9)
    daily = write_extract(d, tmp_path / "daily")
    rows = d.rows["attendance"]
    d.rows["calendar"] = [{"school_id": s, "date": day} for s, day in sorted({(r["school_id"], r["date"]) for r in rows})]
    exceptions = [r for r in rows if r["status"] != "present"]
    assert exceptions and len(exceptions) < len(rows)
    folder = write_extract(d, tmp_path / "calendar")
    pl.DataFrame(d.rows["calendar"]).write_csv(folder / "calendar.csv")
    pl.DataFrame(exceptions).write_csv(folder / "attendance.csv")
    agreement = datashare.load_agreement(write_agreement(tmp_path, "p1-cal", min_cell_size=5)).agreement
    assert members(agreement, read_truth(folder)) == members(agreement, read_truth(daily))


def test_attacker_agrees_with_the_release_on_every_n(tmp_path: Path) -> None:
    """Edges of every rule the member model rebuilds: the release and the attacker agree.

    Three partners with one agreement each, so that no partner's holdings hide the others' figures.
    """
    d = District().school("A").school("B")
    for i in range(40):
        sid, school = f"{i:05d}", "A" if i < 22 else "B"
        days = (0, 9, 10, 11)[i % 4]  # around the 10 enrolled days of chronic absence
        born = {4: dt.date(2008, 6, 1), 5: dt.date(2007, 1, 1), 6: dt.date(2008, 6, 2)}.get(i, dt.date(2012, 5, 5))
        d.student(sid, school, present=days - min(days, i % 3), absent=min(days, i % 3), birth_date=born)
        if i % 5 == 0:
            d.enroll(sid, "B" if school == "A" else "A", present=3)
        if i % 9 == 0:
            d.grade(sid, school, points=0.0, credits=0.0)  # graded, no credits attempted
        elif i % 3:
            d.grade(sid, school, points=float(i % 5))
        if i % 4 == 3:
            d.incident(sid, school, action="expulsion" if i % 8 == 3 else "referral")
        for partner_id in ("p1", "p2", "p3"):
            if i % 2 == 0:
                d.contacts(partner_id, sid, 9)
            elif i % 4 == 1:
                d.contacts(partner_id, sid, 5, per_day=2)  # 10 records on 5 days
            elif i == 3:
                d.contacts(partner_id, sid, 9, start=dt.date(2025, 6, 1))  # before the school year
            if i % 2 == 0 or i % 4 == 1:
                revoked = {6: dt.date(2026, 1, 1), 8: dt.date(2026, 6, 1), 10: dt.date(2026, 6, 2)}.get(i)
                d.consent(sid, partner_id, granted_on=dt.date(2026, 6, 2) if i == 12 else dt.date(2025, 9, 1),
                          revoked_on=revoked, signed_by="eligible_student" if i == 5 else "parent")
    extract = write_extract(d, tmp_path / "extract")
    folder = tmp_path / "agreements"
    agreements = [
        write_agreement(folder, "p1-days", min_cell_size=5, individual=True),
        write_agreement(folder, "p2-records", partner="p2", min_cell_size=5, count="records", individual=True,
                        schools=["A"]),
        write_agreement(folder, "p3-aggregate", partner="p3", min_cell_size=5, count="records"),
    ]
    partner = Partner(tmp_path)
    partner.release(extract, agreements, dt.date(2026, 6, 1))
    found = [v for v in partner.attack() if v.kind in MODEL_KINDS]
    assert found == [], describe(found)
    tables = [pl.read_parquet(r.package / "data" / "aggregate_comparison.parquet") for r in partner.kept]
    published = sum(t.select(pl.col("served_n", "comparison_n").is_not_null().sum()).sum_horizontal().item()
                    for t in tables)
    released = [json.loads((r.package / "release.json").read_text())["gates"]["released"] for r in partner.kept]
    assert published >= 20 and sorted(released)[1] >= 3, (published, released)


# --------------------------------------------------------------------------- the attacks


def assert_safe(partner: Partner) -> None:
    """Nothing the partner holds gives a small group (a model-level finding first, for its
    message), and the partner did receive figures (a release that publishes nothing is
    trivially safe)."""
    found = partner.attack()
    assert not {v.kind for v in found} & MODEL_KINDS, describe(found)
    assert found == [], describe(found)
    assert partner.published() > 0


def test_two_agreements_one_run(tmp_path: Path) -> None:
    """All schools against all but one, where the partner serves a single student."""
    d = District().school("A").school("B").school("C")
    school_of(d, "A", 15, 15, start=0)
    school_of(d, "B", 12, 12, start=100)
    school_of(d, "C", 1, 12, start=200)
    extract = write_extract(d, tmp_path / "extract")
    folder = tmp_path / "agreements"
    agreements = [write_agreement(folder, "p1-all"), write_agreement(folder, "p1-ab", schools=["A", "B"])]
    partner = Partner(tmp_path)
    partner.release(extract, agreements, dt.date(2026, 6, 1))
    assert_safe(partner)


def test_two_runs(tmp_path: Path) -> None:
    """October publishes a served figure; June releases most of its students' records."""
    d = District().school("A").school("B")
    served = school_of(d, "A", 12, 15, start=0)
    school_of(d, "B", 11, 15, start=100)
    for sid in served[:3]:
        d.consent(sid, "p1", granted_on=dt.date(2025, 11, 1))
    extract = write_extract(d, tmp_path / "extract")
    agreements = [write_agreement(tmp_path / "agreements", "p1-ind", individual=True)]
    partner = Partner(tmp_path)
    partner.release(extract, agreements, dt.date(2025, 10, 15))
    assert partner.attack() == [], describe(partner.attack())
    partner.release(extract, agreements, dt.date(2026, 6, 1))
    assert_safe(partner)


def test_one_table(tmp_path: Path) -> None:
    """Two suppressed schools serve 3 and 4: ALL minus the published school gives the 7."""
    d = District().school("A").school("B").school("C")
    school_of(d, "A", 15, 15, start=0)
    school_of(d, "B", 3, 12, start=100)
    school_of(d, "C", 4, 12, start=200)
    extract = write_extract(d, tmp_path / "extract")
    partner = Partner(tmp_path)
    partner.release(extract, [write_agreement(tmp_path / "agreements", "p1-all")], dt.date(2026, 6, 1))
    assert_safe(partner)


# --------------------------------------------------------------------------- random releases

SCHOOLS = ("A", "B", "C")
AS_OFS = tuple(dt.date.fromisoformat(d) for d in (
    "2025-10-15", "2025-12-01", "2026-01-15", "2026-03-01", "2026-04-15", "2026-06-01"))
EVENTS = tuple(dt.date.fromisoformat(d) for d in (
    "2025-09-01", "2025-11-01", "2025-12-15", "2026-02-01", "2026-04-01", "2026-05-15"))
"""Consent dates fall between the release dates, so consents are granted and revoked between runs."""

consent_st = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(EVENTS), st.sampled_from((None, *EVENTS))).map(
        lambda g: (g[0], g[1] if g[1] is not None and g[1] > g[0] else None)
    ),
)
student_st = st.fixed_dictionaries({
    "also": st.sampled_from((None, None, None, None, *SCHOOLS)),
    "present": st.integers(0, 14),
    "absent": st.integers(0, 4),
    "contacts": st.sampled_from((0, 0, 3, 9, 10, 12)),
    "per_day": st.sampled_from((1, 1, 2)),
    "consent": consent_st,
    "adult": st.sampled_from((False, False, False, True)),
    "incidents": st.integers(0, 2),
    "suspended": st.booleans(),
    "grades": st.lists(st.sampled_from((0.0, 2.0, 4.0)), max_size=2),
    "changes": st.booleans(),
})
agreement_st = st.fixed_dictionaries({
    "schools": st.one_of(st.just("all"), st.lists(st.sampled_from(SCHOOLS), min_size=1, max_size=3, unique=True).map(sorted)),
    "min_cell_size": st.integers(5, 10),
    "min_contacts": st.sampled_from((3, 5, 9)),
    "count": st.sampled_from(("distinct_days", "records")),
    "individual": st.booleans(),
})
scenario_st = st.fixed_dictionaries({
    "schools": st.integers(2, 3).flatmap(
        lambda n: st.tuples(*[st.lists(student_st, min_size=12, max_size=40) for _ in range(n)])),
    "agreements": st.lists(agreement_st, min_size=1, max_size=3),
    "as_of": st.lists(st.sampled_from(AS_OFS), min_size=2, max_size=4, unique=True).map(sorted),
    "versions": st.lists(st.sampled_from((0, 0, 1, 2)), min_size=4, max_size=4),
})


def build(scenario: dict[str, Any], version: int) -> District:
    """The scenario's district; a later ``version`` adds days and contacts to some students."""
    d = District()
    schools = SCHOOLS[: len(scenario["schools"])]
    for school in schools:
        d.school(school)
    n = 0
    for school, students in zip(schools, scenario["schools"]):
        for s in students:
            sid, n = f"{n:05d}", n + 1
            extra = version if s["changes"] else 0
            birth = dt.date(2006, 1, 1) if s["adult"] else dt.date(2011, 1, 1)
            d.student(sid, school, present=s["present"] + extra, absent=s["absent"], birth_date=birth)
            if s["also"] not in (None, school) and s["also"] in schools:
                d.enroll(sid, s["also"], present=s["present"], absent=s["absent"])
            for i in range(s["incidents"]):
                d.incident(sid, school, action="out_of_school_suspension" if s["suspended"] and i == 0 else "detention")
            for i, points in enumerate(s["grades"]):
                d.grade(sid, school, points=points, course_id=f"c{i}")
            if s["contacts"] + extra:
                d.contacts("p1", sid, s["contacts"] + extra, per_day=s["per_day"])
            if s["consent"] is not None:
                granted, revoked = s["consent"]
                d.consent(sid, "p1", granted_on=granted, revoked_on=revoked,
                          signed_by="eligible_student" if s["adult"] and s["changes"] else "parent")
    return d


def play(scenario: dict[str, Any], root: Path, kinds: set[str] | None = None) -> None:
    """Release the scenario's agreements at each date; after every release, attack everything kept."""
    folder = root / "agreements"
    present = SCHOOLS[: len(scenario["schools"])]
    agreements = []
    for i, a in enumerate(scenario["agreements"]):
        if a["schools"] != "all":  # only schools the district has; an agreement names one at least
            a = {**a, "schools": [s for s in a["schools"] if s in present] or [present[0]]}
        agreements.append(write_agreement(folder, f"p1-a{i}", **a))
    partner = Partner(root)
    extracts: dict[int, Path] = {}
    for step, as_of in enumerate(scenario["as_of"]):
        version = 0 if step == 0 else scenario["versions"][step]
        if version not in extracts:
            extracts[version] = write_extract(build(scenario, version), root / f"extract{version}")
        partner.release(extracts[version], agreements, as_of)
        found = [v for v in partner.attack() if kinds is None or v.kind in kinds]
        assert found == [], f"after release {step + 1} as of {as_of}:\n{describe(found)}"


RANDOM = settings(
    max_examples=20, deadline=None, database=None, derandomize=True,
    # No shrinking: shrinking whole sequences of releases takes minutes; the failing
    # example is printed as drawn, with the figures the attacker combined.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
)


@RANDOM
@given(scenario_st)
def test_random_releases_leave_no_derivable_small_group(scenario: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        play(scenario, Path(tmp))


@settings(RANDOM, max_examples=4)
@given(scenario_st)
def test_random_releases_match_the_attackers_member_model(scenario: dict[str, Any]) -> None:
    """Every published n equals the attacker's, and released students are eligible and consented."""
    with tempfile.TemporaryDirectory() as tmp:
        play(scenario, Path(tmp), MODEL_KINDS)
