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

from datashare._cleanup import handle_sigterm
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
from datashare.extract import Extract, Finding, ValidationReport, load_extract, validate
from datashare.package import VerifyResult, verify, verify_audit
from datashare.pipeline import RunResult, release
from datashare.release.types import PartnerRelease

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
