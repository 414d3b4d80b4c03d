"""Plain data passed from the release stages to the package stage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from datashare.agreement.model import Agreement

GATES: tuple[str, ...] = ("enrolled", "with_contacts", "eligible", "consented", "withheld", "released")
"""The student counts reported at each gate of a release, in order (``released`` =
``consented`` - ``withheld``; ``withheld``: consented students whose records would expose
a figure the partner already holds)."""

AGREEMENT_INDEX = "agreement_index"
"""Column naming the agreement (its position in the run) when many are computed at once."""


@dataclass(frozen=True)
class PartnerRelease:
    """Everything one partner receives for one agreement, before it is packaged.

    ``tables`` maps a file stem (``aggregate_comparison``, and for an agreement with an
    ``individual`` section ``students``, ``attendance``, ``discipline``, ``grades``) to its
    rows; ``gates`` counts distinct students at each gate of :data:`GATES`; ``suppression``
    counts suppressed and coded cells by reason code.
    """

    agreement: Agreement
    agreement_sha256: str
    agreement_path: Path
    as_of: dt.date
    tables: Mapping[str, pl.DataFrame]
    gates: Mapping[str, int]
    suppression: Mapping[str, int]
    school_year: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)
    withdrawn: pl.DataFrame | None = None
    """``student_key``, ``reason``: students released before under this agreement, not now."""
    ledger: object | None = None
    """The :class:`~datashare.package.ledger.LedgerRelease` recording this release."""
    roster: pl.DataFrame | None = None
    """Who counts in which figure of the extract (the ledger's roster of the covered set)."""

    @property
    def partner_id(self) -> str:
        assert self.agreement.partner is not None
        return self.agreement.partner.id

    @property
    def agreement_id(self) -> str:
        assert self.agreement.id is not None
        return self.agreement.id


def split_by_agreement(frame: pl.DataFrame, *, keep: bool = False) -> dict[int, pl.DataFrame]:
    """Each agreement's rows of ``frame``, without ``agreement_index`` (with it: ``keep``), as
    zero-copy slices.

    ``frame`` is sorted by ``agreement_index`` (it is sorted here if not).
    """
    if not frame.get_column(AGREEMENT_INDEX).is_sorted():
        frame = frame.sort(AGREEMENT_INDEX, maintain_order=True)
    runs = frame.select(pl.col(AGREEMENT_INDEX).rle()).unnest(AGREEMENT_INDEX)
    body = frame if keep else frame.drop(AGREEMENT_INDEX)
    parts: dict[int, pl.DataFrame] = {}
    offset = 0
    for length, value in runs.iter_rows():
        parts[value] = body.slice(offset, length)
        offset += length
    return parts
