"""The one error tree of datashare.

Every error a user can cause is a :class:`DatashareError`; its message names the file,
table, row or key at fault, what was expected, and how to fix it. No message ever holds a
student value or a secret.

::

    DatashareError
    ├── ExtractError              the extract cannot be read at all (missing folder, ...)
    │   └── ExtractInvalid        validation found errors; carries the ValidationReport
    ├── AgreementError            an agreement cannot be loaded (YAML syntax, unknown key, extends)
    │   └── AgreementRefused      lint errors, or the agreement is not in force on --as-of
    ├── KeyFileError              a secret or signing key file is missing, unreadable, unsafe
    ├── ReleaseError              the release cannot be produced
    │   ├── OutputCheckFailed     the independent output check blocked a package
    │   ├── PackageExists         a different release already sits at a package path
    │   └── OutputLocked          another run holds the output folder (names its pid, host, start)
    ├── PackageError              a package cannot be written, read or decrypted
    │   └── VerificationError     a package failed verification (names the file)
    ├── AuditError                the audit log is broken (names the entry)
    ├── SynthError                a synthetic district cannot be made (bad argument)
    │   └── SynthOutputExists     the output folder already holds extract files
    └── ImportSourceError         an Ed-Fi source, descriptor map or import option cannot be used
"""

from __future__ import annotations


class DatashareError(Exception):
    """Root of every error datashare raises on purpose."""


class ExtractError(DatashareError):
    """The extract folder or one of its files cannot be read at all."""


class ExtractInvalid(ExtractError):
    """Validation found errors; ``report`` holds every finding."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class AgreementError(DatashareError):
    """An agreement file cannot be loaded: YAML syntax, unknown key, broken ``extends``."""


class AgreementRefused(AgreementError):
    """An agreement loads but may not be released (lint errors, not in force)."""


class KeyFileError(DatashareError):
    """A secret or signing key file is missing, unreadable, wrongly sized or unsafe."""


class ReleaseError(DatashareError):
    """A release cannot be produced."""


class OutputCheckFailed(ReleaseError):
    """The independent output check found a table that breaks its agreement."""


class PackageExists(ReleaseError):
    """A different release already exists at a package path (use ``--replace``)."""


class OutputLocked(ReleaseError):
    """Another run holds the output folder's lock; the message names its pid, host and start time."""


class PackageError(DatashareError):
    """A package cannot be written, read or decrypted."""


class VerificationError(PackageError):
    """A package failed verification; the message names the first file at fault."""


class AuditError(DatashareError):
    """The audit log cannot be read or its hash chain is broken."""


class SynthError(DatashareError):
    """A synthetic district cannot be made: an argument is out of range."""


class SynthOutputExists(SynthError):
    """The output folder already holds extract files; a district's data is never overwritten."""


class ImportSourceError(DatashareError):
    """An Ed-Fi source folder, a descriptor map or an import option cannot be used at all."""
