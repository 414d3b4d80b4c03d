"""Partner-side verification of a package: complete, unaltered, signed by the district.

Checks run in a fixed order and stop at the first failure, which is named:

1. the package's top-level files (no missing tag file, no file that does not belong);
2. the signature over ``tagmanifest-sha256.txt`` (always when a public key is given; an
   unsigned package then fails);
3. every tag file against ``tagmanifest-sha256.txt``;
4. every payload file against ``manifest-sha256.txt`` (missing, extra, altered);
5. ``bagit.txt`` and ``bag-info.txt`` read strictly (UTF-8, ``Key: value`` lines, each
   key of ``bagit.txt`` once, ``Payload-Oxum`` as ``bytes.files``), then the bag as the
   ``bagit`` library sees it (structure, ``Payload-Oxum``), a second opinion; any failure
   of that library is reported as the bag's fault, never as a traceback;
6. ``release.json`` against the files (rows, bytes, sha256) and ``bag-info.txt``.

Without a public key a signed package is reported valid with its signature *not checked*,
and an unsigned package valid but plainly *unsigned*: only a signature proves the origin.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path

import bagit
import polars as pl
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidSignature

from datashare._json import loads as json_loads
from datashare.errors import VerificationError
from datashare.package.bag import (
    MANIFEST,
    RELEASE_JSON,
    SIGNATURE,
    TAG_FILES,
    TAGMANIFEST,
    sha256_file,
)
from datashare.package.sign import load_public_key

_LINE = re.compile(r"^([0-9a-f]{64})[ \t]+\*?(\S.*)$")


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`; ``messages`` say in words what was checked."""

    path: Path
    valid: bool
    signed: bool
    signature_checked: bool
    messages: tuple[str, ...]
    release: dict[str, object] = field(default_factory=dict)


def verify(package_dir: Path, *, public_key: Path | None = None) -> VerifyResult:
    """Verify the package at ``package_dir``; raise :class:`VerificationError` naming the first file at fault."""
    root = Path(package_dir)
    if not root.is_dir():
        raise VerificationError(f"{root}: not a package folder")
    messages: list[str] = []
    _check_layout(root)

    signed = (root / SIGNATURE).exists()
    if public_key is not None:
        if not signed:
            raise VerificationError(
                f"{SIGNATURE}: missing: the package is unsigned, but a public key was given "
                "to check its signature"
            )
        _check_signature(root, Path(public_key))
        messages.append(f"signature: verified with {Path(public_key).name}")
    elif signed:
        _signature_bytes(root)
        messages.append(
            "signature: present but NOT checked; pass --public-key with the district's key"
        )
    else:
        messages.append("signature: UNSIGNED; nothing proves this package came from the district")

    tags = _read_manifest(root, TAGMANIFEST)
    present = {p.name for p in root.iterdir() if p.is_file()} - {TAGMANIFEST, SIGNATURE}
    _compare(root, tags, present, TAGMANIFEST, order=TAG_FILES)
    messages.append(f"tag files: {len(tags)} match {TAGMANIFEST}")

    payload = _read_manifest(root, MANIFEST)
    if bad := sorted(p for p in payload if not p.startswith("data/") or ".." in p.split("/")):
        raise VerificationError(f"{MANIFEST}: lists {bad[0]}, which is not a file under data/")
    on_disk = _payload_on_disk(root)
    _compare(root, payload, on_disk, MANIFEST, order=())
    messages.append(f"payload: {len(payload)} files match {MANIFEST}")

    _check_tag_file(root, "bagit.txt", unique=True)
    _check_tag_file(root, "bag-info.txt", unique=False)
    try:
        bag = bagit.Bag(str(root))
        bag.validate()
        info = dict(bag.info)
    except bagit.BagError as exc:
        raise VerificationError(f"{root.name}: not a valid BagIt bag: {_one_line(exc)}") from None
    except (ValueError, LookupError, OSError, TypeError, AttributeError) as exc:
        # A tag file the library cannot handle: still the bag's fault, not a crash.
        raise VerificationError(
            f"{root.name}: not a valid BagIt bag (bagit.txt or bag-info.txt cannot be read: "
            f"{exc.__class__.__name__})"
        ) from None

    release = _check_release(root, payload, info)
    messages.append(f"{RELEASE_JSON}: agrees with the files")
    return VerifyResult(
        path=root,
        valid=True,
        signed=signed,
        signature_checked=public_key is not None,
        messages=tuple(messages),
        release=release,
    )


def _check_layout(root: Path) -> None:
    for name in (*TAG_FILES, TAGMANIFEST):
        if not (root / name).is_file():
            raise VerificationError(f"{name}: missing from the package")
    if not (root / "data").is_dir():
        raise VerificationError("data/: missing from the package")
    allowed = {*TAG_FILES, TAGMANIFEST, SIGNATURE, "data"}
    for entry in sorted(root.iterdir()):
        if entry.is_symlink():
            raise VerificationError(f"{entry.name}: a link; a package holds regular files only")
        if entry.name not in allowed:
            raise VerificationError(f"{entry.name}: unexpected file; it is not part of the package")


def _signature_bytes(root: Path) -> bytes:
    try:
        raw = base64.b64decode((root / SIGNATURE).read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise VerificationError(f"{SIGNATURE}: not the base64 of a 64-byte Ed25519 signature")
    return raw


def _check_signature(root: Path, public_key: Path) -> None:
    key = load_public_key(public_key)
    signature = _signature_bytes(root)
    try:
        key.verify(signature, (root / TAGMANIFEST).read_bytes())
    except InvalidSignature:
        raise VerificationError(
            f"{TAGMANIFEST}: the signature in {SIGNATURE} does not verify with the public key "
            f"{public_key.name}: the tag manifest or its signature was altered, or this is the "
            "wrong key"
        ) from None


def _read_manifest(root: Path, name: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    try:
        text = (root / name).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise VerificationError(f"{name}: altered (not UTF-8 text)") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise VerificationError(f"{name}: altered (line {number} is not 'sha256 path')")
        path = match[2]
        if path in entries:
            raise VerificationError(f"{name}: altered (line {number} lists {path} twice)")
        entries[path] = match[1]
    return entries


def _payload_on_disk(root: Path) -> set[str]:
    found = set()
    for path in (root / "data").rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise VerificationError(f"{rel}: a link; a package holds regular files only")
        if path.is_file():
            found.add(rel)
    return found


def _compare(
    root: Path, listed: dict[str, str], present: set[str], manifest: str, *, order: tuple[str, ...]
) -> None:
    """Fail on the first listed file that is missing or altered, then on any unlisted file."""
    ranked = sorted(listed, key=lambda p: (order.index(p) if p in order else len(order), p))
    for path in ranked:
        if path not in present:
            raise VerificationError(f"{path}: missing (listed in {manifest})")
        if sha256_file(root / path) != listed[path]:
            raise VerificationError(f"{path}: altered (its sha256 differs from {manifest})")
    for path in sorted(present - set(listed)):
        raise VerificationError(f"{path}: unexpected file (not listed in {manifest})")


_OXUM = re.compile(r"^[0-9]+\.[0-9]+$")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _check_tag_file(root: Path, name: str, *, unique: bool) -> None:
    """Read a BagIt tag file strictly: UTF-8, ``Key: value`` lines (indented lines continue
    a value), ``Payload-Oxum`` as ``bytes.files``; with ``unique``, no key twice."""
    try:
        text = (root / name).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError(f"{name}: altered (not UTF-8 text)") from None
    except OSError as exc:
        raise VerificationError(f"{name}: cannot be read ({exc.strerror})") from None
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line[0].isspace() and seen:
            continue
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or not key:
            raise VerificationError(f"{name}: altered (line {number} is not 'Key: value')")
        if key in seen and (unique or key == "Payload-Oxum"):
            raise VerificationError(
                f"{name}: altered (line {number} repeats {key}, first given on line {seen[key]})"
            )
        seen.setdefault(key, number)
        if key == "Payload-Oxum" and not _OXUM.match(value.strip()):
            raise VerificationError(
                f"{name}: altered (line {number}: Payload-Oxum must be <bytes>.<files>, two whole numbers)"
            )


def _check_release(root: Path, payload: dict[str, str], info: dict[str, object]) -> dict[str, object]:
    try:
        release = json_loads((root / RELEASE_JSON).read_text(encoding="utf-8"))
        files = release["files"]
        agreement = release["agreement"]
        identifier = f"{agreement['id']} v{agreement['version']}"
        if not isinstance(files, dict):
            raise TypeError(files)
    except (ValueError, KeyError, TypeError):
        raise VerificationError(
            f"{RELEASE_JSON}: not a release record (expected JSON with agreement and files)"
        ) from None
    for path, record in files.items():
        if not isinstance(record, dict):
            raise VerificationError(
                f"{RELEASE_JSON}: the entry of {path} under files is not an object "
                "(expected rows, bytes and sha256)"
            )
    for path in sorted(set(payload) | set(files)):
        if path not in files:
            raise VerificationError(f"{RELEASE_JSON}: does not list {path}")
        if path not in payload:
            raise VerificationError(f"{RELEASE_JSON}: lists {path}, which the package lacks")
        record, file = files[path], root / path
        if record.get("sha256") != payload[path]:
            raise VerificationError(f"{path}: its sha256 differs from {RELEASE_JSON}")
        if record.get("bytes") != file.stat().st_size:
            raise VerificationError(f"{path}: its size differs from {RELEASE_JSON}")
        rows = _rows(file, path)
        if record.get("rows") != rows:
            raise VerificationError(
                f"{path}: has {rows} rows, {RELEASE_JSON} says {record.get('rows')}"
            )
    if info.get("External-Identifier") != identifier:
        raise VerificationError(
            f"bag-info.txt: External-Identifier does not match {RELEASE_JSON} ({identifier})"
        )
    if info.get("Bagging-Date") != release.get("as_of"):
        raise VerificationError(f"bag-info.txt: Bagging-Date does not match as_of in {RELEASE_JSON}")
    return release


def _rows(file: Path, path: str) -> int | None:
    try:
        if path.endswith(".parquet"):
            return pq.ParquetFile(file).metadata.num_rows
        if path.endswith(".csv"):
            return pl.scan_csv(file, infer_schema=False).select(pl.len()).collect().item()
    except Exception:  # noqa: BLE001 - any reader failure means the file is not what it claims
        raise VerificationError(f"{path}: cannot be read as {path.rsplit('.', 1)[-1]}") from None
    return None
