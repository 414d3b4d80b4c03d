"""Properties of whole releases over random small districts (hypothesis).

Each district is checked against a plain-Python oracle of the rules (who is eligible,
who consented, how many students each group counts), never against the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from release_fixtures import AS_OF, SECRET, District, agreement, release

from datashare.agreement.model import Agreement
from datashare.release.keys import partner_key, student_keys

PARTNERS = ("p1", "p2")
SCHOOLS = ("A", "B", "C")

student_st = st.fixed_dictionaries(
    {
        "also": st.sampled_from([None, None, None, "A", "B", "C"]),
        "present": st.integers(0, 14),
        "absent": st.integers(0, 4),
        "contacts": st.tuples(st.sampled_from([0, 8, 9, 12]), st.sampled_from([0, 3, 9, 10])),
        "consent": st.tuples(
            st.sampled_from([None, "parent", "eligible_student"]),
            st.sampled_from([None, "parent", "eligible_student"]),
        ),
        "revoked": st.booleans(),
        "adult": st.booleans(),
        "incidents": st.integers(0, 2),
        "suspended": st.booleans(),
        "grades": st.lists(st.sampled_from([0.0, 2.0, 4.0]), max_size=2),
    }
)

@st.composite
def district_st(draw) -> tuple[list[dict], int]:
    """Students of school A (up to 30), B (up to 20) and C (up to 8), a few at two schools."""
    students = []
    for school, most in zip(SCHOOLS, (30, 20, 8)):
        for s in draw(st.lists(student_st, max_size=most)):
            schools = [school] if s["also"] in (None, school) else [school, s["also"]]
            students.append({**s, "schools": schools})
    return students, draw(st.sampled_from([3, 5]))


def _build(students: list[dict]) -> District:
    d = District()
    for school in SCHOOLS:
        d.school(school)
    for i, s in enumerate(students):
        sid = f"{i:05d}"
        birth = dt.date(2006, 1, 1) if s["adult"] else dt.date(2011, 1, 1)
        first, *others = s["schools"]
        d.student(sid, first, present=s["present"], absent=s["absent"], birth_date=birth)
        for school in others:
            d.enroll(sid, school, present=s["present"] // 2)
        for partner, days in zip(PARTNERS, s["contacts"]):
            d.contacts(partner, sid, days)
        for partner, signer in zip(PARTNERS, s["consent"]):
            if signer:
                d.consent(sid, partner, signed_by=signer, revoked_on=AS_OF if s["revoked"] else None)
        for k in range(s["incidents"]):
            action = "out_of_school_suspension" if s["suspended"] and k == 0 else "referral"
            d.incident(sid, first, action=action)
        for points in s["grades"]:
            d.grade(sid, first, points=points)
    return d


def _oracle(students: list[dict], partner_index: int) -> tuple[set[str], set[str]]:
    """Eligible (>= 9 distinct days) and released (eligible, consent valid on AS_OF)."""
    eligible, released = set(), set()
    for i, s in enumerate(students):
        sid = f"{i:05d}"
        if s["contacts"][partner_index] >= 9:
            eligible.add(sid)
            signer = s["consent"][partner_index]
            if signer and not s["revoked"] and (not s["adult"] or signer == "eligible_student"):
                released.add(sid)
    return eligible, released


def _true_ns(students: list[dict], eligible: set[str]) -> dict[tuple[str, str, str], int]:
    """(school, metric, side) -> the number of distinct students the metric counts."""
    ns: dict[tuple[str, str, str], int] = defaultdict(int)
    for i, s in enumerate(students):
        served = f"{i:05d}" in eligible
        side = "served" if served else "comparison"
        first = s["schools"][0]
        for school in s["schools"]:
            days = s["present"] + s["absent"] if school == first else s["present"] // 2
            counted = {
                "suspension_rate": True,
                "incidents_per_student": True,
                "attendance_rate": days > 0,
                "chronic_absence_rate": days >= 10,
                "mean_gpa": school == first and bool(s["grades"]),
                "course_failure_rate": school == first and bool(s["grades"]),
            }
            for metric, yes in counted.items():
                ns[(school, metric, side)] += yes
    return ns


@settings(max_examples=30, deadline=None)
@given(district_st())
def test_release_properties(drawn):
    students, m = drawn
    d = _build(students)
    r1, r2 = release(d, agreement("p1", min_cell_size=m), agreement("p2", min_cell_size=m))
    for index, r in enumerate((r1, r2)):
        eligible, released = _oracle(students, index)
        assert r.gates["eligible"] == len(eligible) and r.gates["released"] == len(released)

        # every student_key in the individual tables belongs to an eligible consented student
        keys = student_keys(pl.Series(sorted(released), dtype=pl.String), partner_key(SECRET, r.partner_id))
        allowed = set(keys.get_column("student_key"))
        for name in ("students", "attendance", "discipline", "grades"):
            assert set(r.tables[name].get_column("student_key")) <= allowed
            assert "student_id" not in r.tables[name].columns
        assert set(r.tables["students"].get_column("student_key")) == allowed

        table = r.tables["aggregate_comparison"]
        true_ns = _true_ns(students, eligible)
        for row in table.iter_rows(named=True):
            for side in ("served", "comparison"):
                n = row[f"{side}_n"]
                # no published group below min_cell_size, and the published n is the true one
                if n is not None:
                    assert n >= m and not row["suppressed"]
                    if row["school_id"] != "ALL":
                        assert n == true_ns[(row["school_id"], row["metric"], side)]
                else:  # withheld: suppressed, or drawn from a table supplied header-only
                    assert row["suppressed"] or row["note"] == "not_supplied"
                    assert row[f"{side}_value"] is None
        # no lone suppressed group next to a published ALL row: subtraction recovers nothing
        for metric in table.get_column("metric").unique():
            rows = table.filter(pl.col("metric") == metric)
            if rows.filter(pl.col("school_id") == "ALL").get_column("suppressed").item():
                continue
            for side in ("served", "comparison"):
                hidden = [
                    school
                    for school in rows.filter(pl.col("suppressed")).get_column("school_id")
                    if school != "ALL" and true_ns[(school, metric, side)] > 0
                ]
                assert len(hidden) != 1, (metric, side, hidden)

    # determinism: a second computation gives identical frames
    again = release(d, agreement("p1", min_cell_size=m), agreement("p2", min_cell_size=m))
    for before, after in zip((r1, r2), again):
        assert before.gates == after.gates and before.suppression == after.suppression
        assert list(before.tables) == list(after.tables)
        for name in before.tables:
            assert before.tables[name].equals(after.tables[name])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=1, max_size=8), min_size=1, max_size=20, unique=True))
def test_keys_differ_between_partners_and_are_stable(ids):
    series = pl.Series("student_id", ids)
    p1 = student_keys(series, partner_key(SECRET, "p1"))
    p2 = student_keys(series, partner_key(SECRET, "p2"))
    assert p1.equals(student_keys(series, partner_key(bytes(SECRET), "p1")))
    assert not set(p1.get_column("student_key")) & set(p2.get_column("student_key"))
    assert p1.get_column("student_key").n_unique() == len(ids)


def _without_aggregate(agreement_: Agreement) -> Agreement:
    data = agreement_.model_dump(exclude_none=True)
    del data["aggregate"]
    return Agreement.model_validate(data)


agreement_st = st.builds(
    lambda partner, schools, m, count, contacts, individual, adult, metrics: agreement(
        partner,
        schools=schools,
        min_cell_size=m,
        count=count,
        min_contacts=contacts,
        individual=individual is not False,
        adult=adult,
        metrics=metrics,
    )
    if individual != "only"
    else _without_aggregate(agreement(partner, schools=schools, count=count, min_contacts=contacts, adult=adult)),
    st.sampled_from(PARTNERS),
    st.sampled_from(["all", ["A", "B"], ["C"]]),
    st.sampled_from([3, 5]),
    st.sampled_from(["distinct_days", "records"]),
    st.sampled_from([3, 9]),
    st.sampled_from([True, False, "only"]),  # "only": individual data without an aggregate
    st.sampled_from(["own", "any"]),
    st.sampled_from([None, ["mean_gpa", "attendance_rate"], ["suspension_rate"]]),
)


@settings(max_examples=25, deadline=None)
@given(district_st(), st.lists(agreement_st, min_size=2, max_size=6))
def test_agreements_computed_together_equal_each_computed_alone(drawn, agreements):
    """The run computes agreements covering the same schools in shared queries; each
    agreement's release must be exactly what it would be alone, unless its partner has
    another agreement in the run: then the holdings audit may only withhold more."""
    d = _build(drawn[0])
    together = release(d, *agreements)
    partners = [a.partner.id for a in agreements]
    for agreement_, batched in zip(agreements, together, strict=True):
        (alone,) = release(d, agreement_)
        assert list(batched.tables) == list(alone.tables)
        if partners.count(agreement_.partner.id) == 1:
            assert batched.gates == alone.gates and batched.suppression == alone.suppression
            for name, frame in alone.tables.items():
                assert batched.tables[name].equals(frame), name
            continue
        assert batched.gates["released"] <= alone.gates["released"]
        if "aggregate_comparison" in alone.tables:
            mine, theirs = batched.tables["aggregate_comparison"], alone.tables["aggregate_comparison"]
            assert mine.select("school_id", "metric").equals(theirs.select("school_id", "metric"))
            for side in ("served", "comparison"):
                shown = mine.get_column(f"{side}_value").is_not_null()
                assert (theirs.get_column(f"{side}_value").filter(shown) == mine.get_column(f"{side}_value").filter(shown)).all()
