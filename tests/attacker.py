"""An attacker on a partner's holdings, written apart from the release code it attacks.

The partner keeps every package it ever received from the district: every agreement, every
release of the year, every extract version. This module plays that partner, with one extra
power the real partner lacks: it reads the extract each package was made from (ground truth)
and the district secret, so it can name the students behind every published figure and behind
every ``student_key``. It never imports the release's eligibility, consent, metrics or
disclosure code, nor reads the district's ledger: membership is rebuilt here, from
CONTRACT section 3 and the README, with polars over the extract files.

What the partner is assumed to know
-----------------------------------
* For every published cell (a school or ``ALL``, a metric, the served or comparison side,
  with both ``_n`` and ``_value`` non-null): the total of its members, n times value. A
  suppressed cell and a coded cell (``<=X%``, ``>=Y%``) give no total.
* Every student whose individual records it received, under any agreement and from any
  extract: their figures are known exactly, so they can be subtracted from any total (a
  withdrawal notice does not make the partner forget).
* Which groups are which, but not who is in them: the partner cannot see students' ids.
  This module uses the ids only to *evaluate* what the partner could compute.

What it enumerates, and why that is exhaustive for the linear model
-------------------------------------------------------------------
For one partner, one metric and one extract (figures of different extracts do not combine;
released students are known across extracts), each published group is a 0/1 vector over
students. With totals only, what the partner can learn is exactly the linear span of those
vectors plus the unit vectors of its released students: a group is *derivable* when its
indicator vector lies in that span. Unit vectors let the partner fix any released
coordinate, so it suffices to work on unreleased students. Every vector of the span is
constant on an *atom* (the unreleased students sharing one membership signature), so a
derivable group is a union of atoms and the problem is exact linear algebra over atoms.

The published vectors over atoms are brought to reduced row echelon form with exact
rationals (``fractions.Fraction``), atoms holding ``k`` or more students ordered first so
they become pivots where they can. A vector of the row space is determined by its
coordinates on the pivot columns (``x = sum of x_p * R_p``), so every 0/1 vector of the span
is reached by choosing which pivot atoms it holds. A group of 1 to k-1 unreleased students
holds no atom of k or more and at most k-1 students in its pivot atoms, so the search
enumerates exactly the subsets of small pivot atoms whose sizes sum to at most k-1, forms
``x``, and keeps those whose every coordinate is 0 or 1 and whose size is 1 to k-1. No
derivable small group can be missed, and none is reported that is not in the span.

Beyond that search it checks that:

* every published n equals the n rebuilt from the extract (``n_mismatch``: either the
  member model here or the release is wrong; it is never papered over);
* no published n is below the agreement's ``min_cell_size`` (``small_cell``);
* no coded share's exact total is derivable while it holds unreleased students
  (``coded_derivable``);
* every released ``student_key`` is a student of the extract (``unknown_key``) who is
  eligible (``released_not_eligible``) and consented as of the release (``released_not_consented``);
* the gates of ``release.json`` (``enrolled``, ``eligible``, ``consented``) equal the
  attacker's own counts (``gate_mismatch``);
* no raw ``student_id``, full name or birth date appears in any file of a package
  (``identifier``).

``k`` is, for each derivable group, the largest ``min_cell_size`` among the agreements
whose figures its derivation needs (CONTRACT section 3: "the agreements whose figures
combine"), taking the derivation that needs the fewest strict agreements: the smallest
``t`` such that the group lies in the span of the figures of agreements with
``min_cell_size <= t``. Agreements with the same extract all combine, but a group one
``min_cell_size 5`` figure shows alone is held to 5, not to another agreement's 10. The
search runs to the largest ``min_cell_size`` of the system, so it misses none.
Nothing here depends on pytest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import lcm
from pathlib import Path
from typing import NamedTuple

import polars as pl

from datashare.agreement import load_agreement
from datashare.agreement.model import Agreement
from datashare.release.keys import partner_key, student_keys
from datashare.schoolyear import SchoolYear

TABLES = (
    "schools", "students", "enrollments", "attendance", "discipline", "grades",
    "service_contacts", "consents", "calendar",
)
SUSPENSIONS = ("in_school_suspension", "out_of_school_suspension", "expulsion")
INDIVIDUAL = ("students", "attendance", "discipline", "grades")
SIDES = ("served", "comparison")


@dataclass(frozen=True)
class Received:
    """One package the partner kept (a copy of its folder), what it was made from, and the key."""

    package: Path
    extract: Path
    agreement: Path
    secret: bytes


@dataclass(frozen=True)
class Violation:
    """One breach found: ``kind``, where (partner, metric, extract), its size and the groups used."""

    kind: str
    partner: str
    metric: str = ""
    extract: str = ""
    size: int | None = None
    groups: tuple[str, ...] = ()
    detail: str = ""

    def __str__(self) -> str:
        combo = " ".join(self.groups)
        where = f"{self.partner} {self.metric} extract {self.extract[:8]}".strip()
        return f"{self.kind}: {where}: size {self.size}: {self.detail} [{combo}]"


# --------------------------------------------------------------------------- the extract


def _read(folder: Path, table: str) -> pl.DataFrame | None:
    csv, parquet = folder / f"{table}.csv", folder / f"{table}.parquet"
    if csv.exists():
        return pl.read_csv(csv, infer_schema=False)
    if parquet.exists():
        frame = pl.read_parquet(parquet)
        return frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns)
    return None


def _dates(*names: str) -> list[pl.Expr]:
    return [pl.col(n).str.to_date("%Y-%m-%d", strict=False) for n in names]


@dataclass
class Truth:
    """The extract as the attacker reads it: ids, per student-school facts, the school year."""

    sha256: str
    year: SchoolYear
    schools: list[str]
    students: pl.DataFrame  # student_id, first_name, last_name, birth_date (text and date)
    facts: pl.DataFrame  # student_id, school_id, days, incidents, suspended, credits, graded
    contacts: pl.DataFrame  # partner_id, student_id, contact_date
    consents: pl.DataFrame


def extract_sha256(folder: Path) -> str:
    """The identity of an extract: sha256 over each table file's name and bytes."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.suffix in (".csv", ".parquet") and path.stem in TABLES:
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def read_truth(folder: Path) -> Truth:
    """Per student and school, the facts every metric's denominator needs (CONTRACT section 3)."""
    t = {name: _read(folder, name) for name in TABLES}
    enr = t["enrollments"].with_columns(_dates("entry_date", "exit_date"))
    label = enr.get_column("school_year").mode().sort().item(0)
    year = SchoolYear.parse(label)
    pairs = enr.select("student_id", "school_id").unique()
    if t["calendar"] is not None:
        # Membership days: calendar days inside an enrollment; attendance holds exceptions.
        cal = t["calendar"].with_columns(_dates("date"))
        member = (
            enr.join(cal, on="school_id")
            .filter(
                (pl.col("date") >= pl.col("entry_date"))
                & (pl.col("date") <= pl.col("exit_date").fill_null(year.end))
            )
            .select("student_id", "school_id", "date")
            .unique()
        )
        exceptions = t["attendance"].with_columns(_dates("date")).select("student_id", "school_id", "date", "status")
        days = member.join(exceptions, on=["student_id", "school_id", "date"], how="left")
    else:
        days = t["attendance"].select("student_id", "school_id", "status")
    att = days.group_by("student_id", "school_id").agg(pl.len().alias("days"))
    disc = t["discipline"].group_by("student_id", "school_id").agg(
        pl.len().alias("incidents"), pl.col("action").is_in(SUSPENSIONS).any().alias("suspended")
    )
    grades = t["grades"].group_by("student_id", "school_id").agg(
        pl.col("credits_attempted").cast(pl.Float64).sum().alias("credits"), pl.lit(True).alias("graded")
    )
    keys = ["student_id", "school_id"]
    facts = (
        pairs.join(att, on=keys, how="left")
        .join(disc, on=keys, how="left")
        .join(grades, on=keys, how="left")
        .with_columns(
            pl.col("days", "incidents").fill_null(0),
            pl.col("suspended", "graded").fill_null(False),
            pl.col("credits").fill_null(0.0),
        )
    )
    contacts = (
        t["service_contacts"].with_columns(_dates("contact_date"))
        .filter(pl.col("contact_date").is_between(year.start, year.end))
        .select("partner_id", "student_id", "contact_date")
    )
    students = t["students"].select(
        "student_id", "first_name", "last_name", "birth_date",
        pl.col("birth_date").str.to_date("%Y-%m-%d", strict=False).alias("born"),
    )
    consents = t["consents"].with_columns(_dates("granted_on", "revoked_on"))
    return Truth(
        sha256=extract_sha256(folder), year=year,
        schools=sorted(t["schools"].get_column("school_id").to_list()),
        students=students, facts=facts, contacts=contacts, consents=consents,
    )


# --------------------------------------------------------------------------- members


DENOMINATORS: dict[str, pl.Expr] = {
    "attendance_rate": pl.col("days") > 0,
    "chronic_absence_rate": pl.col("days") >= 10,
    "suspension_rate": pl.lit(True),
    "incidents_per_student": pl.lit(True),
    "mean_gpa": pl.col("credits") > 0,
    "course_failure_rate": pl.col("graded"),
}
"""Who each metric's n counts, over a student's facts at one school or pooled over ALL."""


def covered(agreement: Agreement, truth: Truth) -> list[str]:
    return truth.schools if agreement.schools == "all" else sorted(agreement.schools)


def eligible(agreement: Agreement, truth: Truth) -> set[str]:
    """Students enrolled at a covered school with at least min_contacts contacts in the year."""
    rule = agreement.eligibility
    partner = agreement.partner.id
    count = pl.col("contact_date").n_unique() if rule.count == "distinct_days" else pl.len()
    enrolled = truth.facts.filter(pl.col("school_id").is_in(covered(agreement, truth))).select("student_id").unique()
    counts = (
        truth.contacts.filter(pl.col("partner_id") == partner)
        .group_by("student_id").agg(count.alias("contacts"))
        .filter(pl.col("contacts") >= rule.min_contacts)
        .join(enrolled, on="student_id", how="semi")
    )
    return set(counts.get_column("student_id").to_list())


def members(agreement: Agreement, truth: Truth) -> dict[tuple[str, str, str], frozenset[str]]:
    """(school or ALL, metric, side) -> the student ids that group counts."""
    schools = covered(agreement, truth)
    served = pl.Series(sorted(eligible(agreement, truth)), dtype=pl.String)
    facts = truth.facts.filter(pl.col("school_id").is_in(schools))
    pooled = facts.group_by("student_id").agg(
        pl.lit("ALL").alias("school_id"), pl.col("days", "incidents", "credits").sum(),
        pl.col("suspended", "graded").any(),
    ).select(facts.columns)
    both = pl.concat([facts, pooled], how="vertical_relaxed").with_columns(pl.col("student_id").is_in(served.implode()).alias("served"))
    metrics = agreement.aggregate.metrics if agreement.aggregate else ()
    out: dict[tuple[str, str, str], frozenset[str]] = {}
    for metric in metrics:
        rows = both.filter(DENOMINATORS[metric]).group_by("school_id", "served").agg(pl.col("student_id"))
        for school in [*schools, "ALL"]:
            for side in SIDES:
                out[(school, metric, side)] = frozenset()
        for school, is_served, ids in rows.iter_rows():
            out[(school, metric, "served" if is_served else "comparison")] = frozenset(ids)
    return out


def consented(agreement: Agreement, truth: Truth, as_of: dt.date) -> set[str]:
    """Students with a valid consent as of ``as_of`` (the 18-and-over rule applied)."""
    ind = agreement.individual
    adult = (
        pl.col("born").is_null() | (pl.col("born").dt.offset_by("18y") <= as_of)
    )
    rows = (
        truth.consents.filter(
            (pl.col("partner_id") == agreement.partner.id)
            & (pl.col("scope") == ind.consent_scope)
            & (pl.col("granted_on") <= as_of)
            & (pl.col("revoked_on").is_null() | (pl.col("revoked_on") > as_of))
        )
        .join(truth.students.select("student_id", "born"), on="student_id", how="left")
        .filter(
            (pl.lit(ind.adult_student_consent == "any"))
            | ~adult
            | (pl.col("signed_by") == "eligible_student")
        )
    )
    return set(rows.get_column("student_id").to_list())


# --------------------------------------------------------------------------- packages


@dataclass
class Cell:
    """One published or coded group of a package."""

    label: str  # agreement@as_of school metric side, for reports
    metric: str
    extract: str
    members: frozenset[str]
    coded: bool
    min_cell_size: int


@dataclass
class Holdings:
    partner: str
    cells: list[Cell] = field(default_factory=list)
    released: set[str] = field(default_factory=set)
    violations: list[Violation] = field(default_factory=list)


def _package(item: Received, truths: dict[Path, Truth], holdings: dict[str, Holdings]) -> None:
    agreement = load_agreement(item.agreement).agreement
    release = json.loads((item.package / "release.json").read_text(encoding="utf-8"))
    partner = agreement.partner.id
    if release["agreement"]["id"] != agreement.id:
        raise ValueError(f"{item.package}: release.json names {release['agreement']['id']}, not {agreement.id}")
    as_of = dt.date.fromisoformat(release["as_of"])
    truth = truths.setdefault(item.extract, read_truth(item.extract))
    held = holdings.setdefault(partner, Holdings(partner))
    held.violations += _identifiers(item.package, truth, partner)
    mcs = agreement.aggregate.min_cell_size if agreement.aggregate else 0
    groups = members(agreement, truth)
    table_path = item.package / "data" / "aggregate_comparison.parquet"
    table = pl.read_parquet(table_path) if table_path.exists() else None
    for row in ([] if table is None else table.iter_rows(named=True)):
        for side in SIDES:
            n, value, display = row[f"{side}_n"], row[f"{side}_value"], row[f"{side}_display"] or ""
            coded = value is None and display.startswith(("<=", ">="))
            if n is None and not coded:
                continue
            key = (row["school_id"], row["metric"], side)
            label = f"{agreement.id}@{as_of} {key[0]} {key[2]}"
            ids = groups.get(key)
            if ids is None:
                held.violations.append(Violation("n_mismatch", partner, key[1], truth.sha256, n, (label,),
                                                 "a published group the agreement does not define"))
                continue
            if n is not None and n != len(ids):
                held.violations.append(Violation("n_mismatch", partner, key[1], truth.sha256, n, (label,),
                                                 f"published n {n}, rebuilt from the extract {len(ids)}"))
            if n is not None and n < mcs:
                held.violations.append(Violation("small_cell", partner, key[1], truth.sha256, n, (label,),
                                                 f"published n below min_cell_size {mcs}"))
            if value is not None or coded:
                held.cells.append(Cell(label, key[1], truth.sha256, ids, coded, mcs))
    held.released |= _released(item, agreement, truth, as_of, held)
    held.violations += _gates(release.get("gates") or {}, agreement, truth, as_of, partner)


def _gates(gates: dict, agreement: Agreement, truth: Truth, as_of: dt.date, partner: str) -> list[Violation]:
    """The gate counts of release.json against the attacker's own count of each gate."""
    who = eligible(agreement, truth)
    mine = {
        "enrolled": truth.facts.filter(pl.col("school_id").is_in(covered(agreement, truth)))
        .get_column("student_id").n_unique(),
        "eligible": len(who),
    }
    if agreement.individual is not None:
        mine["consented"] = len(who & consented(agreement, truth, as_of))
    return [
        Violation("gate_mismatch", partner, detail=f"{agreement.id}@{as_of} {gate}: release.json {gates[gate]}, rebuilt {n}")
        for gate, n in mine.items() if gate in gates and gates[gate] != n
    ]


def _released(item: Received, agreement: Agreement, truth: Truth, as_of: dt.date, held: Holdings) -> set[str]:
    """Student ids behind every student_key of the package's individual files."""
    folder = item.package / "data" / "individual"
    tables = [folder / f"{name}.parquet" for name in INDIVIDUAL if (folder / f"{name}.parquet").exists()]
    if not tables:
        return set()
    received = pl.concat([pl.read_parquet(p, columns=["student_key"]) for p in tables]).unique()
    keys = student_keys(truth.students.get_column("student_id"), partner_key(item.secret, agreement.partner.id))
    mapped = received.join(keys, on="student_key", how="left")
    unknown = mapped.get_column("student_id").null_count()
    if unknown:
        held.violations.append(Violation("unknown_key", held.partner, size=unknown,
                                         detail=f"{item.package.name}: keys of no student of the extract"))
    ids = set(mapped.get_column("student_id").drop_nulls().to_list())
    if agreement.individual is not None:
        for kind, allowed in (("released_not_eligible", eligible(agreement, truth)),
                              ("released_not_consented", consented(agreement, truth, as_of))):
            if ids - allowed:
                held.violations.append(Violation(kind, held.partner, size=len(ids - allowed),
                                                 detail=f"{agreement.id}@{as_of}"))
    else:
        held.violations.append(Violation("released_not_consented", held.partner, size=len(ids),
                                         detail=f"{agreement.id}: individual files without an individual section"))
    return ids


def _identifiers(package: Path, truth: Truth, partner: str) -> list[Violation]:
    """No raw student_id, full name or birth date in any byte of any file of the package."""
    ids = set(truth.students.get_column("student_id").to_list())
    births = set(truth.students.get_column("birth_date").drop_nulls().to_list())
    names = {f"{f} {l}" for f, l in truth.students.select("first_name", "last_name").iter_rows()}
    found = []
    for path in sorted(p for p in package.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            # Compressed bytes mean nothing: read every value as text instead (dates as ISO).
            frame = pl.read_parquet(path)
            text = "\n".join(
                "\n".join(frame[c].cast(pl.String).drop_nulls().unique().to_list())
                for c in frame.columns if frame[c].dtype != pl.Binary
            )
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        # A decimal number is one token: the digits after its point (an SVG coordinate of
        # report.html, say) are not an id.
        tokens = set(re.split(r"[^0-9A-Za-z_-]+", re.sub(r"[0-9]+\.[0-9]+", " ", text)))
        hits = [what for what, bad in (("student_id", tokens & ids), ("birth date", tokens & births),
                                       ("name", any(n in text for n in names))) if bad]
        if hits:
            found.append(Violation("identifier", partner, detail=f"{path.relative_to(package)} holds a {hits[0]}"))
    return found


# --------------------------------------------------------------------------- the search


def _rref(rows: list[list[int]], order: list[int]) -> tuple[list[list[Fraction]], list[int], list[list[Fraction]]]:
    """Reduced row echelon form of ``rows`` over the columns in ``order``, exactly.

    Returns the nonzero rows, their pivot columns, and for each the coefficients over the
    input rows that produce it (so a found group can be explained as a sum of figures).
    """
    m = [[Fraction(v) for v in r] for r in rows]
    t = [[Fraction(int(i == j)) for j in range(len(rows))] for i in range(len(rows))]
    pivots: list[int] = []
    r = 0
    for c in order:
        p = next((i for i in range(r, len(m)) if m[i][c] != 0), None)
        if p is None:
            continue
        m[r], m[p], t[r], t[p] = m[p], m[r], t[p], t[r]
        lead = m[r][c]
        m[r] = [v / lead for v in m[r]]
        t[r] = [v / lead for v in t[r]]
        for i in range(len(m)):
            if i != r and m[i][c] != 0:
                f = m[i][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[r])]
                t[i] = [a - f * b for a, b in zip(t[i], t[r])]
        pivots.append(c)
        r += 1
    return m[:r], pivots, t[:r]


def _reduce(basis: list[list[Fraction]], pivots: list[int], target: list[Fraction]) -> list[Fraction]:
    """What is left of ``target`` after taking out its part in the span of an RREF basis."""
    rest = list(target)
    for row, p in zip(basis, pivots):
        if rest[p]:
            f = rest[p]
            rest = [a - f * b for a, b in zip(rest, row)]
    return rest


class Found(NamedTuple):
    """A derivable group: how many unreleased students, the k it breaks, the figures combined."""

    size: int
    k: int
    combo: list[tuple[Fraction, str]]  # (coefficient, figure label)
    members: frozenset[str]  # the unreleased students: for tests, never for a message


def derivable(
    cells: list[Cell], released: set[str], k: int | None = None
) -> tuple[list[Found], list[tuple[Cell, int]]]:
    """Groups of 1..k-1 unreleased students in the span, and coded cells whose total is derivable.

    The threshold of a derivable group is the largest ``min_cell_size`` among the agreements
    whose figures it needs: the smallest ``t`` such that the group lies in the span of the
    figures of agreements with ``min_cell_size <= t`` (and the released students). A group
    a figure of a ``min_cell_size 5`` agreement shows alone is not held to another
    agreement's 10. ``k`` replaces every agreement's ``min_cell_size``.
    """
    vectors: dict[frozenset[str], tuple[str, int]] = {}
    for c in cells:
        hidden = c.members - released
        limit = k if k is not None else c.min_cell_size
        if c.coded or not hidden:
            continue
        label, seen = vectors.get(hidden, (c.label, limit))
        vectors[hidden] = (label, min(seen, limit))
    groups = list(vectors.items())
    top = max((limit for _ids, (_label, limit) in groups), default=0)
    signature: dict[str, list[int]] = defaultdict(list)
    for g, (ids, _meta) in enumerate(groups):
        for sid in ids:
            signature[sid].append(g)
    atoms: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for sid, sig in signature.items():
        atoms[tuple(sig)].append(sid)
    atom_keys = sorted(atoms)
    size = [len(atoms[a]) for a in atom_keys]
    rows = [[int(g in a) for a in atom_keys] for g in range(len(groups))]
    order = sorted(range(len(atom_keys)), key=lambda j: (size[j] < top, j))
    basis, pivots, coeffs = _rref(rows, order) if rows else ([], [], [])
    levels = sorted({limit for _ids, (_label, limit) in groups})
    below = {
        t: _rref([r for r, (_ids, (_l, limit)) in zip(rows, groups) if limit <= t], order)[:2]
        for t in levels
    }

    def threshold(x: list[int]) -> int:
        target = [Fraction(v) for v in x]
        return next(t for t in levels if not any(_reduce(*below[t], target)))

    found: list[Found] = []
    if basis:
        scale = lcm(*(v.denominator for row in basis for v in row))
        scaled = [[int(v * scale) for v in row] for row in basis]
        small = [i for i, p in enumerate(pivots) if size[p] < top]

        def visit(start: int, chosen: list[int], acc: list[int], budget: int) -> None:
            for pos in range(start, len(small)):
                i = small[pos]
                if size[pivots[i]] > budget:
                    continue
                nxt = [a + b for a, b in zip(acc, scaled[i])]
                picked = chosen + [i]
                if all(v in (0, scale) for v in nxt):
                    total = sum(s for s, v in zip(size, nxt) if v)
                    limit = threshold([v // scale for v in nxt]) if total else 0
                    if 1 <= total < limit:
                        combo = [Fraction(0)] * len(groups)
                        for j in picked:
                            combo = [a + b for a, b in zip(combo, coeffs[j])]
                        ids = frozenset(sid for j, v in enumerate(nxt) if v for sid in atoms[atom_keys[j]])
                        found.append(Found(total, limit, [(w, groups[g][1][0]) for g, w in enumerate(combo) if w], ids))
                visit(pos + 1, picked, nxt, budget - size[pivots[i]])

        visit(0, [], [0] * len(atom_keys), top - 1)
    coded: list[tuple[Cell, int]] = []
    where = {sid: j for j, a in enumerate(atom_keys) for sid in atoms[a]}
    for c in cells:
        hidden = c.members - released
        if not c.coded or not hidden or any(sid not in where for sid in hidden):
            continue
        hit = {where[sid] for sid in hidden}
        if any(not set(atoms[atom_keys[j]]) <= hidden for j in hit):
            continue
        if not any(_reduce(basis, pivots, [Fraction(int(j in hit)) for j in range(len(atom_keys))])):
            coded.append((c, len(hidden)))
    return found, coded


def attack(received: Sequence[Received], k: int | None = None) -> list[Violation]:
    """Every breach of the holdings rules found in what the partners received.

    ``k`` replaces every agreement's ``min_cell_size`` as the group size threshold
    (otherwise it is the largest ``min_cell_size`` among the agreements whose figures a
    derivation needs: see :func:`derivable`).
    """
    truths: dict[Path, Truth] = {}
    holdings: dict[str, Holdings] = {}
    for item in received:
        _package(item, truths, holdings)
    violations: list[Violation] = []
    for held in holdings.values():
        violations += held.violations
        systems: dict[tuple[str, str], list[Cell]] = defaultdict(list)
        for cell in held.cells:
            systems[(cell.metric, cell.extract)].append(cell)
        for (metric, sha), cells in sorted(systems.items()):
            found, coded = derivable(cells, held.released, k)
            for total, limit, combo, _members in found:
                violations.append(Violation(
                    "derivable_group", held.partner, metric, sha, total,
                    tuple(f"{'+' if w > 0 else '-'}{abs(w) if abs(w) != 1 else ''}[{label}]" for w, label in combo),
                    f"a group of {total} unreleased student(s) is derivable (k = {limit})",
                ))
            for cell, total in coded:
                violations.append(Violation(
                    "coded_derivable", held.partner, metric, sha, total, (cell.label,),
                    "the exact total of a coded share is derivable",
                ))
    return violations


def describe(violations: Iterable[Violation], limit: int = 10) -> str:
    """The first ``limit`` violations, one a line, for an assertion message."""
    items = list(violations)
    lines = [str(v) for v in items[:limit]]
    if len(items) > limit:
        lines.append(f"... and {len(items) - limit} more")
    return "\n".join(lines)
