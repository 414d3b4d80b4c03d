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
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from datashare.agreement.model import METRICS
from datashare.errors import AgreementRefused
from datashare.package.ledger import ALL_UNIT, History, LedgerRelease
from datashare.release.derivable import Span, small_derivable_groups
from datashare.release.disclosure import HOLDINGS, SECONDARY, SIDES, coded
from datashare.release.metrics import ALL_SCHOOLS, METRIC_DEFINITIONS
from datashare.release.types import AGREEMENT_INDEX

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
    """A family's served and known students in the roster (see :meth:`Audit._people`)."""

    eligible: pl.DataFrame  # student, source: who each source serves
    relevant: pl.DataFrame  # student, full: the served and the known students' full patterns
    unknown: pl.DataFrame  # the roster rows of the served students not known


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
        # Partners are audited from two threads: each cache is filled once, under the lock.
        self._lock = threading.RLock()

    def prepare(self, extract_id: str) -> None:
        """Fill the caches of an extract's roster for every metric before partners are
        audited in parallel, so that they share the work instead of waiting on the lock."""
        for metric in METRICS:
            self._same_units(extract_id, metric)

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
        with self._lock:
            if extract_id not in self._indexes:
                self._indexes[extract_id] = _RosterIndex.of(self.rosters[extract_id])
            return self._indexes[extract_id]

    def _patterns(self, extract_id: str, metric: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Who counts in ``metric``'s figures of an extract: each full pattern's *pattern*
        for the metric (the sorted units where the student counts in it) and each pattern's
        units and size. Derived from the few distinct full patterns, not from every student,
        once per extract and metric."""
        key = (extract_id, metric)
        with self._lock:
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

    def _people(self, extract_id: str, sources: Sequence[Source], known: pl.Series) -> _People:
        """The sources' served students and the known ones, looked up in the extract's roster
        once for every metric of the family."""
        eligible = pl.concat(
            [
                source.eligible.to_frame("student").with_columns(source=pl.lit(position, dtype=pl.UInt32))
                for position, source in enumerate(sources)
                if source.extract_id == extract_id
            ]
        ).unique()
        index = self._index(extract_id)
        relevant = pl.concat([eligible.get_column("student"), known]).unique()
        unknown = relevant.filter(~relevant.is_in(known.implode()))
        return _People(eligible, index.full_of(relevant), index.rows_of(unknown))

    @staticmethod
    def _groups(metric: str, extract_id: str, sources: Sequence[Source]) -> pl.DataFrame:
        """The published and coded groups of one metric of one extract (``gid``, ``source``,
        ``unit``, ``side``, ``status``), in a fixed order."""
        table = [
            source.groups.filter(pl.col("metric") == metric).with_columns(
                source=pl.lit(position, dtype=pl.UInt32)
            )
            for position, source in enumerate(sources)
            if source.extract_id == extract_id
        ]
        if not table:
            return pl.DataFrame()
        groups = pl.concat(table).select("source", "unit", "side", "status").unique(maintain_order=True)
        return groups.sort("source", "unit", "side").with_row_index("gid")

    def _same_units(self, extract_id: str, metric: str) -> str:
        """The first metric (in report order) whose students count in exactly the same units
        as ``metric``'s: their families differ only if their published groups do."""
        key = (extract_id, metric)
        with self._lock:
            if key not in self._same:
                full_pattern, patterns = self._patterns(extract_id, metric)
                self._same[key] = metric
                for other in METRICS[: METRICS.index(metric)]:
                    other_full, other_patterns = self._patterns(extract_id, other)
                    if other_full.equals(full_pattern) and other_patterns.equals(patterns):
                        self._same[key] = other
                        break
            return self._same[key]

    def _family(
        self, metric: str, extract_id: str, groups: pl.DataFrame, people: _People
    ) -> _Family:
        """Rows (atom lists, deduplicated), atom sizes, each row's groups, and the atom list
        of every coded group, for one metric of one extract."""
        if groups.height == 0:
            return [], [], [], {}
        eligible = people.eligible
        full_pattern, patterns = self._patterns(extract_id, metric)
        # Everyone served by none of the sources and not known: by pattern, in every
        # source's comparison group at each unit of the pattern.
        taken = (
            people.relevant.join(full_pattern, on="full")
            .group_by("pattern")
            .agg(taken=pl.len())
        )
        comparison = groups.filter(pl.col("side") == "comparison").select("gid", "unit")
        # Eager, and each list sorted by sorting rows before grouping: a family is small, and
        # a lazy plan or a sort inside every group cost more than the work itself (1,200
        # families for 200 agreements).
        others = (
            patterns.join(taken, on="pattern", how="left")
            .with_columns(size=pl.col("count") - pl.col("taken").fill_null(0))
            .filter(pl.col("size") > 0)
            .explode("units")
            .join(comparison, left_on="units", right_on="unit", how="inner")
            .sort("pattern", "gid")
            .group_by("pattern", maintain_order=True)
            .agg(pl.col("gid"), pl.col("size").first())
            .select("gid", pl.col("size").cast(pl.Int64))
        )
        # The served or known students, one by one.
        bit = METRIC_BITS[metric]
        mine = (
            people.unknown.filter((pl.col("metrics") & bit) > 0)
            .join(groups, on="unit", how="inner")
            .join(eligible.with_columns(served=pl.lit(True)), on=["source", "student"], how="left")
            .filter((pl.col("side") == "served") == pl.col("served").fill_null(False))
            .sort("student", "gid")
            .group_by("student", maintain_order=True)
            .agg(pl.col("gid"))
            .select("gid", size=pl.lit(1, dtype=pl.Int64))
        )
        members = pl.concat([others, mine]).group_by("gid").agg(pl.col("size").sum()).sort("gid")
        info = groups.select("gid", "source", "unit", "side", "status").rows()
        status = {gid: st for gid, _s, _u, _d, st in info}
        ident = {gid: (src, unit, side) for gid, src, unit, side, _st in info}
        sizes: list[int] = []
        atom_lists: dict[int, list[int]] = {}
        for position, (gids, size) in enumerate(members.iter_rows()):
            sizes.append(int(size))
            for gid in gids:
                atom_lists.setdefault(gid, []).append(position)
        unique_rows: dict[tuple[int, ...], int] = {}
        row_atoms: list[list[int]] = []
        row_groups: list[list[_Group]] = []
        coded_atoms: dict[_Group, list[int]] = {}
        for gid in sorted(ident):
            atoms = atom_lists.get(gid, [])
            if status[gid] == "coded":
                coded_atoms[ident[gid]] = atoms
                continue
            key = tuple(atoms)
            if not key:
                continue
            if key not in unique_rows:
                unique_rows[key] = len(row_atoms)
                row_atoms.append(list(key))
                row_groups.append([])
            row_groups[unique_rows[key]].append(ident[gid])
        return row_atoms, sizes, row_groups, coded_atoms

    def audit(
        self, sources: Sequence[Source], known: pl.Series, *, new_only: bool
    ) -> list[Finding]:
        """Every derivable small group (and derivable coded total) over ``sources``.

        ``new_only``: report only findings whose combination uses a figure of this run.
        """
        found: list[Finding] = []
        for extract_id in sorted({s.extract_id for s in sources}):
            family_sources = [s for s in sources if s.extract_id == extract_id]
            k = max((s.min_cell_size for s in family_sources), default=0)
            if k <= 1:
                continue
            people = self._people(extract_id, sources, known)
            done: dict[tuple[object, ...], list[tuple[int, tuple[_Group, ...], bool]]] = {}
            for metric in METRICS:
                groups = self._groups(metric, extract_id, sources)
                key = (self._same_units(extract_id, metric), *groups.drop("gid").rows()) if groups.height else ()
                if key not in done:
                    done[key] = self._derivable(self._family(metric, extract_id, groups, people), k)
                for size, combined, is_coded in done[key]:
                    if not new_only or any(sources[g[0]].new for g in combined):
                        found.append(Finding(metric, extract_id, size, combined, coded=is_coded))
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


def published_groups(table: pl.DataFrame, covered_id: str) -> pl.DataFrame:
    """(``unit``, ``metric``, ``side``, ``status``, ``n``) of the figures a :func:`suppress`
    result publishes (status ``published``) or codes (``coded``); one agreement's rows."""
    unit = pl.when(pl.col("school_id") == ALL_SCHOOLS).then(pl.lit(ALL_UNIT + covered_id)).otherwise("school_id")
    parts = []
    for side in SIDES:
        is_coded = coded(side)
        parts.append(
            table.filter(pl.col(f"{side}_reason").is_null() & (pl.col(f"{side}_n") > 0)).select(
                unit=unit,
                metric="metric",
                side=pl.lit(side),
                status=pl.when(is_coded).then(pl.lit("coded")).otherwise(pl.lit("published")),
                n=pl.col(f"{side}_n").cast(pl.Int64),
            )
        )
    return pl.concat(parts).sort("unit", "metric", "side")

