"""Which groups of students a partner can isolate by adding and subtracting what it holds.

The attacker's audit of CONTRACT section 3, "Everything a partner holds", in its exact
linear form. For one metric and one extract, every figure the partner holds is the total
of a *group* of students (a published n times its value), and every student whose
individual records it holds is known on their own. A group is **derivable** when its
indicator vector lies in the span of the published groups and the known students' unit
vectors: some sum and difference of figures gives its total. No derivable group may hold
1 to ``k - 1`` students who are not known individually.

How it is decided, exactly and without enumerating students:

1. Known students are removed (their unit vectors are in the span, so any combination can
   be cleared of them).
2. **Atoms**: students in exactly the same published groups. Every combination of groups
   is constant on an atom, so a derivable group is a union of atoms; an atom is one
   column of the system, weighted by its number of students.
3. A derivable group of fewer than ``k`` students cannot contain a column of ``k`` or
   more students. Such *large* columns are eliminated (Gaussian elimination with a pivot
   row that is then dropped: only combinations that are zero on the column remain).
   After that, columns that now have equal coefficients in every remaining row are one
   column (a 0/1 combination takes them together), which may make them large in turn;
   this repeats until no large column is left.
4. What remains spans every combination supported on small columns. In reduced row
   echelon form a 0/1 vector of that space is the sum of the basis rows whose pivot it
   holds, so the candidate groups are the subsets of basis rows, searched smallest first
   and cut off as soon as their weight reaches ``k``; each 0/1 result of weight 1 to
   ``k - 1`` is a derivable small group, returned with the combination of published
   groups that yields it (so that the caller can suppress one of them).

Rational arithmetic (:class:`fractions.Fraction`) keeps every step exact. The search in
step 4 is bounded (:data:`SEARCH_LIMIT` subsets); past the bound the space is reported as
unsafe (fail closed), never as safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

_Exact = int | Fraction
"""A coefficient while large columns are eliminated: an int while every division is exact."""

SEARCH_LIMIT = 200_000
"""Subsets of basis rows tried before the search gives up and reports the space unsafe."""


@dataclass(frozen=True)
class Derivation:
    """A derivable group of ``size`` unknown students, and the published groups whose
    combination (``combination``: group index -> coefficient) gives its total."""

    size: int
    combination: Mapping[int, Fraction]


def small_derivable_groups(
    groups: Sequence[Iterable[int]],
    sizes: Sequence[int],
    k: int,
) -> list[Derivation]:
    """Every derivable group of 1 to ``k - 1`` students, as combinations of ``groups``.

    ``groups[i]`` lists the atoms (indices into ``sizes``) that published group ``i``
    holds; ``sizes[a]`` is the number of unknown students in atom ``a``. Returns an empty
    list when the holdings are safe. Identical derivations are reported once.
    """
    rows: dict[int, dict[int, _Exact]] = {}
    origin: dict[int, dict[int, _Exact]] = {}
    for index, atoms in enumerate(groups):
        entries: dict[int, _Exact] = {atom: 1 for atom in atoms if sizes[atom] > 0}
        if entries:
            rows[index] = entries
            origin[index] = {index: 1}
    weights = {atom: sizes[atom] for row in rows.values() for atom in row}
    members: dict[int, list[int]] = {atom: [atom] for atom in weights}

    while True:
        _eliminate_large(rows, origin, weights, k)
        if not rows:
            return []
        merged = _merge_equal_columns(rows, weights, members)
        if not merged:
            break
    return _search(rows, origin, weights, k)


def _ratio(top: _Exact, bottom: _Exact) -> _Exact:
    """``top / bottom`` exactly: an int when it divides (the usual case, and several times
    faster to work with than a Fraction), else a Fraction."""
    if isinstance(top, int) and isinstance(bottom, int) and top % bottom == 0:
        return top // bottom
    return Fraction(top) / bottom


def _eliminate_large(
    rows: dict[int, dict[int, _Exact]],
    origin: dict[int, dict[int, _Exact]],
    weights: dict[int, int],
    k: int,
) -> None:
    """Eliminate every column of weight ``k`` or more; drop each pivot row.

    Coefficients stay Python ints while every division is exact, and become Fractions
    only when one is not: the same values, exactly."""
    where: dict[int, set[int]] = {}
    for name, row in rows.items():
        for atom in row:
            where.setdefault(atom, set()).add(name)
    for atom in sorted(a for a, w in weights.items() if w >= k):
        holders = where.pop(atom, set())
        if not holders:
            continue
        pivot_name = min(holders, key=lambda name: (len(rows[name]), name))
        pivot = rows.pop(pivot_name)
        pivot_origin = origin.pop(pivot_name)
        for other in pivot:
            if other != atom and other in where:
                where[other].discard(pivot_name)
        factor_base = pivot[atom]
        for name in sorted(holders - {pivot_name}):
            row = rows[name]
            factor = _ratio(row[atom], factor_base)
            for other, value in pivot.items():
                updated = row.get(other, 0) - factor * value
                if updated:
                    row[other] = updated
                    if other != atom:
                        where.setdefault(other, set()).add(name)
                else:
                    row.pop(other, None)
                    if other in where:
                        where[other].discard(name)
            trace = origin[name]
            for group, value in pivot_origin.items():
                updated = trace.get(group, 0) - factor * value
                if updated:
                    trace[group] = updated
                else:
                    trace.pop(group, None)
            if not row:
                del rows[name]
                del origin[name]
    for atom in [a for a, w in weights.items() if w >= k]:
        del weights[atom]


def _merge_equal_columns(
    rows: dict[int, dict[int, _Exact]],
    weights: dict[int, int],
    members: dict[int, list[int]],
) -> bool:
    """Make columns with equal coefficients in every row one column; True if any merged."""
    profile: dict[int, list[tuple[int, _Exact]]] = {}
    for name in sorted(rows):
        for atom, value in rows[name].items():
            profile.setdefault(atom, []).append((name, value))
    for atom in list(weights):
        if atom not in profile:  # no longer in any row: it cannot be part of a group
            del weights[atom]
    buckets: dict[tuple[tuple[int, _Exact], ...], list[int]] = {}
    for atom, entries in profile.items():
        buckets.setdefault(tuple(entries), []).append(atom)
    merged = False
    for atoms in buckets.values():
        if len(atoms) < 2:
            continue
        merged = True
        keep, *rest = sorted(atoms)
        for atom in rest:
            weights[keep] += weights.pop(atom)
            members[keep] += members.pop(atom)
            for row in rows.values():
                row.pop(atom, None)
    return merged


def _search(
    rows: dict[int, dict[int, _Exact]],
    origin: dict[int, dict[int, _Exact]],
    weights: dict[int, int],
    k: int,
) -> list[Derivation]:
    """0/1 vectors of weight 1..k-1 in the span of ``rows`` (all columns small)."""
    columns = sorted(weights, key=lambda atom: (-weights[atom], atom))
    basis: list[tuple[int, dict[int, Fraction], dict[int, Fraction]]] = []
    pending = [
        ({a: Fraction(v) for a, v in rows[name].items()}, {g: Fraction(v) for g, v in origin[name].items()})
        for name in sorted(rows)
    ]
    for column in columns:  # reduced row echelon form, pivots on the heaviest columns first
        chosen = next((i for i, (row, _) in enumerate(pending) if row.get(column)), None)
        if chosen is None:
            continue
        row, trace = pending.pop(chosen)
        scale = row[column]
        row = {a: v / scale for a, v in row.items()}
        trace = {g: v / scale for g, v in trace.items()}
        reduced_pending = []
        for other_row, other_trace in pending:
            factor = other_row.get(column)
            if factor:
                other_row, other_trace = _axpy(other_row, row, factor), _axpy(other_trace, trace, factor)
            if other_row:
                reduced_pending.append((other_row, other_trace))
        pending = reduced_pending
        basis = [
            (pivot, *_reduce(b_row, b_trace, row, trace, column)) for pivot, b_row, b_trace in basis
        ]
        basis.append((column, row, trace))

    found: dict[tuple[int, ...], Derivation] = {}
    tried = 0
    order = sorted(range(len(basis)), key=lambda i: (weights[basis[i][0]], i))

    def walk(start: int, vector: dict[int, Fraction], trace: dict[int, Fraction], floor: int) -> None:
        nonlocal tried
        for position in range(start, len(order)):
            index = order[position]
            pivot, row, row_trace = basis[index]
            if floor + weights[pivot] >= k:
                return  # ordered by pivot weight: every later choice is as heavy
            tried += 1
            if tried > SEARCH_LIMIT:
                raise _TooMany
            combined = _axpy(vector, row, Fraction(-1))
            combined_trace = _axpy(trace, row_trace, Fraction(-1))
            support = [a for a, v in combined.items() if v]
            if all(combined[a] == 1 for a in support):
                size = sum(weights[a] for a in support)
                if 1 <= size < k:
                    key = tuple(sorted(support))
                    found.setdefault(key, Derivation(size=size, combination=combined_trace))
            walk(position + 1, combined, combined_trace, floor + weights[pivot])

    try:
        walk(0, {}, {}, 0)
    except _TooMany:
        # Fail closed: too many candidates to rule out; report the lightest basis row.
        pivot, _row, trace = basis[order[0]]
        return [Derivation(size=weights[pivot], combination=trace)]
    return [found[key] for key in sorted(found)]


class _TooMany(Exception):
    pass


def _axpy(left: dict[int, Fraction], right: dict[int, Fraction], factor: Fraction) -> dict[int, Fraction]:
    """``left - factor * right``, without zero entries."""
    out = dict(left)
    for key, value in right.items():
        updated = out.get(key, Fraction(0)) - factor * value
        if updated:
            out[key] = updated
        else:
            out.pop(key, None)
    return out


def _reduce(
    row: dict[int, Fraction],
    trace: dict[int, Fraction],
    pivot_row: dict[int, Fraction],
    pivot_trace: dict[int, Fraction],
    column: int,
) -> tuple[dict[int, Fraction], dict[int, Fraction]]:
    factor = row.get(column)
    if not factor:
        return row, trace
    return _axpy(row, pivot_row, factor), _axpy(trace, pivot_trace, factor)


class Span:
    """The span of published groups, in echelon form, to ask whether a group is in it.

    Used for coded shares: their exact total must not be derivable whatever its size.
    Atoms without unknown students are left out, as in :func:`small_derivable_groups`.
    """

    def __init__(self, groups: Sequence[Iterable[int]], sizes: Sequence[int]) -> None:
        self.sizes = sizes
        self.basis: dict[int, tuple[dict[int, Fraction], dict[int, Fraction]]] = {}
        for index, atoms in enumerate(groups):
            row = {atom: Fraction(1) for atom in atoms if sizes[atom] > 0}
            row, trace = self._reduce(row, {index: Fraction(1)})
            if row:
                pivot = min(row)
                scale = row[pivot]
                self.basis[pivot] = ({a: v / scale for a, v in row.items()}, {g: v / scale for g, v in trace.items()})

    def _reduce(
        self, row: dict[int, Fraction], trace: dict[int, Fraction]
    ) -> tuple[dict[int, Fraction], dict[int, Fraction]]:
        while True:
            hits = [a for a in row if a in self.basis]
            if not hits:
                return row, trace
            pivot = min(hits)
            factor = row[pivot]
            b_row, b_trace = self.basis[pivot]
            row, trace = _axpy(row, b_row, factor), _axpy(trace, b_trace, factor)

    def combination(self, query: Iterable[int]) -> dict[int, Fraction] | None:
        """The combination of the groups equal to the group ``query`` (atoms), or None."""
        target = {atom: Fraction(1) for atom in query if self.sizes[atom] > 0}
        if not target:
            return None
        rest, trace = self._reduce(target, {})
        if rest:
            return None
        return {g: -v for g, v in trace.items() if v}

