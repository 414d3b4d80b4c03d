"""datashare: share student data with community partners under data-sharing agreements.

The public API, for district ETL scripts and partner analysts::

    import datashare
    report = datashare.validate("extract/")
"""

from __future__ import annotations

from datashare.errors import (
    AgreementError,
    AgreementRefused,
    AuditError,
    DatashareError,
    ExtractError,
    ExtractInvalid,
    KeyFileError,
    OutputCheckFailed,
    PackageError,
    PackageExists,
    ReleaseError,
    VerificationError,
)
from datashare.extract import Extract, Finding, ValidationReport, load_extract, validate

__version__ = "0.1.0"

__all__ = [
    "AgreementError",
    "AgreementRefused",
    "AuditError",
    "DatashareError",
    "Extract",
    "ExtractError",
    "ExtractInvalid",
    "Finding",
    "KeyFileError",
    "OutputCheckFailed",
    "PackageError",
    "PackageExists",
    "ReleaseError",
    "ValidationReport",
    "VerificationError",
    "load_extract",
    "validate",
]
