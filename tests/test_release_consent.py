"""Consent as of a date: partner, scope, grant, revocation and the 18-and-over rule."""

from __future__ import annotations

import datetime as dt

from release_fixtures import District, agreement

from datashare.release.consent import consented

AS_OF = dt.date(2026, 3, 15)
CHILD = dt.date(2012, 1, 1)


def _consented(district: District, agreement_=None, as_of: dt.date = AS_OF) -> list[str]:
    tables = district.tables()
    frame = consented(tables["consents"], tables["students"], agreement_ or agreement(), as_of)
    return frame.get_column("student_id").to_list()


def _one(birth_date: dt.date = CHILD) -> District:
    return District().school("A").student("s1", "A", birth_date=birth_date)


def test_valid_parent_consent():
    assert _consented(_one().consent("s1", "p1")) == ["s1"]


def test_granted_on_as_of_counts():
    assert _consented(_one().consent("s1", "p1", granted_on=AS_OF)) == ["s1"]


def test_granted_the_day_after_as_of():
    assert _consented(_one().consent("s1", "p1", granted_on=AS_OF + dt.timedelta(days=1))) == []


def test_revoked_on_as_of():
    assert _consented(_one().consent("s1", "p1", revoked_on=AS_OF)) == []


def test_revoked_the_day_after_as_of_still_counts():
    assert _consented(_one().consent("s1", "p1", revoked_on=AS_OF + dt.timedelta(days=1))) == ["s1"]


def test_consent_for_another_partner():
    assert _consented(_one().consent("s1", "p2")) == []


def test_consent_for_another_scope():
    assert _consented(_one().consent("s1", "p1", scope="photos")) == []


def test_any_one_valid_row_suffices():
    d = _one().consent("s1", "p1", revoked_on=dt.date(2025, 10, 1)).consent("s1", "p1", signed_by="guardian")
    assert _consented(d) == ["s1"]


def test_turning_18_on_as_of_with_only_a_parent_consent():
    assert _consented(_one(dt.date(2008, 3, 15)).consent("s1", "p1", signed_by="parent")) == []


def test_turning_18_on_as_of_with_their_own_consent():
    assert _consented(_one(dt.date(2008, 3, 15)).consent("s1", "p1", signed_by="eligible_student")) == ["s1"]


def test_turning_18_the_day_after_as_of_parent_still_counts():
    assert _consented(_one(dt.date(2008, 3, 16)).consent("s1", "p1", signed_by="parent")) == ["s1"]


def test_adult_with_parent_consent_when_agreement_accepts_any():
    d = _one(dt.date(2000, 1, 1)).consent("s1", "p1", signed_by="guardian")
    assert _consented(d, agreement(adult="any")) == ["s1"]


def test_leap_day_birthday_is_18_on_february_28_of_a_common_year():
    d = _one(dt.date(2008, 2, 29)).consent("s1", "p1", signed_by="parent")
    assert _consented(d, as_of=dt.date(2026, 2, 27)) == ["s1"]
    assert _consented(d, as_of=dt.date(2026, 2, 28)) == []


def test_no_individual_section_means_nobody():
    assert _consented(_one().consent("s1", "p1"), agreement(individual=False)) == []
