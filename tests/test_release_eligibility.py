"""The nine-contact rule: counting modes, the school year, covered schools."""

from __future__ import annotations

import datetime as dt

import polars as pl
from release_fixtures import YEAR, District, agreement

from datashare.release.derive import derive
from datashare.release.eligibility import contact_counts, eligible


def _eligible(district: District, agreement_, schools=None):
    tables = district.tables()
    counts = contact_counts(tables["service_contacts"], YEAR)
    enrolled = derive(tables, YEAR).enrolled
    return eligible(counts, agreement_, enrolled, schools)


def _ids(frame: pl.DataFrame) -> list[str]:
    return frame.get_column("student_id").to_list()


def _district() -> District:
    return District().school("A").school("B").student("s1", "A").student("s2", "A").student("s3", "B")


def test_eight_versus_nine_contacts():
    d = _district().contacts("p1", "s1", 8).contacts("p1", "s2", 9)
    result = _eligible(d, agreement())
    assert _ids(result.eligible) == ["s2"]
    assert _ids(result.with_contacts) == ["s1", "s2"]


def test_nine_records_on_eight_days_by_distinct_days():
    d = _district().contacts("p1", "s1", 7).contacts("p1", "s1", 1, per_day=2, start=dt.date(2026, 1, 5))
    assert _ids(_eligible(d, agreement(count="distinct_days")).eligible) == []


def test_nine_records_on_eight_days_by_records():
    d = _district().contacts("p1", "s1", 7).contacts("p1", "s1", 1, per_day=2, start=dt.date(2026, 1, 5))
    assert _ids(_eligible(d, agreement(count="records")).eligible) == ["s1"]


def test_contacts_outside_the_school_year_do_not_count():
    d = (
        _district()
        .contacts("p1", "s1", 8)
        .contacts("p1", "s1", 5, start=dt.date(2025, 6, 20))  # summer before: 6/20..6/24
        .contacts("p1", "s1", 5, start=dt.date(2026, 7, 1))  # the day after the year ends
    )
    assert _ids(_eligible(d, agreement()).eligible) == []
    d.contacts("p1", "s1", 1, start=dt.date(2026, 6, 30))  # the last day counts
    assert _ids(_eligible(d, agreement()).eligible) == ["s1"]


def test_contacts_of_another_partner_do_not_count():
    d = _district().contacts("p2", "s1", 9).contacts("p1", "s1", 4)
    assert _ids(_eligible(d, agreement("p1")).eligible) == []
    assert _ids(_eligible(d, agreement("p2")).eligible) == ["s1"]


def test_restricted_to_covered_schools():
    d = _district().contacts("p1", "s1", 9).contacts("p1", "s3", 9)
    result = _eligible(d, agreement(schools=["B"]), frozenset({"B"}))
    assert _ids(result.eligible) == ["s3"] and _ids(result.with_contacts) == ["s3"]


def test_contacts_of_a_student_not_enrolled_anywhere():
    d = _district().contacts("p1", "ghost", 20)
    assert _ids(_eligible(d, agreement()).eligible) == []


def test_min_contacts_from_the_agreement():
    d = _district().contacts("p1", "s1", 3)
    assert _ids(_eligible(d, agreement(min_contacts=3)).eligible) == ["s1"]
    assert _ids(_eligible(d, agreement(min_contacts=4)).eligible) == []


def test_counts_for_all_partners_in_one_frame():
    d = _district().contacts("p1", "s1", 2, per_day=3).contacts("p2", "s1", 4)
    counts = contact_counts(d.tables()["service_contacts"], YEAR)
    assert counts.rows() == [("p1", "s1", 2, 6), ("p2", "s1", 4, 4)]
