"""The district's pseudonymization secret and the per-partner ``student_key``.

Scheme (format version 1):

* The district holds one **secret**: 32 random bytes in a file of mode ``0600``
  (:func:`init_secret`, :func:`read_secret`). It never leaves the district.
* Each partner gets its own **partner key**: HKDF-SHA256 of the secret with
  ``salt = b"datashare/student-key/v1"`` (the format label) and ``info`` = the partner id
  in UTF-8, 32 bytes long (:func:`partner_key`). Keys of two partners are unrelated, so
  their pseudonyms cannot be joined; changing the format label is how a future scheme
  would be versioned.
* A student's **student_key** is HMAC-SHA256 of the UTF-8 ``student_id`` under the partner
  key, truncated to its first 16 bytes (128 bits) and written in base32 (RFC 4648
  alphabet), lowercase, without padding: 26 characters matching
  :data:`STUDENT_KEY_PATTERN`. It is stable across runs and years for one partner and
  cannot be computed, or reversed by trying every id, without the secret.

HMAC runs once per distinct ``student_id`` (:func:`student_keys`), and the result is
joined onto the tables, so no Python call is made per row of a large table.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

import polars as pl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from datashare.errors import KeyFileError

SECRET_BYTES = 32
"""Length of the district secret, in bytes."""

KEY_FORMAT_LABEL = b"datashare/student-key/v1"
"""HKDF salt: names the pseudonym scheme and its version."""

STUDENT_KEY_BYTES = 16
"""Bytes of the HMAC kept in a student_key (128 bits)."""

STUDENT_KEY_PATTERN = r"^[a-z2-7]{25}[aeimquy4]$"
"""A student_key: 26 lowercase base32 characters; the last one carries 3 bits (128 = 25*5 + 3)."""

_PADDED_BYTES = 20
_KEY_CHARS = 26
_FIX = "create one with `datashare keys init KEY_FILE`"


def init_secret(path: str | Path) -> Path:
    """Write a new random district secret to ``path`` (mode 0600); never overwrite.

    The file is created with ``O_EXCL`` so that an existing secret (and every pseudonym
    derived from it) cannot be replaced by accident.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path}: a key file already exists there; datashare never overwrites a secret "
            "(every student_key depends on it). Choose another path or remove it on purpose."
        ) from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create the key file ({exc.strerror})") from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        os.write(fd, secrets.token_bytes(SECRET_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_secret(path: str | Path) -> bytes:
    """Read and check the district secret; raise :class:`KeyFileError` when unusable.

    Refused: a missing or unreadable file, a file not exactly 32 bytes long, and (on
    POSIX) a file that its group or other users may read or write.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: key file not found; {_FIX}") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"{path}: the key file is not a regular file")
    if os.name == "posix" and info.st_mode & 0o077:
        raise KeyFileError(
            f"{path}: the key file is readable by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); restrict it with `chmod 600 {path}`"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({exc.strerror})") from None
    if len(data) != SECRET_BYTES:
        raise KeyFileError(
            f"{path}: a key file holds exactly {SECRET_BYTES} bytes, this one holds "
            f"{len(data)}; it is not a datashare secret ({_FIX})"
        )
    return data


def partner_key(secret: bytes, partner_id: str) -> bytes:
    """The partner's 32-byte HMAC key: HKDF-SHA256(secret, salt=format label, info=partner id)."""
    if len(secret) != SECRET_BYTES:
        raise KeyFileError(f"the district secret must be {SECRET_BYTES} bytes")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=KEY_FORMAT_LABEL,
        info=partner_id.encode("utf-8"),
    ).derive(secret)


def student_key(key: bytes, student_id: str) -> str:
    """One student's pseudonym under a partner key (see the module docstring)."""
    digest = hmac.digest(key, student_id.encode("utf-8"), hashlib.sha256)
    return base64.b32encode(digest[:STUDENT_KEY_BYTES]).decode("ascii").rstrip("=").lower()


def student_keys(ids: pl.Series | pl.DataFrame | pl.LazyFrame, key: bytes) -> pl.DataFrame:
    """``student_id -> student_key`` for the distinct ids given, sorted by ``student_id``.

    ``ids`` is a Series of student ids or a frame with a ``student_id`` column. HMAC runs
    once per distinct id; join the result onto the tables that need a key.
    """
    if isinstance(ids, pl.LazyFrame):
        ids = ids.select("student_id").collect()
    if isinstance(ids, pl.DataFrame):
        ids = ids.get_column("student_id")
    distinct = ids.cast(pl.String).drop_nulls().unique().sort()
    # One base32 call for all: each 16-byte digest is padded to 20 bytes (a whole number of
    # 5-byte groups), so its first 26 characters are exactly its own encoding.
    pad = b"\0" * (_PADDED_BYTES - STUDENT_KEY_BYTES)
    digests = b"".join(
        hmac.digest(key, value.encode("utf-8"), hashlib.sha256)[:STUDENT_KEY_BYTES] + pad
        for value in distinct.to_list()
    )
    text = base64.b32encode(digests).decode("ascii").lower()
    width = _PADDED_BYTES * 8 // 5
    keys = [text[i : i + _KEY_CHARS] for i in range(0, len(text), width)]
    return pl.DataFrame(
        {"student_id": distinct.rename("student_id"), "student_key": pl.Series(keys, dtype=pl.String)}
    )

