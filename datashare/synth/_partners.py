"""Community partners: the schools each serves, its service contacts and its consents.

Contact counts cluster around the nine-contact rule (many students at exactly 8, 9 and 10
distinct days) with a short tail and a long one, some same-day double entries and a few
summer contacts outside the school year, so that every edge of eligibility shows up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from datashare.synth._activity import spell_days
from datashare.synth._calendar import Calendar
from datashare.synth._population import (
    Enrollments,
    Schools,
    Students,
    eighteenth_birthday,
    pick,
    zero_padded,
)

SERVICE_TYPES = ("tutoring", "mentoring", "family_engagement", "health")
# Contact days per served spell: (fewest, most, share).
_CONTACT_BANDS = (
    (1, 5, 0.20), (6, 7, 0.10), (8, 8, 0.15), (9, 9, 0.15), (10, 10, 0.12), (11, 14, 0.13),
    (15, 40, 0.15),
)  # fmt: skip
_BAND_LO = np.array([b[0] for b in _CONTACT_BANDS])
_BAND_SPAN = np.array([b[1] - b[0] + 1 for b in _CONTACT_BANDS])
_BAND_P = np.array([b[2] for b in _CONTACT_BANDS])
SIGNERS = ("parent", "guardian", "eligible_student")
SCOPES = ("individual_data", "photo_release")


@dataclass(frozen=True)
class Partner:
    """A partner, the schools it works in and the mix of services it logs."""

    id: str
    schools: np.ndarray  # school indexes
    services: np.ndarray  # chance of each of SERVICE_TYPES
    latino_focus: bool
    reach: float = 1.0  # scales the share of students served (many partners share the district)


def make_partners(count: int, schools: Schools, rng: np.random.Generator) -> list[Partner]:
    """``el-centro`` (family services), ``bright-path-tutoring``, then ``partner-003``..."""
    n = len(schools.names)
    partners = []
    # Past twenty partners, the generic ones share the district's students instead of each
    # reaching 6% of them: 200 partners of a large district serve a few thousand students
    # each, not half the district between every two of them.
    reach = min(1.0, 18 / max(count - 2, 1))
    for i in range(count):
        k = max(1, -(-n // 2))
        served = np.sort(rng.choice(n, size=k, replace=False))
        if i == 1 and schools.small.any():  # the small school always has a partner
            served = np.union1d(served, np.flatnonzero(schools.small))
        if i == 0:
            pid, mix, focus = "el-centro", (0.1, 0.3, 0.45, 0.15), True
        elif i == 1:
            pid, mix, focus = "bright-path-tutoring", (0.85, 0.15, 0.0, 0.0), False
        else:
            pid, mix, focus = f"partner-{i + 1:03d}", tuple(rng.dirichlet(np.ones(4))), False
        partners.append(Partner(pid, served, np.asarray(mix, dtype=float), focus, 1.0 if i < 2 else reach))
    return partners


def served_spells(
    partner: Partner, enr: Enrollments, rows: slice, students: Students, schools: Schools,
    rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Enrollment rows of this chunk whose student the partner serves at that school."""
    spell = np.arange(rows.start, rows.stop)
    student = enr.student[spell]
    rate = np.where(students.hispanic[student], 0.30, 0.05) if partner.latino_focus else 0.12
    rate = np.where(schools.small[enr.school[spell]], 0.15, rate) * partner.reach
    here = np.isin(enr.school[spell], partner.schools)
    return spell[here & (rng.random(len(spell)) < rate)]


def contacts(
    partner: Partner, served: np.ndarray, enr: Enrollments, students: Students,
    schools: Schools, cal: Calendar, rng: np.random.Generator,
) -> dict[str, Any]:  # fmt: skip
    """Contacts on distinct school days of each served spell, plus doubles and summer work."""
    wanted = _BAND_LO[band := rng.choice(len(_BAND_P), size=len(served), p=_BAND_P)]
    wanted = wanted + (rng.random(len(served)) * _BAND_SPAN[band]).astype(np.int64)
    # Choose ``wanted`` distinct days of each spell: rank the spell's days by a random key.
    spell, day = _days_of(enr, served)
    order = np.lexsort((rng.random(len(spell)), spell))
    spell, day = spell[order], day[order]
    first = np.searchsorted(spell, spell, side="left")
    keep = (np.arange(len(spell)) - first) < wanted[np.searchsorted(served, spell)]
    spell, day = spell[keep], day[keep]
    dates = cal.days[day]

    # Some students get two records on one day; a few are seen in the summer.
    double = np.flatnonzero(rng.random(len(spell)) < 0.02)
    summer_spell = served[rng.random(len(served)) < 0.04]
    summer_date = np.where(
        rng.random(len(summer_spell)) < 0.5,
        cal.start - rng.integers(1, 30, size=len(summer_spell)),
        cal.end + rng.integers(1, 31, size=len(summer_spell)),
    )
    spell = np.concatenate([spell, spell[double], summer_spell])
    dates = np.concatenate([dates, dates[double], summer_date])
    order = np.lexsort((dates, enr.student[spell]))
    spell, dates = spell[order], dates[order]
    n = len(spell)
    return {
        "partner_id": pick([partner.id], np.zeros(n, dtype=np.int64)),
        "student_id": students.ids.take(pa.array(enr.student[spell])),
        "contact_date": pa.array(dates),
        "service_type": pick(SERVICE_TYPES, rng.choice(4, size=n, p=partner.services)),
        "minutes": 15 + 5 * rng.integers(0, 22, size=n),
        "school_id": schools.ids.take(pa.array(enr.school[spell])),
    }


def _days_of(enr: Enrollments, spells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(spell, day) pairs of chosen, not necessarily contiguous, enrollment rows."""
    sub = Enrollments(
        student=spells, school=enr.school[spells], entry=enr.entry[spells],
        exit=enr.exit[spells], still_enrolled=enr.still_enrolled[spells],
    )  # fmt: skip
    position, day = spell_days(sub, slice(0, len(spells)))
    return spells[position], day


def consents(
    partner: Partner, served: np.ndarray, enr: Enrollments, rows: slice, students: Students,
    cal: Calendar, rng: np.random.Generator, first_consent: int,
) -> dict[str, Any]:  # fmt: skip
    """Consents for most students the partner serves and a few it does not.

    Students 18 or older before the year ends sign for themselves (``eligible_student``)
    some of the time; others hold only a parent's consent, which no longer counts for them.
    """
    served_students = np.unique(enr.student[served])
    spell = np.arange(rows.start, rows.stop)
    here = spell[np.isin(enr.school[spell], partner.schools)]
    others = np.setdiff1d(np.unique(enr.student[here]), served_students)
    student = np.concatenate(
        [
            served_students[rng.random(len(served_students)) < 0.6],
            others[rng.random(len(others)) < 0.03],
        ]
    )
    n = len(student)
    eighteen = eighteenth_birthday(students.birth[student])
    adult = eighteen <= cal.end
    # Adults: 0 parent only, 1 own only, 2 both.
    mode = np.where(adult, rng.choice(3, size=n, p=(0.45, 0.35, 0.20)), 0)
    parent_rows = np.flatnonzero(mode != 1)
    own_rows = np.flatnonzero(mode >= 1)
    photo_rows = np.flatnonzero(rng.random(n) < 0.15)
    who = np.concatenate([parent_rows, own_rows, photo_rows])
    signer = np.concatenate(
        [
            (rng.random(len(parent_rows)) < 0.2).astype(np.int64),
            np.full(len(own_rows), 2),
            np.zeros(len(photo_rows), dtype=np.int64),
        ]
    )
    scope = (np.arange(len(who)) >= len(parent_rows) + len(own_rows)).astype(np.int64)
    m = len(who)
    early = rng.random(m) < 0.6
    offset = np.where(early, rng.integers(0, 45, size=m), rng.integers(-60, 300, size=m))
    granted = cal.start + 31 + offset  # around August 1
    granted = np.where(signer == 2, np.maximum(granted, eighteen[who]), granted)
    revoked = granted + rng.integers(0, 200, size=m)
    is_revoked = rng.random(m) < 0.12
    order = np.lexsort((scope, signer, student[who]))
    return {
        "consent_id": zero_padded(np.arange(first_consent, first_consent + m), 7),
        "student_id": students.ids.take(pa.array(student[who][order])),
        "partner_id": pick([partner.id], np.zeros(m, dtype=np.int64)),
        "scope": pick(SCOPES, scope[order]),
        "granted_on": pa.array(granted[order]),
        "revoked_on": pa.array(revoked[order], mask=~is_revoked[order]),
        "signed_by": pick(SIGNERS, signer[order]),
    }
