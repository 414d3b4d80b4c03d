"""From typed tables and loaded agreements to one :class:`PartnerRelease` per agreement.

The extract is summarised once (:func:`prepare`: one pass over attendance, one
``group_by`` of all partners' contacts, the small tables collected once); each agreement
is then a handful of joins on those small frames (:func:`release_partner`). Adding
partners adds no pass over the extract, and no pass over the district's students either:
what depends only on the covered schools is built once per set of schools
(:meth:`Prepared.covered`), and an agreement reads only its partner's contacts and
consents and its own students' rows, by binary search on sorted frames.

Every agreement is checked before anything is computed, and any failure refuses the whole
run (fail closed): lint errors, a template, an agreement not in force on ``as_of``, a
school year other than the extract's, an unknown covered school, an individual field
outside the catalog.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from datashare.agreement.fields import INDIVIDUAL_FIELDS
from datashare.agreement.load import LoadedAgreement
from datashare.agreement.model import METRICS, Agreement
from datashare.errors import AgreementRefused, ReleaseError
from datashare.release.consent import consented
from datashare.release.derive import Summaries, derive
from datashare.release.disclosure import REASONS, apply_disclosure_control
from datashare.release.eligibility import (
    contact_counts,
    covered_enrolled,
    covered_students,
    partner_eligibility,
)
from datashare.release.individual import check_fields, individual_tables
from datashare.release.keys import partner_key, student_keys
from datashare.release.metrics import (
    ALL_SCHOOLS,
    CoveredUnits,
    comparison_cells,
    covered_units,
    students_rows,
)
from datashare.release.types import PartnerRelease
from datashare.schoolyear import SchoolYear

AGGREGATE_TABLE = "aggregate_comparison"


@dataclass(frozen=True)
class Covered:
    """What every agreement covering one set of schools shares, built once per run.

    ``school_ids``: the covered school ids; ``enrolled``: their distinct (school_id,
    student_id) pairs sorted by ``student_id``; ``students``: the distinct enrolled
    ``student_id``, sorted; ``units``: the comparison base of :mod:`metrics`.
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
    rows of the school year; they are sorted by ``student_id`` so that an agreement reads
    only its own students' rows. ``contacts`` and ``consents`` are sorted by
    ``partner_id`` so that an agreement reads only its partner's rows.
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
                enrolled=enrolled.sort("student_id", "school_id"),
                students=covered_students(enrolled, None),
                units=covered_units(student_school, rows),
            )
        return self._covered[schools]

    def partner_rows(self, table: str, partner_id: str) -> pl.DataFrame:
        """The ``contacts`` or ``consents`` rows of one partner, sliced without a scan."""
        frame: pl.DataFrame = getattr(self, table)
        column = frame.get_column("partner_id")
        key = pl.Series([partner_id], dtype=pl.String)
        lo = column.search_sorted(key, side="left").item()
        hi = column.search_sorted(key, side="right").item()
        return frame.slice(lo, hi - lo)


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
            _catalog_columns(tables["students"], "students", ["student_id", "birth_date"]).sort("student_id"),
            _catalog_columns(tables["discipline"].filter(in_year), "discipline", ["student_id", "school_id"])
            .sort("student_id", maintain_order=True),
            _catalog_columns(
                tables["grades"].filter(pl.col("school_year") == label), "grades", ["student_id", "school_id"]
            ).sort("student_id", maintain_order=True),
            tables["consents"].sort("partner_id", maintain_order=True),
            tables["schools"].select("school_id", "school_name"),
        ]
    )
    return Prepared(
        school_year=label,
        schools=schools.sort("school_id"),
        summaries=derive(tables, school_year),
        contacts=contact_counts(tables["service_contacts"], school_year).sort("partner_id", maintain_order=True),
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
    agreement = loaded.agreement
    assert agreement.partner is not None
    partner = agreement.partner.id
    covered = prepared.covered(covered_schools(agreement))

    served = partner_eligibility(prepared.partner_rows("contacts", partner), agreement, covered.students)
    eligible_ids = served.eligible.get_column("student_id")
    agreed = consented(
        prepared.partner_rows("consents", partner).filter(pl.col("student_id").is_in(eligible_ids.implode())),
        students_rows(prepared.students, eligible_ids),
        agreement,
        as_of,
    )
    consented_eligible = served.eligible.join(agreed, on="student_id", how="semi")
    fields = check_fields(agreement)
    released = consented_eligible if fields else consented_eligible.clear()

    tables: dict[str, pl.DataFrame] = {}
    suppression = dict.fromkeys(REASONS, 0)
    if agreement.aggregate is not None:
        metrics = [name for name in METRICS if name in agreement.aggregate.metrics]
        cells = comparison_cells(covered.units, served.eligible, released, metrics)
        tables[AGGREGATE_TABLE], suppression = apply_disclosure_control(
            cells, agreement.aggregate.min_cell_size, differencing=agreement.individual is not None
        )
    if fields:
        keys = student_keys(released, partner_key(secret, agreement.partner.id))
        ids = released.get_column("student_id")
        at_covered = pl.col("school_id").is_in(covered.school_ids.implode())
        sources = {
            "enrollments": students_rows(covered.enrolled, ids),
            "students": students_rows(prepared.students, ids),
            "attendance": students_rows(covered.units.units, ids)
            .filter(pl.col("school_id") != ALL_SCHOOLS)
            .select(prepared.summaries.student_school.columns),
            "discipline": students_rows(prepared.discipline, ids).filter(at_covered),
            "grades": students_rows(prepared.grades, ids).filter(at_covered),
        }
        tables.update(individual_tables(agreement, keys, sources))

    gates = {
        "enrolled": covered.students.len(),
        "with_contacts": served.with_contacts.height,
        "eligible": served.eligible.height,
        "consented": consented_eligible.height,
        "released": released.height,
    }
    return PartnerRelease(
        agreement=agreement,
        agreement_sha256=loaded.sha256,
        agreement_path=loaded.path,
        as_of=as_of,
        tables=tables,
        gates=gates,
        suppression=suppression,
        school_year=prepared.school_year,
    )


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
    prepared = prepare(tables, school_year)
    # Build each shared base once, before the fan-out, so threads only read it.
    for schools in dict.fromkeys(covered_schools(loaded.agreement) for loaded in agreements):
        prepared.covered(schools)
    if len(agreements) < 4:
        return [release_partner(prepared, loaded, secret, as_of) for loaded in agreements]
    # Each agreement is many small polars queries, which release the GIL: two workers keep
    # both cores busy. Results come back in the order given; each is computed alone.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda loaded: release_partner(prepared, loaded, secret, as_of), agreements))
