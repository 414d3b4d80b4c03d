"""Schools, students and enrollments of a synthetic district, drawn once for the whole district.

Everything here is a numpy array per student or per enrollment (a million students is a few
tens of megabytes); the big tables are drawn later, chunk by chunk, from these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datashare.synth._calendar import Calendar

GRADES = ("PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")
ELEMENTARY, MIDDLE, HIGH, ALL_GRADES, SECONDARY = (0, 6), (7, 9), (10, 13), (0, 13), (7, 13)
HIGH_SCHOOL_FROM = 10
_TREES = (
    "Maple", "Oak Hill", "Cedar", "Willow", "Birch", "Elm Street", "Pine Ridge", "Aspen",
    "Hickory", "Magnolia", "Sycamore", "Chestnut", "Linden", "Poplar", "Juniper", "Alder",
)  # fmt: skip
_LEVEL_NAME = {
    ELEMENTARY: "Elementary School", MIDDLE: "Middle School", HIGH: "High School",
    ALL_GRADES: "Community School", SECONDARY: "Secondary School",
}  # fmt: skip
FIRST_NAMES = (
    "Sofia", "Mateo", "Olivia", "Liam", "Camila", "Noah", "Valentina", "Elijah", "Isabella",
    "Santiago", "Ava", "Diego", "Mia", "Jayden", "Aaliyah", "Lucas", "Zoe", "Gabriel", "Amara",
    "Ethan", "Ximena", "Malik", "Hana", "Omar", "Priya", "Leo", "Nia", "Carlos", "Grace", "Kai",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Smith", "Martinez", "Johnson", "Hernandez", "Williams", "Lopez", "Brown",
    "Gonzalez", "Jones", "Rodriguez", "Davis", "Perez", "Miller", "Sanchez", "Wilson", "Ramirez",
    "Moore", "Torres", "Taylor", "Nguyen", "Anderson", "Flores", "Thomas", "Kim", "Jackson",
    "Rivera", "White", "Patel", "Harris",
)  # fmt: skip
RACES = (
    "Hispanic or Latino", "White", "Black or African American", "Asian", "Two or more races",
    "American Indian or Alaska Native", "Native Hawaiian or Pacific Islander",
)  # fmt: skip
_RACE_SHARE = (0.30, 0.37, 0.21, 0.05, 0.05, 0.01, 0.01)
GENDERS = ("F", "M", "X")


def pick(values: tuple[str, ...] | list[str], index: np.ndarray) -> pa.Array:
    """Strings by index, as one arrow array (a vectorized take, not a Python loop)."""
    return pa.array(values, pa.string()).take(pa.array(np.asarray(index)))


def zero_padded(numbers: np.ndarray, width: int) -> pa.Array:
    """Identifiers such as ``000123``: strings that keep their leading zeros."""
    return pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")


def eighteenth_birthday(birth: np.ndarray) -> np.ndarray:
    """The day each birth date turns 18 (a February 29 birthday falls on March 1)."""
    month = birth.astype("datetime64[M]")
    return (month + 216).astype("datetime64[D]") + (birth - month.astype("datetime64[D]"))


@dataclass(frozen=True)
class Schools:
    """One entry per school; ``lo``/``hi`` are the first and last grade index it serves."""

    ids: pa.Array
    names: list[str]
    lo: np.ndarray
    hi: np.ndarray
    small: np.ndarray  # the small school, where comparison groups fall under ten

    def serving(self, grade: int, *, regular: bool = True) -> np.ndarray:
        """Indexes of the schools that teach ``grade`` (regular ones only by default)."""
        ok = (self.lo <= grade) & (grade <= self.hi)
        return np.flatnonzero(ok & ~self.small if regular else ok)


def make_schools(count: int) -> Schools:
    """Elementary, middle and high schools; with three or more, one small alternative school."""
    if count == 1:
        levels = [ALL_GRADES]
    elif count == 2 or count == 3:
        levels = [ELEMENTARY, SECONDARY]
    else:
        regular = count - 1
        n_high = n_mid = max(1, round(regular / 4))
        levels = [ELEMENTARY] * (regular - n_high - n_mid) + [MIDDLE] * n_mid + [HIGH] * n_high
    names = []
    for i, level in enumerate(levels):
        tree = _TREES[i % len(_TREES)] + (f" {i // len(_TREES) + 1}" if i >= len(_TREES) else "")
        names.append(f"{tree} {_LEVEL_NAME[level]}")
    if count >= 3:
        levels.append(HIGH)
        names.append("Orchard Academy")
    small = np.zeros(count, dtype=bool)
    small[-1] = count >= 3
    return Schools(
        ids=zero_padded(np.arange(101, 101 + count), 4),
        names=names,
        lo=np.array([lv[0] for lv in levels], dtype=np.int8),
        hi=np.array([lv[1] for lv in levels], dtype=np.int8),
        small=small,
    )


@dataclass(frozen=True)
class Students:
    """Per-student attributes; the hidden propensities shape every later table."""

    ids: pa.Array
    grade: np.ndarray  # index into GRADES
    school: np.ndarray  # the school the student enters first
    birth: np.ndarray  # datetime64[D]
    hispanic: np.ndarray
    absence: np.ndarray  # chance of being absent on a school day
    excused: np.ndarray  # share of absences that are excused
    ability: np.ndarray  # expected grade points
    risk: np.ndarray  # expected discipline incidents over a full year
    columns: dict[str, object]  # the rest of the students table

    def __len__(self) -> int:
        return len(self.grade)


def make_students(n: int, schools: Schools, cal: Calendar, rng: np.random.Generator) -> Students:
    """Grades, schools, birth dates consistent with grade, demographics and propensities."""
    weight = np.ones(len(GRADES))
    weight[0] = 0.5  # fewer pre-kindergarten seats
    grade = rng.choice(len(GRADES), size=n, p=weight / weight.sum()).astype(np.int8)
    school = np.zeros(n, dtype=np.int16)
    placed = np.zeros(n, dtype=bool)
    if schools.small.any():  # 12 to 36 high schoolers, so that its groups fall under ten
        high = np.flatnonzero(grade >= HIGH_SCHOOL_FROM)
        size = min(len(high) // 3, int(np.clip(round(n * 0.015), 12, 36)))
        chosen = rng.choice(high, size=size, replace=False)
        school[chosen], placed[chosen] = np.flatnonzero(schools.small)[0], True
    school_weight = rng.uniform(0.7, 1.3, size=len(schools.names))
    for g in range(len(GRADES)):
        who = np.flatnonzero((grade == g) & ~placed)
        options = schools.serving(g)
        p = school_weight[options] / school_weight[options].sum()
        school[who] = rng.choice(options, size=len(who), p=p)

    # Age on September 1 is grade + 5 (kindergarten at five); some were held back a year.
    age = grade.astype(np.int64) + 4 + (rng.random(n) < np.where(grade >= 7, 0.06, 0.03))
    september = (cal.first_year - age - 1970).astype("datetime64[Y]").astype("datetime64[M]") + 8
    birth = september.astype("datetime64[D]") - rng.integers(0, 365, size=n)

    race = rng.choice(len(RACES), size=n, p=_RACE_SHARE)
    hispanic = race == 0
    english_learner = rng.random(n) < np.select([hispanic, race == 3], [0.35, 0.25], 0.03)
    disadvantaged = rng.random(n) < np.where(hispanic | (race == 2), 0.65, 0.38)
    special_ed = rng.random(n) < 0.14

    # Absence propensity: mean near 6.5%, with about a fifth of students at 10% or more.
    absence = rng.beta(1.4, 23.0, size=n) * np.where(grade >= HIGH_SCHOOL_FROM, 1.15, 0.95)
    absence = np.clip(absence + 0.01 * disadvantaged, 0.0, 0.9).astype(np.float32)
    ability = (3.1 - 9.0 * absence + 0.7 * rng.standard_normal(n)).astype(np.float32)
    at_risk = rng.random(n) < np.select([grade >= 10, grade >= 7], [0.15, 0.20], 0.06)
    risk = np.where(at_risk, rng.gamma(1.5, 1.6, size=n), 0.03).astype(np.float32)

    width = max(6, len(str(n)))
    columns = {
        "student_id": zero_padded(np.arange(1, n + 1), width),
        "first_name": pick(FIRST_NAMES, rng.integers(0, len(FIRST_NAMES), size=n)),
        "last_name": pick(LAST_NAMES, rng.integers(0, len(LAST_NAMES), size=n)),
        "birth_date": pa.array(birth),
        "grade_level": pick(GRADES, grade),
        "gender": pick(GENDERS, rng.choice(3, size=n, p=(0.49, 0.49, 0.02))),
        "race_ethnicity": pick(RACES, race),
        "english_learner": pa.array(english_learner),
        "special_education": pa.array(special_ed),
        "economically_disadvantaged": pa.array(disadvantaged),
    }
    return Students(
        ids=columns["student_id"],
        grade=grade,
        school=school,
        birth=birth,
        hispanic=hispanic,
        absence=absence,
        excused=rng.beta(2.0, 2.0, size=n).astype(np.float32),
        ability=ability,
        risk=risk,
        columns=columns,
    )


@dataclass(frozen=True)
class Enrollments:
    """Enrollment spells sorted by student then entry; days are indexes into the calendar."""

    student: np.ndarray
    school: np.ndarray
    entry: np.ndarray
    exit: np.ndarray  # last day enrolled (inclusive)
    still_enrolled: np.ndarray  # exit_date is null

    def rows(self, first_student: int, end_student: int) -> slice:
        """The enrollments of students ``first_student`` up to ``end_student`` (exclusive)."""
        lo, hi = np.searchsorted(self.student, [first_student, end_student])
        return slice(int(lo), int(hi))


def make_enrollments(
    students: Students, schools: Schools, cal: Calendar, rng: np.random.Generator
) -> Enrollments:
    """Most students all year; some enter late, some leave, some transfer mid-year.

    A transfer is two spells at two schools, the second after the first; a re-entry is two
    spells at the same school, so that a student may be enrolled twice at one school.
    """
    n, last = len(students), cal.last
    # 0 all year, 1 enters late, 2 leaves the district, 3 transfers, 4 leaves and re-enters.
    kind = rng.choice(5, size=n, p=(0.875, 0.05, 0.03, 0.04, 0.005))
    kind[(kind == 3) & schools.small[students.school]] = 0
    other = students.school.copy()
    for g in range(len(GRADES)):
        options = schools.serving(g)
        who = np.flatnonzero((students.grade == g) & (kind == 3))
        if len(options) < 2:
            kind[who] = 0
            continue
        home = np.searchsorted(options, students.school[who])
        shift = rng.integers(1, len(options), size=len(who))
        other[who] = options[(home + shift) % len(options)]

    entry = np.zeros(n, dtype=np.int16)
    exit_ = np.full(n, last, dtype=np.int16)
    split = rng.integers(30, 150, size=n).astype(np.int16)
    late = kind == 1
    entry[late] = rng.integers(5, 150, size=int(late.sum()))
    exit_[kind >= 2] = split[kind >= 2]
    still = kind != 2

    two = np.flatnonzero(kind >= 3)
    transfer = kind[two] == 3
    gap = np.where(transfer, rng.integers(1, 6, size=len(two)), rng.integers(5, 20, size=len(two)))
    second_entry = (split[two] + gap).astype(np.int16)
    student = np.concatenate([np.arange(n, dtype=np.int32), two.astype(np.int32)])
    school = np.concatenate([students.school, np.where(transfer, other[two], students.school[two])])
    entry = np.concatenate([entry, second_entry])
    exit_ = np.concatenate([exit_, np.full(len(two), last, dtype=np.int16)])
    still = np.concatenate([still & (kind < 3), np.ones(len(two), dtype=bool)])
    order = np.lexsort((entry, student))
    return Enrollments(
        student=student[order],
        school=school[order].astype(np.int16),
        entry=entry[order],
        exit=exit_[order],
        still_enrolled=still[order],
    )
