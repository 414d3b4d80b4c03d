"""The release: from a validated extract and agreements to what each partner may receive.

Stages, one module each, plain polars frames in and out:

- :mod:`~datashare.release.keys`: the district secret, per-partner keys, ``student_key``;
- :mod:`~datashare.release.derive`: per-student, per-school summaries, derived once;
- :mod:`~datashare.release.eligibility`: the nine-contact rule;
- :mod:`~datashare.release.consent`: consent as of a date, with the 18-and-over rule;
- :mod:`~datashare.release.metrics`: exact served and comparison cells per school and ALL;
- :mod:`~datashare.release.disclosure`: suppression and extreme-share coding;
- :mod:`~datashare.release.individual`: consented individual tables, projected to the agreement;
- :mod:`~datashare.release.compute`: chains them for many agreements in one pass.
"""

from __future__ import annotations

from datashare.release.compute import compute_releases, prepare, release_partner
from datashare.release.keys import (
    STUDENT_KEY_PATTERN,
    init_secret,
    partner_key,
    read_secret,
    student_keys,
)
from datashare.release.types import GATES, PartnerRelease

__all__ = [
    "GATES",
    "STUDENT_KEY_PATTERN",
    "PartnerRelease",
    "compute_releases",
    "init_secret",
    "partner_key",
    "prepare",
    "read_secret",
    "release_partner",
    "student_keys",
]
