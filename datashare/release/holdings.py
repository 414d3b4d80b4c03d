"""Disclosure control over everything a partner holds (CONTRACT section 3).

A partner keeps every package of every agreement it has with the district. So each run
audits, per partner, the figures and records it would then hold, as an attacker with all
of them would:

- **Sources**: this run's agreements of the partner, and its earlier releases recorded in
  the ledger (:mod:`datashare.package.ledger`). A rerun of the same release is not an
  earlier one.
- **Families**: figures combine within one metric and one extract (the same input files);
  each family is a set of published groups, each group a set of students: served or
  comparison at a school, or over the covered schools (``ALL``), as the figure counts them.
- **Known students**: every student whose individual records the partner ever received
  (any agreement, any extract), and those this run would release.

For each family, :func:`datashare.release.derivable.small_derivable_groups` finds every
group whose total the partner can compute by adding and subtracting its figures and
records and that holds 1 to ``k - 1`` unknown students (``k``: the largest
``min_cell_size`` of the sources in the family). This covers, exactly, a school against
``ALL``, an all-schools agreement against a fewer-schools one, an earlier release against
a later one, a table's residue (``ALL`` less its published schools), differencing against
individual records, and every longer chain of sums and differences of these.

What is done about a derivable small group, in this order:

1. **Withholding** (before any figure of this run exists): where the earlier releases'
   figures alone, with the records this run would add, give a small group, some of the
   newly consented students in it are withheld (counted in the gate ``withheld``), as few
   as make the group ``k`` strong again, by ascending student code (deterministic and
   unrelated to any attribute). Figures already released cannot be recalled.
2. **Suppression**: where a combination uses figures of this run, one of them is
   suppressed (both groups of its row), then the table's secondary suppression is re-run
   and the audit repeated until nothing small is derivable. The figure chosen is the one
   that loses least: a school row before an ``ALL`` row, then the smallest served ``n``,
   then the agreement's position and school id (deterministic), in the spirit of the
   secondary suppression of sdcTable and tau-Argus (cheapest cell first). Its reason is
   ``suppressed:holdings`` when the combination involves another agreement or an earlier
   release, else ``suppressed:secondary`` (a table's own residue).
3. A coded share is protected like a suppressed figure: where its group's exact total is
   derivable from figures of more than one source, a figure of this run in the
   combination is suppressed.

Why this is sound: any derivable group is a sum of figures with integer or rational
coefficients; the audit works on exactly that span (it is a linear-algebra fact, not a
list of patterns), with every known student removed, so a group it does not report is not
derivable from what the partner holds. It assumes the worst: the partner knows who is in
each group and keeps records it was told to destroy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from datashare.agreement.model import METRICS
from datashare.errors import AgreementRefused
from datashare.package.ledger import ALL_UNIT, History, LedgerRelease
from datashare.release.derivable import Span, small_derivable_groups
from datashare.release.disclosure import HOLDINGS, SECONDARY, SIDES, coded
from datashare.release.metrics import ALL_SCHOOLS, METRIC_DEFINITIONS
from datashare.release.types import AGREEMENT_INDEX, split_by_agreement

METRIC_BITS = {metric: 1 << code for code, metric in enumerate(METRICS)}
"""Bit of each metric in a roster's ``metrics`` column."""

MAX_ROUNDS = 10_000


def roster(units: pl.DataFrame, codes: pl.DataFrame, covered: str) -> pl.DataFrame:
    """Who counts in which figure: (``student`` code, ``unit``, ``metrics`` bits) of a
    covered set's per-student summaries (schools and the pooled ``ALL`` rows)."""
    bits = pl.sum_horizontal(
        pl.when(METRIC_DEFINITIONS[m][0]).then(pl.lit(bit, dtype=pl.UInt8)).otherwise(pl.lit(0, dtype=pl.UInt8))
        for m, bit in METRIC_BITS.items()
    ).cast(pl.UInt8)
    unit = pl.when(pl.col("school_id") == ALL_SCHOOLS).then(pl.lit(ALL_UNIT + covered)).otherwise("school_id")
    return (
        units.lazy()
        .select("student_id", unit=unit, metrics=bits)
        .join(codes.lazy(), on="student_id", how="inner")
        .select("student", "unit", "metrics")
        .collect()
    )


_Group = tuple[int, str, str]
"""A published group: (source position, unit, side)."""

_Family = tuple[list[list[int]], list[int], list[list[_Group]], dict[_Group, list[int]]]
"""A family: rows (atom lists, deduplicated), atom sizes, each row's groups, and the atom
list of every coded group."""


@dataclass(frozen=True)
class _RosterIndex:
    """An extract's roster sorted by student, with each student's full pattern.

    A partner's audit needs the roster rows of its few served and known students only;
    two binary searches per student find them, where a join would read the whole roster
    once per partner and metric (1,200 times for 200 agreements)."""

    rows: pl.DataFrame  # student, unit, metrics; sorted by student then unit
    students: pl.DataFrame  # student, full; sorted by student
    patterns: pl.DataFrame  # full, unit (list), metrics (list), count

    @classmethod
    def of(cls, roster: pl.DataFrame) -> _RosterIndex:
        rows = roster.sort("student", "unit")
        per_student = rows.group_by("student", maintain_order=True).agg("unit", "metrics")
        patterns = per_student.group_by("unit", "metrics").agg(count=pl.len()).with_row_index("full")
        students = per_student.join(patterns.select("unit", "metrics", "full"), on=["unit", "metrics"]).select(
            "student", "full"
        )
        return cls(rows, students.sort("student"), patterns)

    def rows_of(self, students: pl.Series) -> pl.DataFrame:
        """The roster rows of ``students``."""
        return self.rows[_positions(self.rows.get_column("student"), students)]

    def full_of(self, students: pl.Series) -> pl.DataFrame:
        """(``student``, ``full``) of those of ``students`` in the roster."""
        return self.students[_positions(self.students.get_column("student"), students)]


@dataclass(frozen=True)
class _People:
    """The served and known students of every request in the roster (see
    :meth:`Audit._people`); ``slot`` is the request."""

    eligible: pl.DataFrame  # slot, source, student: who each source serves
    relevant: pl.DataFrame  # slot, student, full: the served and the known students' full patterns
    unknown: pl.DataFrame  # slot, student, unit, metrics: the roster rows of the served students not known


def _positions(column: pl.Series, wanted: pl.Series) -> pl.Series:
    """The positions in ``column`` (sorted) of every value in ``wanted``, by binary search."""
    values = wanted.drop_nulls().unique().sort()  # a null matches nothing, as in a join
    bounds = pl.DataFrame({
        "lo": column.search_sorted(values, side="left"),
        "hi": column.search_sorted(values, side="right"),
    })
    return bounds.select(pl.int_ranges("lo", "hi", dtype=pl.UInt32).alias("i")).explode("i").drop_nulls().get_column("i")


@dataclass
class Source:
    """A set of figures the partner holds: an agreement of this run or an earlier release."""

    new: bool
    index: int  # agreement_index for a new source, position in the history otherwise
    extract_id: str
    covered_id: str
    min_cell_size: int
    eligible: pl.Series
    groups: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"unit": pl.String, "metric": pl.String, "side": pl.String, "status": pl.String}))


@dataclass(frozen=True)
class Finding:
    """One derivable small group: the family, its size, and the sources' groups combined."""

    metric: str
    extract_id: str
    size: int
    groups: tuple[_Group, ...]  # (source position, unit, side) with nonzero coefficient
    coded: bool = False


class Audit:
    """The holdings audit of one run (see the module docstring)."""

    def __init__(
        self,
        history: History,
        extract_id: str,
        rosters: Mapping[str, pl.DataFrame],
    ) -> None:
        self.history = history
        self.extract_id = extract_id
        frames = list(rosters.values())
        if extract_id in history.rosters:
            frames.append(history.rosters[extract_id])
        current = pl.concat(frames).unique() if frames else pl.DataFrame(schema={"student": pl.Int64, "unit": pl.String, "metrics": pl.UInt8})
        self.rosters: dict[str, pl.DataFrame] = {**history.rosters, extract_id: current}
        self._indexes: dict[str, _RosterIndex] = {}
        self._same: dict[tuple[str, str], str] = {}
        self._pattern_cache: dict[tuple[str, str], tuple[pl.DataFrame, pl.DataFrame]] = {}
        self._units_cache: dict[tuple[str, str], tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]] = {}

    # -- sources --------------------------------------------------------------------------

    def earlier(self, partner_id: str, current: Sequence[LedgerRelease]) -> list[LedgerRelease]:
        """The partner's earlier releases, less any that this run repeats exactly."""
        return [
            old
            for old in self.history.of_partner(partner_id)
            if not any(old.same_release(new) for new in current)
        ]

    @staticmethod
    def check_order(partner_releases: Sequence[LedgerRelease], agreement_id: str, as_of: dt.date) -> None:
        """Refuse an ``as_of`` before this agreement's last release: the partner already holds
        a later state, and figures or notices dated earlier would contradict it."""
        dates = [r.as_of for r in partner_releases if r.agreement_id == agreement_id]
        if dates and as_of < max(dates):
            raise AgreementRefused(
                f"agreement {agreement_id}: already released as of {max(dates).isoformat()}; a release "
                f"as of the earlier {as_of.isoformat()} is refused (a partner never receives an earlier "
                "state after a later one). Release as of a later date"
            )

    # -- families -------------------------------------------------------------------------

    def _index(self, extract_id: str) -> _RosterIndex:
        """The roster of an extract sorted by student, and each student's *full pattern*
        (the units they count in, with the metrics of each), computed once per extract for
        every partner and metric."""
        if extract_id not in self._indexes:
            self._indexes[extract_id] = _RosterIndex.of(self.rosters[extract_id])
        return self._indexes[extract_id]

    def _patterns(self, extract_id: str, metric: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Who counts in ``metric``'s figures of an extract: each full pattern's *pattern*
        for the metric (the sorted units where the student counts in it) and each pattern's
        units and size. Derived from the few distinct full patterns, not from every student,
        once per extract and metric."""
        key = (extract_id, metric)
        if key not in self._pattern_cache:
            full = self._index(extract_id).patterns
            bit = METRIC_BITS[metric]
            units = (
                full.explode("unit", "metrics")
                .filter((pl.col("metrics") & bit) > 0)
                .group_by("full", maintain_order=True)
                .agg(units=pl.col("unit").sort(), count=pl.col("count").first())
            )
            patterns = (
                units.group_by("units").agg(count=pl.col("count").sum()).sort("units").with_row_index("pattern")
            )
            full_pattern = units.join(patterns.select("units", "pattern"), on="units").select("full", "pattern")
            self._pattern_cache[key] = (full_pattern, patterns.select("pattern", "units", "count"))
        return self._pattern_cache[key]

    def _people(self, extract_id: str, requests: Mapping[int, tuple[Sequence[Source], pl.Series]]) -> _People:
        """Every request's served students and known ones (``slot``: the request), looked up
        in the extract's roster once for all requests and every metric."""
        student = {"student": pl.Int64}
        eligible = _stacked([
            (slot, position, source.eligible.cast(pl.Int64).rename("student").to_frame())
            for slot, (sources, _known) in requests.items()
            for position, source in enumerate(sources)
            if source.extract_id == extract_id
        ], student).unique()
        known = _stacked([
            (slot, 0, known.cast(pl.Int64).rename("student").to_frame()) for slot, (_sources, known) in requests.items()
        ], student).drop("source")
        relevant = pl.concat([eligible.select("slot", "student"), known.select("slot", "student")]).unique()
        unknown = relevant.join(known, on=["slot", "student"], how="anti")
        index = self._index(extract_id)
        return _People(
            eligible,
            relevant.join(index.full_of(relevant.get_column("student")), on="student"),
            unknown.join(index.rows_of(unknown.get_column("student")), on="student"),
        )

    @staticmethod
    def _sources_groups(extract_id: str, requests: Mapping[int, tuple[Sequence[Source], pl.Series]]) -> pl.DataFrame:
        """Every request's sources' groups in the extract (``unit``, ``metric``, ``side``,
        ``status``, ``slot``, ``source``), in one frame."""
        return _stacked([
            (slot, position, source.groups.select("unit", "metric", "side", "status"))
            for slot, (sources, _known) in requests.items()
            for position, source in enumerate(sources)
            if source.extract_id == extract_id
        ], dict.fromkeys(("unit", "metric", "side", "status"), pl.String))

    @staticmethod
    def _groups(metric: str, groups: pl.DataFrame) -> pl.DataFrame:
        """The published and coded groups of one metric (``slot``, ``gid``, ``source``,
        ``unit``, ``side``, ``status``), numbered by ``gid`` in a fixed order per request."""
        return (
            groups.filter(pl.col("metric") == metric)
            .select("slot", "source", "unit", "side", "status")
            .unique(maintain_order=True)
            .sort("slot", "source", "unit", "side", maintain_order=True)
            .with_columns(gid=pl.int_range(pl.len(), dtype=pl.UInt32).over("slot"))
        )

    def _same_units(self, extract_id: str, metric: str) -> str:
        """The first metric (in report order) whose students count in exactly the same units
        as ``metric``'s: their families differ only if their published groups do."""
        key = (extract_id, metric)
        if key not in self._same:
            full_pattern, patterns = self._patterns(extract_id, metric)
            self._same[key] = metric
            for other in METRICS[: METRICS.index(metric)]:
                other_full, other_patterns = self._patterns(extract_id, other)
                if other_full.equals(full_pattern) and other_patterns.equals(patterns):
                    self._same[key] = other
                    break
        return self._same[key]

    def _pattern_units(self, extract_id: str, metric: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """The units of ``metric``'s patterns, split for :meth:`_members`: (``pattern``,
        ``unit``) of the schools and of the pooled units (``ALL`` of a covered set), and each
        pattern's *signature*, the set of its pooled units, as (``pattern``, ``sig``) and
        (``sig``, ``unit``). Computed once per extract and metric."""
        key = (extract_id, metric)
        if key not in self._units_cache:
            _full, patterns = self._patterns(extract_id, metric)
            units = patterns.select("pattern", unit="units").explode("unit")
            # Which units count as pooled only sets the cost: :meth:`_members` is exact for
            # any split of the units (a school id starting with ALL@ would merely be slower).
            pooled = pl.col("unit").str.starts_with(ALL_UNIT)
            wide = units.filter(pooled)
            signatures = wide.group_by("pattern").agg(pl.col("unit").sort().alias("units"))
            sigs = signatures.select("units").unique().sort("units").with_row_index("sig")
            self._units_cache[key] = (
                units.filter(~pooled),
                wide,
                signatures.join(sigs, on="units").select("pattern", "sig"),
                sigs.explode("units").select("sig", unit="units"),
            )
        return self._units_cache[key]

    def _members(self, metric: str, extract_id: str, groups: pl.DataFrame, people: _People) -> pl.DataFrame:
        """The atoms of one metric's family of every request (``slot``, ``gid``: the groups
        the atom is in, ``size``), sorted by request then group list.

        All requests in one set of queries: a family is small, and one query per family
        (1,200 families for 200 agreements) spends its time starting queries."""
        full_pattern, patterns = self._patterns(extract_id, metric)
        schools, wide, sig_of, sig_units = self._pattern_units(extract_id, metric)
        counts = patterns.select("pattern", pl.col("count").cast(pl.Int64))
        taken = (
            people.relevant.join(full_pattern, on="full")
            .group_by("slot", "pattern")
            .agg(taken=pl.len().cast(pl.Int64))
        )
        comparison = groups.filter(pl.col("side") == "comparison").select("slot", "gid", "unit")
        units = comparison.select("slot", "unit").unique()
        # Everyone served by none of the sources and not known is in every source's comparison
        # group at each unit of their pattern, less the served and known. A pattern with a
        # school whose comparison group the request holds gives an atom of its own (until equal
        # group lists are merged below) ...
        hit = schools.join(units, on="unit")
        hit_patterns = hit.select("slot", "pattern").unique()
        held = pl.concat([
            hit.select("slot", "pattern", "unit"),
            hit_patterns.join(wide, on="pattern").join(units, on=["slot", "unit"], how="semi"),
        ])
        by_pattern = _atoms(held, "pattern", comparison, counts, taken.rename({"taken": "less"}))
        # ... and every other pattern is in the groups of its pooled units only, so they are
        # summed by signature: one query row per request and signature, where one per request
        # and pattern would be millions of rows (every pattern has the district's ALL).
        less = (
            pl.concat([
                hit_patterns.join(counts, on="pattern").select("slot", "pattern", less="count"),
                taken.join(hit_patterns, on=["slot", "pattern"], how="anti").select("slot", "pattern", less="taken"),
            ])
            .join(sig_of, on="pattern")
            .group_by("slot", "sig")
            .agg(pl.col("less").sum())
        )
        sig_counts = sig_of.join(counts, on="pattern").group_by("sig").agg(pl.col("count").sum())
        by_sig = _atoms(sig_units.join(units, on="unit"), "sig", comparison, sig_counts, less)
        # The served or known students, one by one.
        bit = METRIC_BITS[metric]
        mine = (
            people.unknown.filter((pl.col("metrics") & bit) > 0)
            .join(groups, on=["slot", "unit"], how="inner")
            .join(people.eligible.with_columns(served=pl.lit(True)), on=["slot", "source", "student"], how="left")
            .filter((pl.col("side") == "served") == pl.col("served").fill_null(False))
            .sort("slot", "student", "gid")
            .group_by("slot", "student", maintain_order=True)
            .agg(pl.col("gid"))
            .select("slot", "gid", size=pl.lit(1, dtype=pl.Int64))
        )
        return (
            pl.concat([by_pattern, by_sig, mine])
            .filter(pl.col("size") > 0)
            .group_by("slot", "gid")
            .agg(pl.col("size").sum())
            .sort("slot", "gid")
        )

    @staticmethod
    def _family(groups: Sequence[tuple[int, int, str, str, str]], members: Sequence[tuple[list[int], int]]) -> _Family:
        """Rows (atom lists, deduplicated), atom sizes, each row's groups, and the atom list
        of every coded group, of one request's family: ``groups`` are its (gid, source, unit,
        side, status), ``members`` its atoms (group list, size) in order."""
        sizes: list[int] = []
        atom_lists: dict[int, list[int]] = {}
        for position, (gids, size) in enumerate(members):
            sizes.append(int(size))
            for gid in gids:
                atom_lists.setdefault(gid, []).append(position)
        unique_rows: dict[tuple[int, ...], int] = {}
        row_atoms: list[list[int]] = []
        row_groups: list[list[_Group]] = []
        coded_atoms: dict[_Group, list[int]] = {}
        for gid, source, unit, side, status in sorted(groups):
            ident = (source, unit, side)
            atoms = atom_lists.get(gid, [])
            if status == "coded":
                coded_atoms[ident] = atoms
                continue
            key = tuple(atoms)
            if not key:
                continue
            if key not in unique_rows:
                unique_rows[key] = len(row_atoms)
                row_atoms.append(list(key))
                row_groups.append([])
            row_groups[unique_rows[key]].append(ident)
        return row_atoms, sizes, row_groups, coded_atoms

    def audit(self, sources: Sequence[Source], known: pl.Series, *, new_only: bool) -> list[Finding]:
        """Every derivable small group (and derivable coded total) over ``sources``.

        ``new_only``: report only findings whose combination uses a figure of this run.
        """
        return self.audit_many([(sources, known)], new_only=new_only)[0]

    def audit_many(
        self, requests: Sequence[tuple[Sequence[Source], pl.Series]], *, new_only: bool
    ) -> list[list[Finding]]:
        """:meth:`audit` of each (sources, known) request, every partner's apart from the
        others', with the queries of all requests made together."""
        found: list[list[Finding]] = [[] for _ in requests]
        for extract_id in sorted({s.extract_id for sources, _known in requests for s in sources}):
            ks: dict[int, int] = {}
            for slot, (sources, _known) in enumerate(requests):
                k = max((s.min_cell_size for s in sources if s.extract_id == extract_id), default=0)
                if k > 1:
                    ks[slot] = k
            if not ks:
                continue
            mine = {slot: requests[slot] for slot in ks}
            people = self._people(extract_id, mine)
            all_groups = self._sources_groups(extract_id, mine)
            done: dict[int, dict[tuple[object, ...], list[tuple[int, tuple[_Group, ...], bool]]]] = {s: {} for s in ks}
            for metric in METRICS:
                groups = self._groups(metric, all_groups)
                # Each request's groups (gid, source, unit, side, status), in gid order.
                rows = _by_slot(groups.select("slot", "gid", "source", "unit", "side", "status").iter_rows())
                same = self._same_units(extract_id, metric)
                keys = {slot: (same, *(r[1:] for r in rows[slot])) if rows.get(slot) else () for slot in ks}
                todo = [slot for slot in ks if keys[slot] not in done[slot]]
                chosen = groups.filter(pl.col("slot").is_in(todo))
                members = _by_slot(self._members(metric, extract_id, chosen, people).iter_rows()) if chosen.height else {}
                for slot in todo:
                    family = self._family(rows.get(slot, []), members.get(slot, []))
                    done[slot][keys[slot]] = self._derivable(family, ks[slot])
                for slot in ks:
                    sources = requests[slot][0]
                    for size, combined, is_coded in done[slot][keys[slot]]:
                        if not new_only or any(sources[g[0]].new for g in combined):
                            found[slot].append(Finding(metric, extract_id, size, combined, coded=is_coded))
        return found

    @staticmethod
    def _derivable(
        family: _Family,
        k: int,
    ) -> list[tuple[int, tuple[_Group, ...], bool]]:
        """(size, groups combined, coded) of every derivable small group and derivable coded
        total of one family. Families of metrics with the same units and groups are equal,
        so this is computed once for them."""
        rows, sizes, row_groups, coded_atoms = family
        if not rows and not coded_atoms:
            return []
        out: list[tuple[int, tuple[_Group, ...], bool]] = []
        for derivation in small_derivable_groups(rows, sizes, k):
            combined = tuple(sorted({g for row, c in derivation.combination.items() if c for g in row_groups[row]}))
            out.append((derivation.size, combined, False))
        if coded_atoms and _multi_source(row_groups, coded_atoms):
            span = Span(rows, sizes)
            for _group, atoms in sorted(coded_atoms.items()):
                if not atoms:
                    continue
                combination = span.combination(atoms)
                if combination is None:
                    continue
                combined = tuple(sorted({g for row, c in combination.items() if c for g in row_groups[row]}))
                out.append((sum(sizes[a] for a in atoms), combined, True))
        return out

    # -- step 1: withholding ---------------------------------------------------------------

    def withhold(
        self,
        earlier: Sequence[Source],
        known_before: pl.Series,
        candidates: pl.Series,
    ) -> pl.Series:
        """The candidates (student codes) to withhold so that the earlier figures, with every
        record the partner would hold, give no small group."""
        withheld: set[int] = set()
        candidate_set = set(candidates.to_list()) - set(known_before.to_list())
        if not earlier or not candidate_set:
            return pl.Series("student", [], dtype=pl.Int64)
        for _round in range(MAX_ROUNDS):
            releasing = pl.Series(sorted(candidate_set - withheld), dtype=pl.Int64)
            known = pl.concat([known_before, releasing]).unique()
            findings = self.audit(earlier, known, new_only=False)
            progress = False
            pool = pl.Series(sorted(candidate_set), dtype=pl.Int64)
            for finding in findings:  # every finding of the round, then audit again
                members = self._among(finding, earlier, pool)  # withheld is part of the pool
                k = max(s.min_cell_size for s in earlier if s.extract_id == finding.extract_id)
                need = max(1, k - finding.size) - len(members & withheld)
                involved = members - withheld
                if need <= 0 or not involved:
                    continue
                withheld.update(sorted(involved)[:need])
                progress = True
            if not progress:
                break
        return pl.Series("student", sorted(withheld), dtype=pl.Int64)

    def _among(self, finding: Finding, sources: Sequence[Source], pool: pl.Series) -> set[int]:
        """The students of ``pool`` in any group of the finding's combination, looked up in
        the sorted roster by binary search (never a scan of the roster, nor a whole comparison
        group in Python)."""
        roster = (
            self._index(finding.extract_id)
            .rows_of(pool)
            .filter((pl.col("metrics") & METRIC_BITS[finding.metric]) > 0)
            .select("student", "unit")
        )
        out: set[int] = set()
        for position, unit, side in finding.groups:
            at = roster.filter(pl.col("unit") == unit).get_column("student")
            served = at.is_in(sources[position].eligible.implode())
            out.update((at.filter(served) if side == "served" else at.filter(~served)).to_list())
        return out

    # -- step 2 and 3: suppression ---------------------------------------------------------

    @staticmethod
    def targets(findings: Sequence[Finding], sources: Sequence[Source], table: pl.DataFrame) -> pl.DataFrame:
        """One figure of this run to suppress per finding (``agreement_index``, ``school_id``,
        ``metric``, ``reason``), chosen as the module docstring says."""
        if not findings:
            return pl.DataFrame(
                schema={AGREEMENT_INDEX: pl.UInt32, "school_id": pl.String, "metric": pl.String, "reason": pl.String}
            )
        served_n = {
            (row[0], row[1], row[2]): row[3] or 0
            for row in table.select(AGREEMENT_INDEX, "school_id", "metric", "served_n").iter_rows()
        }
        chosen: dict[tuple[int, str, str], str] = {}
        for finding in findings:
            involved_sources = {g[0] for g in finding.groups}
            options = []
            for position, unit, _side in finding.groups:
                source = sources[position]
                if not source.new:
                    continue
                school = ALL_SCHOOLS if unit.startswith(ALL_UNIT) else unit
                cell = (source.index, school, finding.metric)
                options.append((school == ALL_SCHOOLS, served_n.get(cell, 0), source.index, school, cell))
            if not options:
                continue
            *_, cell = min(options)
            several = len(involved_sources) > 1 or any(not sources[p].new for p in involved_sources)
            chosen.setdefault(cell, HOLDINGS if several or finding.coded else SECONDARY)
        return pl.DataFrame(
            [(a, s, m, r) for (a, s, m), r in sorted(chosen.items())],
            schema={AGREEMENT_INDEX: pl.UInt32, "school_id": pl.String, "metric": pl.String, "reason": pl.String},
            orient="row",
        )


def _atoms(
    held: pl.DataFrame, by: str, comparison: pl.DataFrame, counts: pl.DataFrame, less: pl.DataFrame
) -> pl.DataFrame:
    """(``slot``, ``gid``, ``size``): per request and ``by`` (a pattern or a signature), the
    comparison groups (``gid``, sorted) at the units it holds (``held``: slot, ``by``, unit),
    and its students (``counts``: ``by``, count) less the request's served and known ones
    (``less``: slot, ``by``, less)."""
    return (
        held.join(comparison, on=["slot", "unit"])
        .sort("slot", by, "gid")
        .group_by("slot", by, maintain_order=True)
        .agg(pl.col("gid"))
        .join(counts, on=by)
        .join(less, on=["slot", by], how="left")
        .select("slot", "gid", size=pl.col("count") - pl.col("less").fill_null(0))
    )


def _by_slot(rows: Iterable[tuple[Any, ...]]) -> dict[int, list[tuple[Any, ...]]]:
    """Rows whose first cell is a request (``slot``), gathered per request, in order."""
    out: dict[int, list[tuple[Any, ...]]] = {}
    for slot, *rest in rows:
        out.setdefault(slot, []).append(tuple(rest))
    return out


def _stacked(parts: Sequence[tuple[int, int, pl.DataFrame]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """The frames of ``parts`` (request, source position, frame of ``schema``) one under the
    other, each row with its request (``slot``) and source position (``source``)."""
    if not parts:
        return pl.DataFrame(schema={**schema, "slot": pl.UInt32, "source": pl.UInt32})
    lengths = [frame.height for _slot, _source, frame in parts]
    return pl.concat([frame for *_, frame in parts]).with_columns(
        slot=pl.Series(np.repeat(np.array([slot for slot, *_ in parts], dtype=np.uint32), lengths)),
        source=pl.Series(np.repeat(np.array([source for _slot, source, _frame in parts], dtype=np.uint32), lengths)),
    )


def _multi_source(
    row_groups: Sequence[Sequence[_Group]], coded_atoms: Mapping[_Group, list[int]]
) -> bool:
    """Whether the family's figures come from more than one distinct table: a single
    table's coded figures are already covered by its secondary suppression, and so are
    several sources that publish the very same groups (reruns of one agreement)."""
    tables: dict[int, set[object]] = {}
    for row, groups in enumerate(row_groups):
        for source, unit, side in groups:
            tables.setdefault(source, set()).add(row)
    for (source, unit, side), atoms in coded_atoms.items():
        tables.setdefault(source, set()).add(("coded", unit, side, tuple(atoms)))
    return len({frozenset(rows) for rows in tables.values()}) > 1


def published_groups_of(table: pl.DataFrame, covered_ids: Mapping[int, str]) -> dict[int, pl.DataFrame]:
    """Per agreement of ``table`` (by ``agreement_index``, each under its covered id in
    ``covered_ids``): (``unit``, ``metric``, ``side``, ``status``, ``n``) of the figures a
    :func:`suppress` result publishes (status ``published``) or codes (``coded``), sorted;
    an agreement that publishes nothing has no entry. One query for every agreement."""
    if table.height == 0:
        return {}
    indexes = list(covered_ids)
    cid = pl.col(AGREEMENT_INDEX).replace_strict(indexes, [covered_ids[i] for i in indexes], return_dtype=pl.String)
    unit = pl.when(pl.col("school_id") == ALL_SCHOOLS).then(pl.lit(ALL_UNIT) + cid).otherwise("school_id")
    parts = []
    for side in SIDES:
        is_coded = coded(side)
        parts.append(
            table.filter(pl.col(f"{side}_reason").is_null() & (pl.col(f"{side}_n") > 0)).select(
                AGREEMENT_INDEX,
                unit=unit,
                metric="metric",
                side=pl.lit(side),
                status=pl.when(is_coded).then(pl.lit("coded")).otherwise(pl.lit("published")),
                n=pl.col(f"{side}_n").cast(pl.Int64),
            )
        )
    return split_by_agreement(pl.concat(parts).sort(AGREEMENT_INDEX, "unit", "metric", "side"))

