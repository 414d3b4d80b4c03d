"""Compliance lint: the hard rules of an agreement (errors) and what a reviewer should see.

Errors are the rules of CONTRACT section 2: an agreement with one is refused by every
command that releases. Warnings never change an exit status; they are what a privacy
officer should look at twice. Every finding has a stable ``code``, the YAML path of the key
at fault, the file and line that set it (``line`` is ``None`` when the key is absent), and
a message that says what to change.

A *template* (a file in a ``templates/`` folder, or one without a ``partner``) is linted
as a template: the parties, dates, purpose and retention an agreement fills in may be
absent.

Codes, errors: ``direct_identifier``, ``unknown_field``, ``duplicate_entry``,
``min_cell_size_too_small``, ``term_order``, ``missing_retention``, ``missing_key``,
``age_recipient``. Warnings: ``min_cell_size_low``, ``min_contacts_low``, ``long_term``,
``long_retention``, ``destroy_before_expiry``, ``school_year_mismatch``,
``special_indicator``, ``short_purpose``, ``adult_consent_any``, ``no_legal_basis``,
``nothing_released``, ``no_schools``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from datashare.agreement import fields as catalog
from datashare.schoolyear import SchoolYear

if TYPE_CHECKING:
    from datashare.agreement.load import LoadedAgreement

MIN_CELL_SIZE_FLOOR = 5
"""Below this ``min_cell_size`` an agreement is refused."""
MIN_CELL_SIZE_REVIEW = 10
"""Below this ``min_cell_size`` a reviewer is warned."""
MIN_CONTACTS_REVIEW = 9
"""The nine-contact rule: fewer contacts is flagged for review."""
MAX_TERM_MONTHS = 15
"""A school year plus a summer."""
MAX_RETENTION_MONTHS = 12
"""How long after the term a partner may keep data before a warning."""
MIN_PURPOSE_WORDS = 6
"""A purpose shorter than this is not yet a sentence a partner can be held to."""


@dataclass(frozen=True)
class LintFinding:
    """One lint finding. ``file`` and ``line`` say where the key was set (template or file)."""

    code: str
    severity: Literal["error", "warning"]
    path: str
    line: int | None
    message: str
    file: Path | None = None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (clamped to the month's last day, and to
    :data:`datetime.date.max` past the year 9999)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    if year > dt.MAXYEAR:
        return dt.date.max
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class _Findings:
    def __init__(self, loaded: LoadedAgreement) -> None:
        self.loaded = loaded
        self.items: list[LintFinding] = []

    def add(self, code: str, severity: Literal["error", "warning"], path: str, message: str) -> None:
        location = self.loaded.locations.get(path)
        self.items.append(
            LintFinding(code, severity, path, location[1] if location else None, message,
                        location[0] if location else None)
        )


def lint_loaded(loaded: LoadedAgreement) -> list[LintFinding]:
    """Every finding for a loaded agreement, errors first, then in YAML order."""
    a = loaded.agreement
    out = _Findings(loaded)
    _fields(a, out)
    if a.aggregate is not None:
        size = a.aggregate.min_cell_size
        if size < MIN_CELL_SIZE_FLOOR:
            out.add("min_cell_size_too_small", "error", "aggregate.min_cell_size",
                    f"min_cell_size {size} is below the floor of {MIN_CELL_SIZE_FLOOR}; set it to 10 (at least 5)")
        elif size < MIN_CELL_SIZE_REVIEW:
            out.add("min_cell_size_low", "warning", "aggregate.min_cell_size",
                    f"min_cell_size {size} is under {MIN_CELL_SIZE_REVIEW}; raise it to 10 unless a reviewer "
                    "accepted smaller cells")
        seen: set[str] = set()
        for index, metric in enumerate(a.aggregate.metrics):
            if metric in seen:
                out.add("duplicate_entry", "error", f"aggregate.metrics[{index}]",
                        f"metric {metric!r} is listed twice; list each metric once")
            seen.add(metric)
    if a.eligibility.min_contacts < MIN_CONTACTS_REVIEW:
        out.add("min_contacts_low", "warning", "eligibility.min_contacts",
                f"min_contacts {a.eligibility.min_contacts} is below the nine-contact rule; students with few "
                "contacts are not really served: use 9 unless a reviewer agreed otherwise")
    _dates(a, out)
    if a.purpose is not None and len(a.purpose.split()) < MIN_PURPOSE_WORDS:
        out.add("short_purpose", "warning", "purpose",
                f"the purpose is shorter than a sentence; state in at least {MIN_PURPOSE_WORDS} words what the "
                "partner will use the data for")
    if a.individual is not None and a.individual.adult_student_consent == "any":
        out.add("adult_consent_any", "warning", "individual.adult_student_consent",
                "adult_student_consent: any accepts a parent's consent for students 18 or older, whose FERPA "
                "rights are their own; use 'own' unless counsel approved it")
    if a.aggregate is None and a.individual is None:
        out.add("nothing_released", "warning", "aggregate",
                "the agreement releases nothing; add an aggregate or an individual section")
    if a.schools != "all" and len(a.schools) == 0:
        out.add("no_schools", "warning", "schools", "schools is an empty list; name schools or use 'all'")
    if a.delivery is not None:
        for index, recipient in enumerate(a.delivery.age_recipients):
            if any(c.isspace() for c in recipient) or not _is_age_recipient(recipient):
                out.add("age_recipient", "error", f"delivery.age_recipients[{index}]",
                        "expected an age public key (age1...) from the partner; ask the partner for "
                        "the output of age-keygen -y")
    if not loaded.template:
        for key in a.missing_for_release():
            if key == "retention":
                out.add("missing_retention", "error", "retention.destroy_by",
                        "an agreement must say when the partner destroys the data: add retention: {destroy_by: YYYY-MM-DD}")
            else:
                out.add("missing_key", "error", key, f"an agreement must state {key!r}; add it (or extend a template that does)")
        if a.legal_basis is None:
            out.add("no_legal_basis", "warning", "legal_basis",
                    "no legal_basis: state the FERPA provision the disclosure relies on (written consent, "
                    "de-identified data, studies exception ...)")
    order = {path: index for index, path in enumerate(loaded.locations)}
    return sorted(out.items, key=lambda f: (f.severity != "error", order.get(f.path, len(order)), f.code))


def _fields(a, out: _Findings) -> None:
    if a.individual is None:
        return
    for table, names in a.individual.fields.tables().items():
        seen: set[str] = set()
        for index, name in enumerate(names):
            path = f"individual.fields.{table}[{index}]"
            if catalog.is_direct_identifier(name):
                out.add("direct_identifier", "error", path,
                        f"{name!r} is a direct identifier and is never released; remove it (each row carries "
                        "the partner's pseudonym student_key instead)")
            elif catalog.field_info(table, name) is None:
                known = ", ".join(catalog.INDIVIDUAL_FIELDS[table])
                out.add("unknown_field", "error", path,
                        f"{name!r} is not a releasable field of {table}; expected one of: {known}")
            elif name in seen:
                out.add("duplicate_entry", "error", path, f"{name!r} is listed twice in {table}; list it once")
            elif name in catalog.SPECIAL_INDICATORS:
                out.add("special_indicator", "warning", path,
                        f"{name!r} is a special indicator (NDPA Exhibit B); release it only if the purpose "
                        "needs it, and say why in the purpose")
            seen.add(name)
    if not a.individual.fields.tables():
        out.add("nothing_released", "warning", "individual.fields",
                "the individual section names no table; list fields or remove the section")


def _dates(a, out: _Findings) -> None:
    term, retention = a.term, a.retention
    if term is not None:
        if term.expires <= term.effective:
            out.add("term_order", "error", "term.expires",
                    "term.expires must be after term.effective; fix the dates")
        elif term.expires > add_months(term.effective, MAX_TERM_MONTHS):
            out.add("long_term", "warning", "term.expires",
                    f"the term is longer than {MAX_TERM_MONTHS} months (a school year plus a summer); "
                    "sign a new agreement each year instead")
        if a.school_year is not None and term.expires > term.effective:
            year = SchoolYear.parse(a.school_year)
            if term.effective > year.end or term.expires < year.start:
                out.add("school_year_mismatch", "warning", "school_year",
                        f"the term {term.effective}..{term.expires} does not overlap the school year "
                        f"{a.school_year} ({year.start}..{year.end}); check both")
    if term is not None and retention is not None:
        if retention.destroy_by > add_months(term.expires, MAX_RETENTION_MONTHS):
            out.add("long_retention", "warning", "retention.destroy_by",
                    f"destroy_by is more than {MAX_RETENTION_MONTHS} months after the term expires; shorten it "
                    "unless the purpose needs the data that long")
        elif retention.destroy_by < term.expires:
            out.add("destroy_before_expiry", "warning", "retention.destroy_by",
                    "destroy_by is before the term expires; the partner would have to destroy data it may still receive")


def _is_age_recipient(text: str) -> bool:
    """Whether ``text`` is an age X25519 public key, parsed as the run will parse it: review
    must not show a package encrypted to a key that the run then refuses."""
    import pyrage  # noqa: PLC0415 - only for an agreement that encrypts

    try:
        pyrage.x25519.Recipient.from_str(text)
    except (pyrage.RecipientError, ValueError):
        return False
    return True


def lint(loaded_or_path: LoadedAgreement | str | Path) -> list[LintFinding]:
    """The lint findings of a loaded agreement, or of the file at a path (loaded first)."""
    from datashare.agreement.load import LoadedAgreement, load_agreement

    if isinstance(loaded_or_path, LoadedAgreement):
        return lint_loaded(loaded_or_path)
    return list(load_agreement(loaded_or_path).findings)
