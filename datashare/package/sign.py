"""The district's Ed25519 signing keys and the detached signature of a bag.

The signature covers the exact bytes of ``tagmanifest-sha256.txt``, which lists the
sha256 of ``manifest-sha256.txt`` (every payload file), ``bag-info.txt`` and
``release.json``: one signature vouches for every byte of the package. It is written as
``tagmanifest-sha256.txt.sig``, the base64 of the 64-byte signature, so that a partner can
check it with any Ed25519 tool.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from datashare.errors import KeyFileError, PackageError
from datashare.package.bag import SIGNATURE, TAGMANIFEST


def generate_signing_keys(private_path: Path, public_path: Path) -> None:
    """Create a new Ed25519 key pair as PEM files; the private one readable by its owner only.

    Refuses to overwrite either file: replacing a signing key silently would make every
    package signed before it unverifiable for partners holding the old public key.
    """
    private_path, public_path = Path(private_path), Path(public_path)
    if private_path.resolve() == public_path.resolve():
        raise KeyFileError(f"{private_path}: the private and public key files must differ")
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path}: exists already; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path}: exists already; refusing to overwrite a signing key") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create the key file ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have narrowed it; make it exactly ``mode``


def _read(path: Path, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise KeyFileError(f"{path}: {what} file not found")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the {what} file ({exc.strerror})") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read the district's Ed25519 private key (PEM), refusing a file others can read."""
    path = Path(path)
    data = _read(path, "signing key")
    if b"-----BEGIN PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise KeyFileError(
            f"{path}: this is a public key; --signing-key takes the district's private key (the "
            "first file written by `datashare keys signing PRIVATE_FILE PUBLIC_FILE`). The public "
            "key is for partners: `datashare verify --public-key`"
        )
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"{path}: the signing key is readable by other users (mode {mode:04o}); "
                f"restrict it with `chmod 600 {path}`"
            )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"{path}: not an unencrypted PEM private key; create one with "
            "`datashare keys signing PRIVATE_FILE PUBLIC_FILE`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: expected an Ed25519 private key, found another key type")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read the district's Ed25519 public key (PEM) as given to a partner."""
    path = Path(path)
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"{path}: not a PEM public key (expected the district's Ed25519 public key file)"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: expected an Ed25519 public key, found another key type")
    return key


def sign_bag(bag_dir: Path, private_key: Ed25519PrivateKey) -> Path:
    """Write ``tagmanifest-sha256.txt.sig`` for the bag at ``bag_dir``; return its path."""
    bag_dir = Path(bag_dir)
    tagmanifest = bag_dir / TAGMANIFEST
    if not tagmanifest.is_file():
        raise PackageError(f"{tagmanifest}: missing; write the bag before signing it")
    signature = private_key.sign(tagmanifest.read_bytes())
    out = bag_dir / SIGNATURE
    out.write_bytes(base64.b64encode(signature) + b"\n")
    return out
