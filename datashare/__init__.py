"""datashare: share student data with community partners under data-sharing agreements.

The public API, for district ETL scripts and partner analysts::

    import datetime as dt
    import datashare

    report = datashare.validate("extract/")                  # every finding at once
    agreements = datashare.load_agreements(["agreements/"])  # loaded, resolved, linted
    result = datashare.release(
        extract="extract/", agreements=agreements, key_file="district.key",
        as_of=dt.date(2026, 6, 30), out="out/", signing_key="signing.pem",
    )
    datashare.verify("out/partners/el-centro/el-centro-2025-2026", public_key="signing.pub")

A script run by a scheduler that stops it with SIGTERM calls ``datashare.handle_sigterm()``
first, so that the temporary copies of the extract and the staging folder are removed.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from datashare.errors import (
    AgreementError,
    AgreementRefused,
    AuditError,
    DatashareError,
    ExtractError,
    ExtractInvalid,
    KeyFileError,
    OutputCheckFailed,
    OutputLocked,
    PackageError,
    PackageExists,
    ReleaseError,
    VerificationError,
)

if TYPE_CHECKING:
    from datashare.agreement import (
        Agreement,
        AgreementDiff,
        LintFinding,
        LoadedAgreement,
        diff,
        lint,
        load_agreement,
        load_agreements,
        review,
    )
    from datashare.extract import Extract, Finding, ValidationReport, load_extract, validate
    from datashare.package import VerifyResult, verify, verify_audit
    from datashare.pipeline import RunResult, release
    from datashare.release.types import PartnerRelease
    from datashare._cleanup import handle_sigterm

# The API is imported on first use (PEP 562), so that ``import datashare`` and the
# command line's ``--help`` stay fast: polars, pandas, pandera and pyarrow load only
# when a name that needs them is used.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ("Agreement", "AgreementDiff", "LintFinding", "LoadedAgreement", "diff", "lint", "load_agreement",
         "load_agreements", "review"),
        "datashare.agreement",
    ),
    **dict.fromkeys(("Extract", "Finding", "ValidationReport", "load_extract", "validate"), "datashare.extract"),
    **dict.fromkeys(("VerifyResult", "verify", "verify_audit"), "datashare.package"),
    **dict.fromkeys(("RunResult", "release"), "datashare.pipeline"),
    "PartnerRelease": "datashare.release.types",
    "handle_sigterm": "datashare._cleanup",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'datashare' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Api(types.ModuleType):
    """The import system binds each imported subpackage on its parent; ``release`` is both
    a subpackage and the API's function, and the function must win."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Api


__version__ = "0.1.0"

__all__ = [
    "Agreement",
    "AgreementDiff",
    "AgreementError",
    "AgreementRefused",
    "AuditError",
    "DatashareError",
    "Extract",
    "ExtractError",
    "ExtractInvalid",
    "Finding",
    "KeyFileError",
    "LintFinding",
    "LoadedAgreement",
    "OutputCheckFailed",
    "OutputLocked",
    "PackageError",
    "PackageExists",
    "PartnerRelease",
    "ReleaseError",
    "RunResult",
    "ValidationReport",
    "VerificationError",
    "VerifyResult",
    "diff",
    "handle_sigterm",
    "lint",
    "load_agreement",
    "load_agreements",
    "load_extract",
    "release",
    "review",
    "validate",
    "verify",
    "verify_audit",
]
