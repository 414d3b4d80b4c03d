"""Agreements: the typed model, YAML loading with ``extends``, lint, review and diff.

An agreement file is loaded once (:func:`load_agreement`), which resolves its templates,
validates it against :class:`Agreement` and lints it; the result names the file, the hash
of what was agreed, and every finding. :func:`review` renders what a compliance reviewer
signs; :func:`diff` says whether a new version needs re-review.
"""

from __future__ import annotations

from datashare.agreement.diff import AgreementDiff, Change, diff
from datashare.agreement.lint import LintFinding, lint
from datashare.agreement.load import (
    LoadedAgreement,
    canonical_json,
    dump_agreement,
    load_agreement,
    load_agreements,
)
from datashare.agreement.model import Agreement
from datashare.agreement.review import review

__all__ = [
    "Agreement",
    "AgreementDiff",
    "Change",
    "LintFinding",
    "LoadedAgreement",
    "canonical_json",
    "diff",
    "dump_agreement",
    "lint",
    "load_agreement",
    "load_agreements",
    "review",
]
