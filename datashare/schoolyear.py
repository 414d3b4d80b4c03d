"""The school year, one definition for every stage: ``2025-2026`` runs from 2025-07-01 to
2026-06-30, both days inclusive (CONTRACT section 1)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

PATTERN = re.compile(r"^([0-9]{4})-([0-9]{4})$")
"""A school-year label: two consecutive years in ASCII digits joined by a hyphen."""


@dataclass(frozen=True)
class SchoolYear:
    """A school year such as ``2025-2026``: July 1 of the first year to June 30 of the next."""

    label: str
    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, label: str) -> SchoolYear:
        """Raise :class:`ValueError` (callers turn it into their own error) unless ``label``
        is two consecutive years like ``2025-2026``."""
        match = PATTERN.match(label)
        if not match or int(match[2]) != int(match[1]) + 1:
            raise ValueError(f"school year {label!r} is not of the form 2025-2026 (two consecutive years)")
        return cls(label, dt.date(int(match[1]), 7, 1), dt.date(int(match[2]), 6, 30))
