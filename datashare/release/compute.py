"""From typed tables and loaded agreements to one :class:`PartnerRelease` per agreement.

The extract is summarised once (:func:`prepare`: one pass over attendance, one
``group_by`` of all partners' contacts, the small tables collected once). Then every
agreement covering the same set of schools is computed *together*: one join of every
agreement's rule with the contact counts (eligibility), one of every agreement's terms
with the consents, one of every served student with their summaries (the comparison
cells), one disclosure control over all the cells, and for each individual table one join
and one sort per list of fields (see :mod:`individual`). Each agreement's rows carry its
``agreement_index`` and are handed out as slices. Two hundred agreements thus cost a few
queries over rows in proportion to the students they serve, not two hundred rounds of
small queries. The student keys (an HMAC per released student, in Python) are computed
in a thread of their own while the cells and disclosure queries run.

Every agreement is checked before anything is computed, and any failure refuses the whole
run (fail closed): lint errors, a template, an agreement not in force on ``as_of``, a
school year other than the extract's, an unknown covered school, an individual field
outside the catalog.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from datashare.agreement.fields import INDIVIDUAL_FIELDS
from datashare.agreement.load import LoadedAgreement
from datashare.agreement.model import METRICS, Agreement
from datashare.errors import AgreementRefused, ReleaseError
from datashare.release.consent import consented_all
from datashare.release.derive import Summaries, derive
from datashare.release.disclosure import OUTPUT_SCHEMA, REASONS, disclose, reason_counts
from datashare.release.eligibility import (
    contact_counts,
    covered_enrolled,
    covered_students,
    rules,
    served_students,
)
from datashare.release.individual import check_fields, individual_tables, sources_needed
from datashare.release.keys import partner_key, student_keys
from datashare.release.metrics import (
    ALL_SCHOOLS,
    METRICS_SCHEMA,
    CoveredUnits,
    all_cells,
    covered_units,
    withhold_not_supplied,
)
from datashare.release.types import (
    AGREEMENT_INDEX,
    GATES,
    PartnerRelease,
    split_by_agreement,
)
from datashare.schoolyear import SchoolYear

AGGREGATE_TABLE = "aggregate_comparison"


@dataclass(frozen=True)
class Covered:
    """What every agreement covering one set of schools shares, built once per run.

    ``school_ids``: the covered school ids; ``enrolled``: their distinct (school_id,
    student_id) pairs; ``students``: the distinct enrolled ``student_id``, sorted;
    ``units``: the comparison base of :mod:`metrics`.
    """

    school_ids: pl.Series
    enrolled: pl.DataFrame
    students: pl.Series
    units: CoveredUnits


@dataclass(frozen=True)
class Prepared:
    """Everything the releases need from the extract, computed once, all collected.

    ``students``, ``discipline`` and ``grades`` hold only ``student_id``, ``school_id``
    (not for students), ``birth_date`` (students) and releasable catalog columns, and only
    rows of the school year. ``contacts`` holds every partner's contact counts
    (:func:`~datashare.release.eligibility.contact_counts`).
    """

    school_year: str
    schools: pl.DataFrame
    summaries: Summaries
    contacts: pl.DataFrame
    consents: pl.DataFrame
    students: pl.DataFrame
    discipline: pl.DataFrame
    grades: pl.DataFrame
    _covered: dict[frozenset[str] | None, Covered] = field(default_factory=dict, repr=False, compare=False)

    def covered(self, schools: frozenset[str] | None) -> Covered:
        """The shared base of the agreements covering ``schools`` (``None``: all), cached."""
        if schools not in self._covered:
            rows = self.schools
            student_school = self.summaries.student_school
            if schools is not None:
                wanted = pl.Series(sorted(schools), dtype=pl.String).implode()
                rows = rows.filter(pl.col("school_id").is_in(wanted))
                student_school = student_school.filter(pl.col("school_id").is_in(wanted))
            enrolled = covered_enrolled(self.summaries.enrolled, schools).select("school_id", "student_id")
            self._covered[schools] = Covered(
                school_ids=rows.get_column("school_id"),
                enrolled=enrolled,
                students=covered_students(enrolled, None),
                units=covered_units(student_school, rows, self.summaries.not_supplied),
            )
        return self._covered[schools]


def _catalog_columns(frame: pl.LazyFrame, table: str, keep: Sequence[str]) -> pl.LazyFrame:
    names = frame.collect_schema().names()
    wanted = [*keep, *(name for name in INDIVIDUAL_FIELDS[table] if name in names and name not in keep)]
    return frame.select(wanted)


def prepare(tables: Mapping[str, pl.LazyFrame], school_year: SchoolYear) -> Prepared:
    """Scan the extract once into the small frames every agreement's release is made of."""
    label = school_year.label
    in_year = pl.col("incident_date").is_between(school_year.start, school_year.end)
    students, discipline, grades, consents, schools = pl.collect_all(
        [
            _catalog_columns(tables["students"], "students", ["student_id", "birth_date"]),
            _catalog_columns(tables["discipline"].filter(in_year), "discipline", ["student_id", "school_id"]),
            _catalog_columns(
                tables["grades"].filter(pl.col("school_year") == label), "grades", ["student_id", "school_id"]
            ),
            tables["consents"],
            tables["schools"].select("school_id", "school_name"),
        ]
    )
    return Prepared(
        school_year=label,
        schools=schools.sort("school_id"),
        summaries=derive(tables, school_year),
        contacts=contact_counts(tables["service_contacts"], school_year),
        consents=consents,
        students=students,
        discipline=discipline,
        grades=grades,
    )


def check_agreement(
    loaded: LoadedAgreement, as_of: dt.date, *, school_year: str, school_ids: set[str]
) -> None:
    """Refuse an agreement that may not be released on ``as_of`` from an extract of
    ``school_year`` (a label like ``2025-2026``) with the schools ``school_ids``."""
    loaded.require_releasable()
    agreement = loaded.agreement
    where = f"{loaded.path}: agreement {agreement.id}"
    missing = agreement.missing_for_release()
    if missing:
        raise AgreementRefused(f"{where}: missing {', '.join(missing)}")
    if not agreement.in_force(as_of):
        term = agreement.term
        assert term is not None
        raise AgreementRefused(
            f"{where}: not in force on {as_of.isoformat()} (term.effective "
            f"{term.effective.isoformat()}, term.expires {term.expires.isoformat()})"
        )
    if agreement.school_year != school_year:
        raise AgreementRefused(
            f"{where}: school_year {agreement.school_year} does not match the extract's "
            f"school year {school_year}"
        )
    known = school_ids
    if ALL_SCHOOLS in known:
        raise ReleaseError(f"schools: a school_id {ALL_SCHOOLS!r} clashes with the all-schools row")
    if agreement.schools != "all":
        unknown = sorted(set(agreement.schools) - known)
        if unknown:
            raise AgreementRefused(f"{where}: schools lists {unknown[0]!r}, which is not in the extract's schools")
    if agreement.aggregate is None and agreement.individual is None:
        raise AgreementRefused(f"{where}: neither aggregate nor individual: nothing to release")
    check_fields(agreement)


def covered_schools(agreement: Agreement) -> frozenset[str] | None:
    """The agreement's school ids, or ``None`` for ``schools: all``."""
    return None if agreement.schools == "all" else frozenset(agreement.schools)


def release_partner(
    prepared: Prepared,
    loaded: LoadedAgreement,
    secret: bytes,
    as_of: dt.date,
) -> PartnerRelease:
    """One agreement's release: gates, aggregate comparison, individual tables.

    Call :func:`check_agreement` first; this function trusts the agreement.
    """
    return release_all(prepared, [loaded], secret, as_of)[0]


@dataclass(frozen=True)
class _Shared:
    """The results of the joins shared by a group of agreements, split by agreement."""

    gates: dict[int, dict[str, int]]
    aggregates: dict[int, pl.DataFrame]
    suppression: dict[int, dict[str, int]]
    individual: dict[int, dict[str, pl.DataFrame]]


def _keys(released: pl.DataFrame, agreements: Sequence[Agreement], secret: bytes) -> pl.DataFrame:
    """``agreement_index``, ``student_id`` and ``student_key`` of every released student,
    each under the key of the agreement's partner."""
    parts = split_by_agreement(released)
    keyed = [
        student_keys(parts[position], partner_key(secret, agreement.partner.id)).with_columns(
            pl.lit(position, dtype=pl.UInt32).alias(AGREEMENT_INDEX)
        )
        for position, agreement in enumerate(agreements)
        if agreement.partner is not None and position in parts
    ]
    schema = {"student_id": pl.String, "student_key": pl.String, AGREEMENT_INDEX: pl.UInt32}
    return pl.concat(keyed) if keyed else pl.DataFrame(schema=schema)


def _shared(
    prepared: Prepared,
    schools: frozenset[str] | None,
    group: dict[int, Agreement],
    secret: bytes,
    as_of: dt.date,
) -> _Shared:
    """Eligibility, consent, keys, cells, disclosure and individual rows of ``group`` (index
    -> agreement, all covering ``schools``), each step one query for the whole group."""
    covered = prepared.covered(schools)
    order = list(group)  # position in the group -> index in the run
    agreements = [group[index] for index in order]

    rule_rows = rules(agreements)
    served = served_students(prepared.contacts, rule_rows, covered.students)
    eligible = served.filter("eligible").select(AGREEMENT_INDEX, "student_id")
    asked = eligible.join(rule_rows.select(AGREEMENT_INDEX, "partner_id"), on=AGREEMENT_INDEX)
    agreed = consented_all(
        prepared.consents.join(asked.select("partner_id", "student_id"), on=["partner_id", "student_id"], how="semi"),
        prepared.students,
        agreements,
        as_of,
    )
    consent = eligible.join(agreed, on=[AGREEMENT_INDEX, "student_id"], how="semi")
    with_fields = [position for position, agreement in enumerate(agreements) if check_fields(agreement)]
    released = consent.filter(pl.col(AGREEMENT_INDEX).is_in(with_fields))

    # The keys are an HMAC per released student in Python: computed in a thread of their
    # own while the polars queries below (which release the GIL) run.
    keys_pool = ThreadPoolExecutor(max_workers=1)
    keys = keys_pool.submit(_keys, released, agreements, secret)
    keys_pool.shutdown(wait=False)

    table = _aggregate(covered, agreements, eligible, released)
    individual: dict[int, dict[str, pl.DataFrame]] = {}
    needed = sources_needed(agreements)
    if needed:
        frames = _individual_sources(prepared, covered, restricted=schools is not None)
        individual = individual_tables(agreements, keys.result(), {name: frames[name] for name in needed})
    return _Shared(
        gates={order[p]: gates for p, gates in _gates(covered, len(order), served, consent, released).items()},
        aggregates={
            order[p]: part for p, part in split_by_agreement(table.select(AGREEMENT_INDEX, *OUTPUT_SCHEMA)).items()
        },
        suppression={order[p]: counted for p, counted in reason_counts(table).items()},
        individual={order[p]: part for p, part in individual.items()},
    )


def _gates(
    covered: Covered, count: int, served: pl.DataFrame, consent: pl.DataFrame, released: pl.DataFrame
) -> dict[int, dict[str, int]]:
    """Each agreement's (by position) distinct students at every gate of :data:`GATES`."""
    gates = {position: {"enrolled": covered.students.len(), **dict.fromkeys(GATES[1:], 0)} for position in range(count)}
    counts = (
        served.group_by(AGREEMENT_INDEX)
        .agg(with_contacts=pl.len(), eligible=pl.col("eligible").sum())
        .join(consent.group_by(AGREEMENT_INDEX).agg(consented=pl.len()), on=AGREEMENT_INDEX, how="left")
        .join(released.group_by(AGREEMENT_INDEX).agg(released=pl.len()), on=AGREEMENT_INDEX, how="left")
        .fill_null(0)
    )
    for row in counts.iter_rows(named=True):
        gates[row[AGREEMENT_INDEX]].update({gate: int(row[gate]) for gate in GATES[1:]})
    return gates


def _aggregate(
    covered: Covered, agreements: Sequence[Agreement], eligible: pl.DataFrame, released: pl.DataFrame
) -> pl.DataFrame:
    """The disclosed comparison of every agreement with an ``aggregate`` section, keyed by
    ``agreement_index`` (see :func:`~datashare.release.disclosure.disclose`)."""
    wanted = [
        (position, name)
        for position, agreement in enumerate(agreements)
        if agreement.aggregate is not None
        for name in METRICS
        if name in agreement.aggregate.metrics
    ]
    terms = pl.DataFrame(
        [
            (position, agreement.aggregate.min_cell_size, agreement.individual is not None)
            for position, agreement in enumerate(agreements)
            if agreement.aggregate is not None
        ],
        schema={AGREEMENT_INDEX: pl.UInt32, "min_cell_size": pl.Int64, "differencing": pl.Boolean},
        orient="row",
    )
    flagged = eligible.join(
        released.with_columns(released=pl.lit(True)), on=[AGREEMENT_INDEX, "student_id"], how="left"
    ).with_columns(pl.col("released").fill_null(False))
    metrics = pl.DataFrame(wanted, schema=METRICS_SCHEMA, orient="row")
    cells = all_cells(covered.units, flagged, metrics)
    disclosed = disclose(cells.join(terms, on=AGREEMENT_INDEX, how="left", maintain_order="left"))
    return withhold_not_supplied(disclosed, covered.units.not_supplied)


def _individual_sources(prepared: Prepared, covered: Covered, *, restricted: bool) -> dict[str, pl.DataFrame]:
    """The frames the individual tables are made of, at the covered schools only
    (``restricted``: not every school is covered)."""
    in_covered = pl.col("school_id").is_in(covered.school_ids.implode())
    return {
        "enrollments": covered.enrolled,
        "students": prepared.students,
        "attendance": covered.units.units.filter(pl.col("school_id") != ALL_SCHOOLS).select(
            prepared.summaries.student_school.columns
        ),
        "discipline": prepared.discipline.filter(in_covered) if restricted else prepared.discipline,
        "grades": prepared.grades.filter(in_covered) if restricted else prepared.grades,
    }


def release_all(
    prepared: Prepared,
    agreements: Sequence[LoadedAgreement],
    secret: bytes,
    as_of: dt.date,
) -> list[PartnerRelease]:
    """Every agreement's release, in the order given; those covering the same schools are
    computed together (see the module docstring). The agreements must have passed
    :func:`check_agreement`."""
    groups: dict[frozenset[str] | None, dict[int, Agreement]] = {}
    for index, loaded in enumerate(agreements):
        groups.setdefault(covered_schools(loaded.agreement), {})[index] = loaded.agreement
    shared: dict[int, _Shared] = {}
    for schools, group in groups.items():
        result = _shared(prepared, schools, group, secret, as_of)
        shared.update(dict.fromkeys(group, result))

    releases = []
    for index, loaded in enumerate(agreements):
        part, agreement = shared[index], loaded.agreement
        tables: dict[str, pl.DataFrame] = {}
        if agreement.aggregate is not None:
            tables[AGGREGATE_TABLE] = part.aggregates[index]
        tables.update(part.individual.get(index, {}))
        releases.append(
            PartnerRelease(
                agreement=agreement,
                agreement_sha256=loaded.sha256,
                agreement_path=loaded.path,
                as_of=as_of,
                tables=tables,
                gates=part.gates[index],
                suppression=part.suppression.get(index, dict.fromkeys(REASONS, 0)),
                school_year=prepared.school_year,
            )
        )
    return releases


def compute_releases(
    tables: Mapping[str, pl.LazyFrame],
    school_year: SchoolYear,
    agreements: Sequence[LoadedAgreement],
    secret: bytes,
    as_of: dt.date,
) -> list[PartnerRelease]:
    """Every agreement's release from one pass over the extract, in the order given.

    Raises :class:`AgreementRefused` or :class:`ReleaseError` for the first agreement that
    may not be released; then nothing is returned for any agreement.
    """
    school_ids = set(tables["schools"].select("school_id").collect().get_column("school_id").to_list())
    for loaded in agreements:
        check_agreement(loaded, as_of, school_year=school_year.label, school_ids=school_ids)
    return release_all(prepare(tables, school_year), agreements, secret, as_of)
