"""Which agreements a run may release, decided as early as each check allows.

A run checks its agreements twice. :func:`refuse_before_extract` runs before the extract is
read: lint errors, a template, missing keys, an agreement not in force on ``as_of``, one
that releases nothing. It needs no student data, so a district hears about an expired
agreement in a second, not after validating 200,000 students. :func:`refuse_against_extract`
runs once the extract is valid: the agreement's school year and schools against the
extract's. Each names *every* refused agreement in one error, so one fix-and-rerun cycle
suffices.

:func:`partner_warnings` finds agreements whose partner has no service contact at all in
the extract (most often a misspelt ``partner_id``: ``El-Centro`` against ``el-centro``):
such an agreement releases nothing, which is legal but almost never meant. Partner ids are
codes, not student values, so the warning may show the near misses.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Sequence

from datashare.agreement.load import LoadedAgreement
from datashare.errors import AgreementRefused, DatashareError, ReleaseError


def _refused(problems: list[str]) -> AgreementRefused:
    count = f"{len(problems)} agreement(s) refused" if len(problems) > 1 else "agreement refused"
    return AgreementRefused(f"{count}; nothing was released:\n" + "\n".join(f"- {p}" for p in problems))


def _name(loaded: LoadedAgreement) -> str:
    agreement_id = loaded.agreement.id
    return f"{loaded.path}: agreement {agreement_id}" if agreement_id else f"{loaded.path}"


def _early_problems(loaded: LoadedAgreement, as_of: dt.date) -> list[str]:
    agreement = loaded.agreement
    where = _name(loaded)
    try:
        loaded.require_releasable()
    except AgreementRefused as exc:
        return [str(exc)]
    problems = []
    if missing := agreement.missing_for_release():
        problems.append(f"{where}: missing {', '.join(missing)}")
    elif not agreement.in_force(as_of):
        term = agreement.term
        assert term is not None  # missing_for_release checks it
        problems.append(
            f"{where}: not in force on {as_of.isoformat()} (term.effective "
            f"{term.effective.isoformat()}, term.expires {term.expires.isoformat()})"
        )
    if agreement.aggregate is None and agreement.individual is None:
        problems.append(f"{where}: neither aggregate nor individual: nothing to release")
    return problems


def refuse_before_extract(agreements: Sequence[LoadedAgreement], as_of: dt.date) -> None:
    """Raise one :class:`AgreementRefused` naming every agreement that may not be released
    on ``as_of`` for a reason the extract cannot change."""
    problems = [p for loaded in agreements for p in _early_problems(loaded, as_of)]
    if problems:
        raise _refused(problems)


def refuse_against_extract(
    agreements: Sequence[LoadedAgreement], as_of: dt.date, *, school_year: str, school_ids: set[str]
) -> None:
    """Raise one error naming every agreement that does not fit the extract (its school year,
    its schools), with the release's own checks (:func:`~datashare.release.compute.check_agreement`)."""
    from datashare.release.compute import check_agreement

    problems = []
    for loaded in agreements:
        try:
            check_agreement(loaded, as_of, school_year=school_year, school_ids=school_ids)
        except AgreementRefused as exc:
            problems.append(str(exc))
        except ReleaseError:
            raise  # the extract itself is at fault (a school id clashing with ALL), not the agreement
        except DatashareError as exc:  # pragma: no cover - any other refusal, still named
            problems.append(str(exc))
    if problems:
        raise _refused(problems)


def partner_warnings(agreements: Iterable[LoadedAgreement], contact_partner_ids: Iterable[str]) -> list[str]:
    """A warning for each agreement whose partner has no service contact in the school year
    (``contact_partner_ids``: the partners that do), naming any near miss among them (same
    letters in another case, or a close spelling)."""
    known = sorted({p for p in contact_partner_ids if p is not None})
    by_folded: dict[str, list[str]] = {}
    for partner_id in known:
        by_folded.setdefault(partner_id.strip().casefold(), []).append(partner_id)
    warnings = []
    for loaded in agreements:
        partner = loaded.agreement.partner
        if partner is None or partner.id in known:
            continue
        near = list(by_folded.get(partner.id.casefold(), []))
        near += [p for p in difflib.get_close_matches(partner.id, known, n=3, cutoff=0.6) if p not in near]
        hint = (
            f"; did you mean {', '.join(repr(p) for p in near)} in service_contacts.partner_id? "
            "Partner ids must match exactly"
            if near
            else "; check partner.id against service_contacts.partner_id"
        )
        warnings.append(
            f"{_name(loaded)}: partner {partner.id!r} has no service contacts in the extract's school year, so no "
            f"student counts as served and its package holds no served figure or individual record{hint}"
        )
    return warnings


__all__ = ["partner_warnings", "refuse_against_extract", "refuse_before_extract"]
