"""Compare two versions of an agreement and flag what needs re-review.

Every difference between the resolved agreements is listed with its YAML path. A change
*widens* when the new version releases more, to more people, for longer, or with a weaker
protection: a new field, table or metric, a field moved from the aggregate comparison to
individual records, a lower ``min_cell_size`` or ``min_contacts``, counting contact
records instead of distinct days, an earlier start or later end of the term, a later
``destroy_by``, a new individual section (a new consent gate to rely on), a changed consent
scope, adult students' consent relaxed to ``any``, more schools, a different partner,
district or school year, and encryption removed or a new recipient added. The CLI exits 1
when any change widens, so a district can gate its pipeline on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datashare.agreement import fields as catalog
from datashare.agreement.load import LoadedAgreement, load_agreement
from datashare.agreement.model import Agreement


@dataclass(frozen=True)
class Change:
    """One difference: the YAML path, the old and new values, and whether it widens."""

    path: str
    old: Any
    new: Any
    widens: bool
    reason: str


@dataclass(frozen=True)
class AgreementDiff:
    """Every change from an old to a new version of an agreement."""

    changes: tuple[Change, ...]

    @property
    def widens(self) -> bool:
        """Whether any change widens a release or weakens a protection (needs re-review)."""
        return any(change.widens for change in self.changes)


def _model(value: LoadedAgreement | Agreement | str | Path) -> Agreement:
    if isinstance(value, LoadedAgreement):
        return value.agreement
    if isinstance(value, Agreement):
        return value
    return load_agreement(value).agreement


def _set_change(out: list[Change], path: str, old: tuple, new: tuple, what: str, moved: set[str] = frozenset()) -> None:
    for item in new:
        if item not in old:
            reason = (f"{item} moved from the aggregate comparison to individual records" if item in moved
                      else f"new {what} {item} released")
            out.append(Change(path, None, item, True, reason))
    for item in old:
        if item not in new:
            out.append(Change(path, item, None, False, f"{what} {item} no longer released"))


def diff(old: LoadedAgreement | Agreement | str | Path, new: LoadedAgreement | Agreement | str | Path) -> AgreementDiff:
    """Every change from ``old`` to ``new``, each marked as widening or not."""
    a, b = _model(old), _model(new)
    out: list[Change] = []

    def scalar(path: str, x: Any, y: Any, widens: bool, reason: str) -> None:
        if x != y:
            out.append(Change(path, x, y, widens, reason))

    for key in ("datashare", "id", "version", "title", "purpose", "legal_basis"):
        x, y = getattr(a, key), getattr(b, key)
        scalar(key, x, y, False, f"{key} changed" if key != "purpose" else "purpose reworded: read it again")
    for key in ("district", "partner"):
        scalar(key, getattr(a, key), getattr(b, key),
               getattr(a, key) is not None and getattr(a, key) != getattr(b, key)
               and (getattr(b, key) is None or getattr(a, key).id != getattr(b, key).id),
               f"the {key} changed: a different party receives or gives the data")
    scalar("school_year", a.school_year, b.school_year, a.school_year is not None,
           "a different school year's records are released")

    # term and retention: longer is wider.
    if a.term != b.term:
        if a.term is None or b.term is None:
            scalar("term", a.term, b.term, b.term is None, "term removed" if b.term is None else "term added")
        else:
            scalar("term.effective", a.term.effective, b.term.effective, b.term.effective < a.term.effective,
                   "the term starts earlier" if b.term.effective < a.term.effective else "the term starts later")
            scalar("term.expires", a.term.expires, b.term.expires, b.term.expires > a.term.expires,
                   "the term ends later (a longer term)" if b.term.expires > a.term.expires else "the term ends earlier")
    old_destroy = a.retention.destroy_by if a.retention else None
    new_destroy = b.retention.destroy_by if b.retention else None
    if old_destroy != new_destroy:
        widens = new_destroy is None or (old_destroy is not None and new_destroy > old_destroy)
        scalar("retention.destroy_by", old_destroy, new_destroy, widens,
               "the partner keeps the data longer" if widens else "the partner destroys the data sooner")

    # schools
    if a.schools != b.schools:
        if b.schools == "all":
            out.append(Change("schools", a.schools, "all", True, "every school is now covered"))
        elif a.schools == "all":
            out.append(Change("schools", "all", b.schools, False, "fewer schools are covered"))
        else:
            _set_change(out, "schools", a.schools, b.schools, "school")

    # eligibility
    scalar("eligibility.min_contacts", a.eligibility.min_contacts, b.eligibility.min_contacts,
           b.eligibility.min_contacts < a.eligibility.min_contacts,
           "fewer contacts make a student eligible" if b.eligibility.min_contacts < a.eligibility.min_contacts
           else "more contacts are needed to be eligible")
    scalar("eligibility.count", a.eligibility.count, b.eligibility.count, b.eligibility.count == "records",
           "counting every contact record makes more students eligible than counting distinct days"
           if b.eligibility.count == "records" else "counting distinct days makes fewer students eligible")

    # aggregate
    old_metrics = a.aggregate.metrics if a.aggregate else ()
    new_metrics = b.aggregate.metrics if b.aggregate else ()
    if (a.aggregate is None) != (b.aggregate is None):
        out.append(Change("aggregate", a.aggregate is not None, b.aggregate is not None, b.aggregate is not None,
                          "aggregate comparison added" if b.aggregate else "aggregate comparison removed"))
    _set_change(out, "aggregate.metrics", old_metrics, new_metrics, "metric")
    if a.aggregate and b.aggregate:
        x, y = a.aggregate.min_cell_size, b.aggregate.min_cell_size
        scalar("aggregate.min_cell_size", x, y, y < x,
               "smaller cells are published" if y < x else "larger cells are required")

    # individual
    ai, bi = a.individual, b.individual
    if (ai is None) != (bi is None):
        out.append(Change("individual", ai is not None, bi is not None, bi is not None,
                          "individual records added (released on consent)" if bi else "individual records removed"))
    if ai and bi:
        scalar("individual.consent_scope", ai.consent_scope, bi.consent_scope, True,
               "a different consent scope decides who is released")
        scalar("individual.adult_student_consent", ai.adult_student_consent, bi.adult_student_consent,
               bi.adult_student_consent == "any",
               "a parent's consent now counts for students 18 or older" if bi.adult_student_consent == "any"
               else "students 18 or older must consent themselves")
    old_tables = ai.fields.tables() if ai else {}
    new_tables = bi.fields.tables() if bi else {}
    removed_sources = {
        source.split(".")[0]
        for metric in set(old_metrics) - set(new_metrics)
        for source in catalog.METRICS[metric].sources
    }
    for table in catalog.TABLES:
        old_fields, new_fields = old_tables.get(table), new_tables.get(table)
        if old_fields is None and new_fields is not None and ai is not None:
            out.append(Change(f"individual.fields.{table}", None, list(new_fields), True,
                              f"new individual table {table}"))
        moved = set(new_fields or ()) if table in removed_sources else set()
        _set_change(out, f"individual.fields.{table}", old_fields or (), new_fields or (), f"{table} field", moved)

    # delivery
    old_keys = a.delivery.age_recipients if a.delivery else ()
    new_keys = b.delivery.age_recipients if b.delivery else ()
    if old_keys and not new_keys:
        out.append(Change("delivery.age_recipients", list(old_keys), [], True,
                          "the package is no longer encrypted to the partner"))
    elif old_keys != new_keys:
        for key in new_keys:
            if key not in old_keys:
                out.append(Change("delivery.age_recipients", None, key, bool(old_keys),
                                  "a new key can decrypt the package" if old_keys else "the package is now encrypted"))
        for key in old_keys:
            if key not in new_keys:
                out.append(Change("delivery.age_recipients", key, None, False, "a key can no longer decrypt"))
    return AgreementDiff(tuple(out))
