"""The package a partner receives: BagIt bag, signature, encryption, verification, audit.

Modules: ``bag`` (write the bag), ``describe`` (README.md, datapackage.json), ``sign``,
``verify``, ``encrypt``, ``audit``, ``check`` (great-expectations, imported lazily) and
``publish`` (all-or-nothing run). Importing this package does not import great-expectations.
"""

from __future__ import annotations

from datashare.package.audit import AuditResult, append_entries, verify_audit
from datashare.package.bag import PackageInfo, write_package
from datashare.package.encrypt import decrypt_package, encrypt_package
from datashare.package.publish import PublishedPackage, PublishResult, publish
from datashare.package.sign import (
    generate_signing_keys,
    load_private_key,
    load_public_key,
    sign_bag,
)
from datashare.package.verify import VerifyResult, verify

__all__ = [
    "AuditResult",
    "PackageInfo",
    "PublishResult",
    "PublishedPackage",
    "VerifyResult",
    "append_entries",
    "decrypt_package",
    "encrypt_package",
    "generate_signing_keys",
    "load_private_key",
    "load_public_key",
    "publish",
    "sign_bag",
    "verify",
    "verify_audit",
    "write_package",
]
