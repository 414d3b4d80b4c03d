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

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from datashare.agreement.fields import INDIVIDUAL_FIELDS
from datashare.agreement.load import LoadedAgreement
from datashare.agreement.model import METRICS, Agreement
from datashare.errors import AgreementRefused, ReleaseError
from datashare.release.consent import consented_all
from datashare.release.derive import Summaries, derive
from datashare.package.ledger import (
    GROUP_SCHEMA,
    RELEASED_SCHEMA,
    History,
    LedgerRelease,
    covered_id,
    ledger_key,
    student_codes,
)
from datashare.release.disclosure import OUTPUT_SCHEMA, REASONS, finish, reason_counts, suppress, suppress_more
from datashare.release.holdings import Audit, Source, published_groups_of, roster
from datashare.release.eligibility import (
    contact_counts,
    contacts_in_year,
    covered_enrolled,
    covered_students,
    rules,
    served_students,
)
from datashare.release.individual import check_fields, individual_tables, sources_needed
from datashare.release.keys import partner_key, student_keys
from datashare.release.metrics import (
    ALL_SCHOOLS,
    METRIC_SOURCES,
    METRICS_SCHEMA,
    CoveredUnits,
    all_cells,
    covered_units,
    withhold_not_supplied,
)
from datashare.release.types import (
    AGREEMENT_INDEX,
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
    rows of the school year. ``contacts`` holds the contact counts
    (:func:`~datashare.release.eligibility.contact_counts`) and ``consents`` the consents of
    every partner, or of ``partners`` only; ``contact_partners`` names every partner with a
    contact in the school year (for the warnings about a partner id that matches none).
    """

    school_year: str
    schools: pl.DataFrame
    summaries: Summaries
    contacts: pl.DataFrame
    consents: pl.DataFrame
    students: pl.DataFrame
    discipline: pl.DataFrame
    grades: pl.DataFrame
    contact_partners: tuple[str, ...] = ()
    partners: frozenset[str] | None = None
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
                units=covered_units(student_school, rows),
            )
        return self._covered[schools]


def _catalog_columns(frame: pl.LazyFrame, table: str, keep: Sequence[str]) -> pl.LazyFrame:
    names = frame.collect_schema().names()
    wanted = [*keep, *(name for name in INDIVIDUAL_FIELDS[table] if name in names and name not in keep)]
    return frame.select(wanted)


def prepare(
    tables: Mapping[str, pl.LazyFrame], school_year: SchoolYear, partners: Collection[str] | None = None
) -> Prepared:
    """Scan the extract once into the small frames every agreement's release is made of.

    ``partners``: the partners of the agreements to release, when they are known; their
    contacts and consents only are kept (a district may record contacts of far more
    partners than one run releases to). :func:`release_all` refuses an agreement of
    another partner.
    """
    label = school_year.label
    in_year = pl.col("incident_date").is_between(school_year.start, school_year.end)
    mine = frozenset(partners) if partners is not None else None
    consents = tables["consents"]
    if mine is not None:
        consents = consents.filter(pl.col("partner_id").is_in(sorted(mine)))
    contact_partners = contacts_in_year(tables["service_contacts"], school_year).select(pl.col("partner_id").unique())
    students, discipline, grades, consents, schools, *named = pl.collect_all(
        [
            _catalog_columns(tables["students"], "students", ["student_id", "birth_date"]),
            _catalog_columns(tables["discipline"].filter(in_year), "discipline", ["student_id", "school_id"]),
            _catalog_columns(
                tables["grades"].filter(pl.col("school_year") == label), "grades", ["student_id", "school_id"]
            ),
            consents,
            tables["schools"].select("school_id", "school_name"),
            *([contact_partners] if mine is not None else []),
        ]
    )
    contacts = contact_counts(tables["service_contacts"], school_year, mine)
    partner_ids = (named[0] if named else contacts).get_column("partner_id").drop_nulls().unique().sort()
    return Prepared(
        school_year=label,
        schools=schools.sort("school_id"),
        summaries=derive(tables, school_year),
        contacts=contacts,
        consents=consents,
        students=students,
        discipline=discipline,
        grades=grades,
        contact_partners=tuple(partner_ids.to_list()),
        partners=mine,
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


@dataclass
class _Group:
    """The agreements of a run covering one set of schools, through the stages."""

    schools: frozenset[str] | None
    order: list[int]  # position in the group -> index in the run
    agreements: list[Agreement]
    covered: Covered
    served: pl.DataFrame = field(default_factory=pl.DataFrame)  # agreement_index (run), student_id, eligible
    consent: pl.DataFrame = field(default_factory=pl.DataFrame)  # agreement_index (run), student_id
    candidates: pl.DataFrame = field(default_factory=pl.DataFrame)  # consented, with an individual section


def _keys(released: pl.DataFrame, agreements: Mapping[int, Agreement], secret: bytes) -> pl.DataFrame:
    """``agreement_index``, ``student_id`` and ``student_key`` of every released student,
    each under the key of the agreement's partner."""
    parts = split_by_agreement(released) if released.height else {}
    keyed = [
        student_keys(parts[index], partner_key(secret, agreements[index].partner.id)).with_columns(
            pl.lit(index, dtype=pl.UInt32).alias(AGREEMENT_INDEX)
        )
        for index in sorted(parts)
        if agreements[index].partner is not None
    ]
    schema = {"student_id": pl.String, "student_key": pl.String, AGREEMENT_INDEX: pl.UInt32}
    return pl.concat(keyed) if keyed else pl.DataFrame(schema=schema)


def _to_run(frame: pl.DataFrame, order: Sequence[int], *, back: bool = False) -> pl.DataFrame:
    """Replace positions in a group by indices in the run (``back``: the other way)."""
    positions = list(range(len(order)))
    old, new = (order, positions) if back else (positions, order)
    return frame.with_columns(pl.col(AGREEMENT_INDEX).replace_strict(old, new, return_dtype=pl.UInt32))


def _gates_of(group: _Group, prepared: Prepared, as_of: dt.date) -> None:
    """Eligibility and consent of every agreement of ``group`` (one join each)."""
    rule_rows = rules(group.agreements)
    served = served_students(prepared.contacts, rule_rows, group.covered.students)
    eligible = served.filter("eligible").select(AGREEMENT_INDEX, "student_id")
    asked = eligible.join(rule_rows.select(AGREEMENT_INDEX, "partner_id"), on=AGREEMENT_INDEX)
    agreed = consented_all(
        prepared.consents.join(asked.select("partner_id", "student_id"), on=["partner_id", "student_id"], how="semi"),
        prepared.students,
        group.agreements,
        as_of,
    )
    consent = eligible.join(agreed, on=[AGREEMENT_INDEX, "student_id"], how="semi")
    with_fields = [p for p, agreement in enumerate(group.agreements) if check_fields(agreement)]
    group.served = _to_run(served, group.order)
    group.consent = _to_run(consent, group.order)
    group.candidates = _to_run(consent.filter(pl.col(AGREEMENT_INDEX).is_in(with_fields)), group.order)


def code_table(student_ids: pl.Series, secret: bytes) -> pl.DataFrame:
    """``student_id`` and its ledger code ``student`` (keyed BLAKE2b, see
    :func:`~datashare.package.ledger.student_codes`), for every student of the extract."""
    return pl.DataFrame({"student_id": student_ids, "student": student_codes(student_ids, ledger_key(secret))})


def release_all(
    prepared: Prepared,
    agreements: Sequence[LoadedAgreement],
    secret: bytes,
    as_of: dt.date,
    *,
    history: History | None = None,
    extract_id: str = "current",
    codes: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[PartnerRelease]:
    """Every agreement's release, in the order given; those covering the same schools are
    computed together (see the module docstring), and every partner's figures and records
    are audited together with its earlier releases (``history``, from the ledger; see
    :mod:`~datashare.release.holdings`). The agreements must have passed
    :func:`check_agreement`. ``codes``: :func:`code_table` of the extract's students, when
    the caller computed it already (it is a Python loop over every student, which a run
    overlaps with :func:`prepare`'s queries). ``progress`` is told each step as it starts
    (a run prints each with its time, so an operator sees where a long run spends it)."""
    say = progress or (lambda _message: None)
    history = history or History()
    by_index = {index: loaded.agreement for index, loaded in enumerate(agreements)}
    if prepared.partners is not None:
        # Fail closed: another partner's contacts and consents were not kept, so its
        # agreement would find nobody served and nobody consented.
        for agreement in by_index.values():
            if agreement.partner is not None and agreement.partner.id not in prepared.partners:
                raise ReleaseError(
                    f"agreement {agreement.id}: partner {agreement.partner.id!r} was not among the partners the "
                    "extract was prepared for; prepare it for every partner of the agreements released"
                )
    grouped: dict[frozenset[str] | None, list[int]] = {}
    for index, agreement in by_index.items():
        grouped.setdefault(covered_schools(agreement), []).append(index)
    groups = [
        _Group(schools, order, [by_index[i] for i in order], prepared.covered(schools))
        for schools, order in grouped.items()
    ]
    say(f"eligibility and consent of {len(by_index)} agreement(s)")
    for group in groups:
        _gates_of(group, prepared, as_of)

    # Student codes and rosters for the ledger and the holdings audit.
    if codes is None:
        codes = code_table(prepared.students.get_column("student_id"), secret)
    rosters = {covered_id(g.schools): roster(g.covered.units.units, codes, covered_id(g.schools)) for g in groups}
    audit = Audit(history, extract_id, rosters)
    index_group = {index: group for group in groups for index in group.order}

    # Step 1: withhold records that would expose an earlier release's figures.
    say("withholding records that would expose an earlier release")
    served_all = pl.concat([g.served for g in groups])
    eligible_all = served_all.filter("eligible").select(AGREEMENT_INDEX, "student_id").join(codes, on="student_id")
    candidates_all = pl.concat([g.candidates for g in groups]).join(codes, on="student_id")
    ledger_now = {
        index: _ledger_stub(by_index[index], agreements[index].sha256, as_of, extract_id, covered_id(index_group[index].schools))
        for index in by_index
    }
    withheld_all: dict[str, set[int]] = {}
    earlier_by_partner: dict[str, list[LedgerRelease]] = {}
    old_sources: dict[str, list[Source]] = {}
    for partner in sorted({a.partner.id for a in by_index.values() if a.partner is not None}):
        mine = [i for i, a in by_index.items() if a.partner is not None and a.partner.id == partner]
        earlier = audit.earlier(partner, [ledger_now[i] for i in mine])
        for index in mine:
            Audit.check_order(earlier, by_index[index].id or "", as_of)
        earlier_by_partner[partner] = earlier
        known_before = _known(earlier)
        candidates = candidates_all.filter(pl.col(AGREEMENT_INDEX).is_in(mine)).get_column("student").unique()
        old_sources[partner] = _old_sources(earlier)
        withheld_all[partner] = set(audit.withhold(old_sources[partner], known_before, candidates).to_list())

    withheld_frame = pl.DataFrame(
        [(i, code) for i, a in by_index.items() if a.partner is not None for code in withheld_all.get(a.partner.id, ())],
        schema={AGREEMENT_INDEX: pl.UInt32, "student": pl.Int64},
        orient="row",
    )
    released_all = candidates_all.join(withheld_frame, on=[AGREEMENT_INDEX, "student"], how="anti")
    withheld_rows = candidates_all.join(withheld_frame, on=[AGREEMENT_INDEX, "student"], how="semi")
    # Each agreement's rows, split once (zero-copy slices) for the audit and the ledger records.
    released_by, eligible_by = _Split(released_all), _Split(eligible_all)
    covered = {index: stub.covered_id for index, stub in ledger_now.items()}

    # The keys are an HMAC per released student in Python: computed in a thread of their
    # own while the polars queries below (which release the GIL) run.
    keys_pool = ThreadPoolExecutor(max_workers=1)
    keys_future = keys_pool.submit(
        _keys, released_all.select(AGREEMENT_INDEX, "student_id").sort(AGREEMENT_INDEX), by_index, secret
    )
    keys_pool.shutdown(wait=False)

    # Step 2: the comparison cells of every group, the table's own suppression, then the
    # holdings audit per partner, suppressing more until nothing small is derivable.
    say("comparison cells and small-cell suppression")
    tables = [
        _cells(group, eligible_all.drop("student"), released_all.select(AGREEMENT_INDEX, "student_id"))
        for group in groups
    ]
    tables = [t for t in tables if t.width]
    missing = sorted(m for m, source in METRIC_SOURCES.items() if source in prepared.summaries.not_supplied)

    def supplied(frame: pl.DataFrame) -> pl.DataFrame:
        """Figures of metrics whose table was supplied: the others are never published."""
        return frame.filter(~pl.col("metric").is_in(missing)) if missing and frame.height else frame

    def audited(parts: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
        """Each partner's rows of the table, suppressed more until its holdings audit finds
        nothing small. Suppression is per agreement and metric, so each partner's rows are
        audited apart from every other partner's; the partners still finding something are
        audited together, round by round, in one set of queries (a query per partner and
        metric would spend its time starting queries: 1,200 of them for 200 agreements)."""
        mine = {
            partner: [i for i, a in by_index.items() if a.partner is not None and a.partner.id == partner]
            for partner in parts
        }
        known = {
            partner: pl.concat(
                [_known(earlier_by_partner[partner]), *(released_by[i].get_column("student") for i in mine[partner])]
            ).unique()
            for partner in parts
        }
        out = dict(parts)
        pending = sorted(parts)
        for _round in range(MAX_ROUNDS):
            if not pending:
                break
            published = published_groups_of(supplied(pl.concat([out[p] for p in pending])), covered)
            sources = {
                partner: [
                    *old_sources[partner],
                    *(
                        _new_source(
                            index, by_index[index], extract_id, covered[index],
                            eligible_by[index].get_column("student"), published.get(index),
                        )
                        for index in mine[partner]
                        if by_index[index].aggregate is not None
                    ),
                ]
                for partner in pending
            }
            findings = audit.audit_many([(sources[p], known[p]) for p in pending], new_only=True)
            targets = {p: Audit.targets(f, sources[p], out[p]) for p, f in zip(pending, findings, strict=True)}
            pending = [p for p in pending if targets[p].height]
            if pending:
                # Suppression and its secondary rounds are per agreement and metric: one call for all.
                more = suppress_more(pl.concat([out[p] for p in pending]), pl.concat([targets[p] for p in pending]))
                split = _Split(more, keep=True)
                out.update({p: pl.concat([split[i] for i in mine[p]]) for p in pending})
        return out

    table = pl.concat(tables) if tables else pl.DataFrame()
    if table.height:
        table = table.with_row_index(_ROW)
        owner = {i: a.partner.id for i, a in by_index.items() if a.partner is not None}
        parts: dict[str, list[pl.DataFrame]] = {}
        others: list[pl.DataFrame] = []
        for (index,), rows in table.partition_by(AGREEMENT_INDEX, as_dict=True).items():
            partner = owner.get(int(index))  # type: ignore[call-overload]
            (parts.setdefault(partner, []) if partner in earlier_by_partner else others).append(rows)
        say(f"holdings audit of {len(parts)} partner(s)")
        done = audited({p: pl.concat(parts[p]) for p in sorted(parts)})
        table = pl.concat([*done.values(), *others]).sort(_ROW).drop(_ROW)

    final = finish(table) if table.height else table
    # A metric drawn from a table supplied header-only is withheld, never published as zero.
    final = withhold_not_supplied(final, prepared.summaries.not_supplied) if final.height else final
    aggregates = split_by_agreement(final.select(AGREEMENT_INDEX, *OUTPUT_SCHEMA)) if final.height else {}
    suppression = reason_counts(final) if final.height else {}

    published = supplied(table) if table.height else table

    # Step 3: the individual tables of the released students.
    say("pseudonyms and individual tables")
    keys = keys_future.result()
    individual: dict[int, dict[str, pl.DataFrame]] = {}
    for group in groups:
        needed = sources_needed(group.agreements)
        if not needed:
            continue
        frames = _individual_sources(prepared, group.covered, restricted=group.schools is not None)
        mine_keys = _to_run(keys.filter(pl.col(AGREEMENT_INDEX).is_in(group.order)), group.order, back=True)
        built = individual_tables(group.agreements, mine_keys, {name: frames[name] for name in needed})
        individual.update({group.order[p]: part for p, part in built.items()})

    # Each agreement's rows of every frame, split once (zero-copy slices), not filtered per agreement.
    say("gates and ledger records of each agreement")
    served_by, consent_by, candidates_by = (
        _Split(pl.concat([getattr(g, name) for g in groups])) for name in ("served", "consent", "candidates")
    )
    keys_by, withheld_by = _Split(keys), _Split(withheld_rows)
    groups_by = published_groups_of(published, covered)
    releases = []
    for index, loaded in enumerate(agreements):
        agreement, group = loaded.agreement, index_group[index]
        out_tables: dict[str, pl.DataFrame] = {}
        if agreement.aggregate is not None:
            out_tables[AGGREGATE_TABLE] = aggregates.get(index, pl.DataFrame(schema=OUTPUT_SCHEMA))
        out_tables.update(individual.get(index, {}))
        partner = agreement.partner.id if agreement.partner is not None else ""
        mine_released, mine_keys, eligible, withheld = (
            split[index] for split in (released_by, keys_by, eligible_by, withheld_by)
        )
        served = served_by[index]
        gates = {
            "enrolled": group.covered.students.len(),
            "with_contacts": served.height,
            "eligible": int(served.get_column("eligible").sum()) if served.height else 0,
            "consented": consent_by[index].height,
            "withheld": withheld.height,
            "released": candidates_by[index].height - withheld.height,
        }
        record = _ledger_record(
            ledger_now[index],
            agreement,
            groups_by.get(index),
            eligible.get_column("student"),
            mine_released.select("student_id", "student").join(mine_keys.select("student_id", "student_key"), on="student_id"),
        )
        withdrawn = _withdrawn(
            earlier_by_partner.get(partner, []), agreement, as_of, record, codes, eligible, withheld, prepared
        )
        releases.append(
            PartnerRelease(
                agreement=agreement,
                agreement_sha256=loaded.sha256,
                agreement_path=loaded.path,
                as_of=as_of,
                tables=out_tables,
                gates=gates,
                suppression=suppression.get(index, dict.fromkeys(REASONS, 0)),
                school_year=prepared.school_year,
                withdrawn=withdrawn,
                ledger=record,
                roster=rosters[record.covered_id],
            )
        )
    return releases


MAX_ROUNDS = 10_000
"""A bound on the audit's suppression rounds (each suppresses at least one figure)."""
_ROW = "_row"


def _cells(group: _Group, eligible: pl.DataFrame, released: pl.DataFrame) -> pl.DataFrame:
    """The table-level suppression (:func:`~datashare.release.disclosure.suppress`) of every
    agreement of ``group`` with an ``aggregate`` section, keyed by run index."""
    wanted = [
        (index, name)
        for index, agreement in zip(group.order, group.agreements, strict=True)
        if agreement.aggregate is not None
        for name in METRICS
        if name in agreement.aggregate.metrics
    ]
    terms = pl.DataFrame(
        [
            (index, agreement.aggregate.min_cell_size, agreement.individual is not None)
            for index, agreement in zip(group.order, group.agreements, strict=True)
            if agreement.aggregate is not None
        ],
        schema={AGREEMENT_INDEX: pl.UInt32, "min_cell_size": pl.Int64, "differencing": pl.Boolean},
        orient="row",
    )
    if terms.height == 0:
        return pl.DataFrame()
    mine = pl.col(AGREEMENT_INDEX).is_in(terms.get_column(AGREEMENT_INDEX).implode())
    flagged = (
        eligible.filter(mine)
        .join(released.with_columns(released=pl.lit(True)), on=[AGREEMENT_INDEX, "student_id"], how="left")
        .with_columns(pl.col("released").fill_null(False))
    )
    metrics = pl.DataFrame(wanted, schema=METRICS_SCHEMA, orient="row")
    cells = all_cells(group.covered.units, flagged, metrics)
    return suppress(cells.join(terms, on=AGREEMENT_INDEX, how="left", maintain_order="left"))


class _Split(dict[int, pl.DataFrame]):
    """Each agreement's rows of a frame, without ``agreement_index`` (with it: ``keep``); an
    agreement with no row gets an empty frame of the same columns."""

    def __init__(self, frame: pl.DataFrame, *, keep: bool = False) -> None:
        super().__init__(split_by_agreement(frame, keep=keep) if frame.height else {})
        self.empty = frame.clear() if keep else frame.clear().drop(AGREEMENT_INDEX)

    def __missing__(self, index: int) -> pl.DataFrame:
        return self.empty



def _known(earlier: Sequence[LedgerRelease]) -> pl.Series:
    """Every student whose records the partner received in ``earlier``."""
    parts = [release.released.get_column("student") for release in earlier]
    return pl.concat(parts).unique() if parts else pl.Series("student", [], dtype=pl.Int64)


def _old_sources(earlier: Sequence[LedgerRelease]) -> list[Source]:
    """The earlier releases as sources, those that served the same students from the same
    extract and schools taken as one (their groups together): a year of releases of one
    agreement is then a handful of sources, not one per release."""
    merged: dict[tuple[object, ...], list[LedgerRelease]] = {}
    for release in earlier:
        # The served set itself, not a hash of it: two different sets must never merge.
        served = tuple(release.served.unique().sort().to_list())
        key = (release.extract_id, release.covered_id, release.min_cell_size, served)
        merged.setdefault(key, []).append(release)
    sources = []
    for position, group in enumerate(merged.values()):
        source = _old_source(position, group[0])
        if len(group) > 1:
            source.groups = pl.concat([r.groups.select("unit", "metric", "side", "status") for r in group]).unique(
                maintain_order=True
            )
        sources.append(source)
    return sources


def _old_source(position: int, release: LedgerRelease) -> Source:
    return Source(
        new=False,
        index=position,
        extract_id=release.extract_id,
        covered_id=release.covered_id,
        min_cell_size=release.min_cell_size,
        eligible=release.served,
        groups=release.groups.select("unit", "metric", "side", "status"),
    )


def _new_source(
    index: int, agreement: Agreement, extract: str, cid: str, eligible: pl.Series, groups: pl.DataFrame | None
) -> Source:
    """An agreement of this run as a source: ``eligible``, the students it serves (codes), and
    ``groups``, its :func:`~.holdings.published_groups_of` as they would be published (none: nothing)."""
    assert agreement.aggregate is not None
    source = Source(
        new=True,
        index=index,
        extract_id=extract,
        covered_id=cid,
        min_cell_size=agreement.aggregate.min_cell_size,
        eligible=eligible,
    )
    if groups is not None:
        source.groups = groups.select("unit", "metric", "side", "status")
    return source


def _ledger_stub(agreement: Agreement, sha256: str, as_of: dt.date, extract: str, cid: str) -> LedgerRelease:
    empty = pl.DataFrame(schema=GROUP_SCHEMA)
    return LedgerRelease(
        partner_id=agreement.partner.id if agreement.partner else "",
        agreement_id=agreement.id or "",
        version=agreement.version,
        agreement_sha256=sha256,
        as_of=as_of,
        extract_id=extract,
        covered_id=cid,
        min_cell_size=agreement.aggregate.min_cell_size if agreement.aggregate else 0,
        groups=empty,
        served=pl.Series("student", [], dtype=pl.Int64),
        released=pl.DataFrame(schema=RELEASED_SCHEMA),
    )


def _ledger_record(
    stub: LedgerRelease, agreement: Agreement, groups: pl.DataFrame | None, served: pl.Series, released: pl.DataFrame
) -> LedgerRelease:
    """The ledger record of one release: ``groups``, its :func:`~.holdings.published_groups_of` (none:
    nothing published), the students it served and those whose records it releases."""
    return dataclasses.replace(
        stub,
        groups=groups if agreement.aggregate is not None and groups is not None else pl.DataFrame(schema=GROUP_SCHEMA),
        served=served.unique().sort(),
        released=released.select("student", "student_key").unique().sort("student"),
    )


def _withdrawn(
    earlier: Sequence[LedgerRelease],
    agreement: Agreement,
    as_of: dt.date,
    record: LedgerRelease,
    codes: pl.DataFrame,
    eligible: pl.DataFrame,
    withheld: pl.DataFrame,
    prepared: Prepared,
) -> pl.DataFrame:
    """``student_key`` and ``reason`` of the students this agreement released before and
    does not release now (CONTRACT section 3, "Withdrawn students")."""
    before = [r.released for r in earlier if r.agreement_id == agreement.id]
    if not before:
        return pl.DataFrame(schema=WITHDRAWN_SCHEMA)
    gone = (
        pl.concat(before)
        .unique(subset="student", keep="last")
        .join(record.released.select("student"), on="student", how="anti")
        .join(codes, on="student", how="left")
    )
    if gone.height == 0:
        return pl.DataFrame(schema=WITHDRAWN_SCHEMA)
    revoked = pl.DataFrame(schema={"student_id": pl.String})
    invalid = pl.DataFrame(schema={"student_id": pl.String})
    if agreement.individual is not None and agreement.partner is not None:
        rows = prepared.consents.filter(
            (pl.col("partner_id") == agreement.partner.id) & (pl.col("scope") == agreement.individual.consent_scope)
        )
        revoked = rows.filter(pl.col("revoked_on").is_not_null() & (pl.col("revoked_on") <= as_of)).select("student_id")
        valid_any = agreement.model_copy(
            update={"individual": agreement.individual.model_copy(update={"adult_student_consent": "any"})}
        )
        anyone = consented_all(rows, prepared.students, [valid_any], as_of).select("student_id")
        invalid = anyone
    is_in = lambda frame: pl.col("student_id").is_in(frame.get_column("student_id").implode())  # noqa: E731
    reason = (
        pl.when(pl.col("student_id").is_in(withheld.get_column("student_id").implode()))
        .then(pl.lit("withheld"))
        .when(pl.col("student_id").is_null() | ~pl.col("student_id").is_in(eligible.get_column("student_id").implode()))
        .then(pl.lit("not_eligible"))
        .when(is_in(invalid))
        .then(pl.lit("consent_invalid"))
        .when(is_in(revoked))
        .then(pl.lit("consent_revoked"))
        .otherwise(pl.lit("consent_expired"))
    )
    return gone.select("student_key", reason=reason).sort("student_key")


WITHDRAWN_SCHEMA = {"student_key": pl.String, "reason": pl.String}
"""Columns of ``withdrawn.csv`` (CONTRACT sections 3 and 5)."""


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


def compute_releases(
    tables: Mapping[str, pl.LazyFrame],
    school_year: SchoolYear,
    agreements: Sequence[LoadedAgreement],
    secret: bytes,
    as_of: dt.date,
    *,
    history: History | None = None,
    extract_id: str = "current",
) -> list[PartnerRelease]:
    """Every agreement's release from one pass over the extract, in the order given.

    Raises :class:`AgreementRefused` or :class:`ReleaseError` for the first agreement that
    may not be released; then nothing is returned for any agreement.
    """
    school_ids = set(tables["schools"].select("school_id").collect().get_column("school_id").to_list())
    for loaded in agreements:
        check_agreement(loaded, as_of, school_year=school_year.label, school_ids=school_ids)
    return release_all(
        prepare(tables, school_year), agreements, secret, as_of, history=history, extract_id=extract_id
    )
