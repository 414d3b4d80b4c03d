"""Encrypt a bag to the partner's age recipients, and unpack one safely.

The file is a plain tar of the bag folder (signature included) in the standard age format,
so a partner without Python runs ``age -d -i key.txt pkg.tar.age | tar x``. The tar is
deterministic (members sorted, fixed times and owners); age itself adds fresh randomness
to every encryption, so two ``.tar.age`` files of the same bag differ while their
plaintexts are identical.

Unpacking refuses anything a hostile archive could use to write outside the target folder:
absolute paths, ``..`` components, links, devices and other special members.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pyrage

from datashare._private import restrict_tree
from datashare.errors import PackageError

_MTIME = 0


def encrypt_package(bag_dir: Path, recipients: Sequence[str], dest: Path) -> Path:
    """Write ``dest``: the tar of ``bag_dir`` (as one top-level folder) encrypted to ``recipients``."""
    bag_dir = Path(bag_dir)
    parsed = _recipients(recipients)
    data = _tar_bytes(bag_dir)
    try:
        encrypted = pyrage.encrypt(data, parsed)
    except pyrage.EncryptError as exc:
        raise PackageError(f"{dest}: cannot encrypt the package: {exc}") from None
    dest = Path(dest)
    dest.write_bytes(encrypted)
    return dest


def _recipients(recipients: Sequence[str]) -> list[pyrage.x25519.Recipient]:
    if not recipients:
        raise PackageError("delivery.age_recipients: no recipient to encrypt the package to")
    parsed = []
    for number, text in enumerate(recipients, start=1):
        try:
            parsed.append(pyrage.x25519.Recipient.from_str(text.strip()))
        except (pyrage.RecipientError, ValueError):
            raise PackageError(
                f"delivery.age_recipients: entry {number} is not an age X25519 public key "
                "(expected a string starting with age1...)"
            ) from None
    return parsed


def _tar_bytes(bag_dir: Path) -> bytes:
    top = bag_dir.name
    paths = sorted(bag_dir.rglob("*"), key=lambda p: p.relative_to(bag_dir).as_posix())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_member(f"{top}", tarfile.DIRTYPE, 0o755))
        for path in paths:
            name = f"{top}/{path.relative_to(bag_dir).as_posix()}"
            if path.is_symlink():
                raise PackageError(f"{path}: a link inside the package; refusing to archive it")
            if path.is_dir():
                tar.addfile(_member(name, tarfile.DIRTYPE, 0o755))
            else:
                data = path.read_bytes()
                info = _member(name, tarfile.REGTYPE, 0o644)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _member(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def read_identities(identity_file: Path) -> list[pyrage.x25519.Identity]:
    """The X25519 identities of an age identity file (``AGE-SECRET-KEY-`` lines; comments skipped)."""
    identity_file = Path(identity_file)
    try:
        text = identity_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise PackageError(f"{identity_file}: cannot read the age identity file") from None
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("AGE-SECRET-KEY-"):
            raise PackageError(
                f"{identity_file}: line {number} is not an age identity (AGE-SECRET-KEY-...)"
            )
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except (pyrage.IdentityError, ValueError):
            raise PackageError(f"{identity_file}: line {number} is not a valid age identity") from None
    if not identities:
        raise PackageError(f"{identity_file}: holds no age identity (AGE-SECRET-KEY-...)")
    return identities


MAX_MEMBERS = 10_000
"""Most members a package archive may hold (a package has about twenty files)."""


def decrypt_package(file: Path, identity_file: Path, out_dir: Path) -> Path:
    """Decrypt ``file`` with the identities of ``identity_file`` and unpack it under ``out_dir``.

    Returns the unpacked package folder. Every member is checked before anything is written
    (names, types, count, sizes); the archive is then unpacked into a private temporary
    folder beside ``out_dir`` and its package folder moved into ``out_dir`` at the end, so a
    refusal or a failure leaves nothing in ``out_dir`` (nor ``out_dir`` itself when it did
    not exist). Files are unpacked with mode 0640 and folders 0750, whatever the umask.
    """
    file, out_dir = Path(file), Path(out_dir)
    identities = read_identities(identity_file)
    try:
        plaintext = pyrage.decrypt(file.read_bytes(), identities)
    except OSError as exc:
        raise PackageError(f"{file}: cannot read ({exc.strerror})") from None
    except pyrage.DecryptError:
        raise PackageError(
            f"{file}: cannot decrypt with the identities in {identity_file} "
            "(not an age file, damaged, or encrypted to another key)"
        ) from None
    try:
        tar = tarfile.open(fileobj=io.BytesIO(plaintext), mode="r:")
        with tar:
            members = tar.getmembers()
    except (tarfile.TarError, EOFError, ValueError, OverflowError):
        raise PackageError(f"{file}: the decrypted content is not a tar archive (or a damaged one)") from None
    top = _check_members(file, members, len(plaintext))
    if (out_dir / top).exists() or (out_dir / top).is_symlink():
        raise PackageError(f"{out_dir / top}: exists already; refusing to overwrite it")
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
    try:
        for folder in reversed(created):
            folder.mkdir()
            os.chmod(folder, 0o750)
        with tempfile.TemporaryDirectory(prefix=".datashare-decrypt-", dir=out_dir.parent) as private:
            with tarfile.open(fileobj=io.BytesIO(plaintext), mode="r:") as tar:
                tar.extractall(private, members=tar.getmembers(), filter="data")
            unpacked = Path(private) / top
            restrict_tree(unpacked)
            os.rename(unpacked, out_dir / top)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        for folder in created:
            shutil.rmtree(folder, ignore_errors=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise PackageError(f"{file}: cannot unpack the archive into {out_dir} ({reason}); nothing was written") from None
    except BaseException:
        for folder in created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return out_dir / top


def _check_members(file: Path, members: Sequence[tarfile.TarInfo], plain_bytes: int) -> str:
    """The archive's one top-level folder, after refusing anything unsafe about any member:
    unsafe names and types, a path given twice or as both a file and a folder, more than
    :data:`MAX_MEMBERS` members, sparse members, or sizes adding up to more than the archive."""
    if len(members) > MAX_MEMBERS:
        raise PackageError(f"{file}: the archive holds {len(members):,} members, more than {MAX_MEMBERS:,}; refused")
    kinds: dict[str, bool] = {}  # normalized path -> is a folder
    total = 0
    for member in members:
        parts = _safe_parts(file, member)
        key = "/".join(parts)
        if key in kinds:
            raise PackageError(f"{file}: archive member {member.name!r} appears twice; refused")
        kinds[key] = member.isdir()
        if member.issparse():
            raise PackageError(f"{file}: archive member {member.name!r} is a sparse file; refused")
        total += max(member.size, 0)
        if total > plain_bytes:
            raise PackageError(
                f"{file}: the archive's members claim more bytes than the archive holds "
                f"(member {member.name!r}); refused"
            )
    for key, is_dir in kinds.items():
        parent = key.rpartition("/")[0]
        while parent:
            if kinds.get(parent) is False:
                raise PackageError(f"{file}: archive path {parent!r} is both a file and a folder; refused")
            parent = parent.rpartition("/")[0]
    tops = {key.split("/")[0] for key in kinds}
    if len(tops) != 1:
        raise PackageError(f"{file}: expected one package folder in the archive, found {len(tops)}")
    top = tops.pop()
    if kinds.get(top) is False:
        raise PackageError(f"{file}: archive member {top!r} is a file; expected the package folder")
    return top


def _safe_parts(file: Path, member: tarfile.TarInfo) -> tuple[str, ...]:
    """The member's path components, after refusing anything unsafe about it."""
    name = member.name
    path = PurePosixPath(name)
    if not path.parts:
        raise PackageError(f"{file}: an archive member has an empty name (or '.'); refused")
    if path.is_absolute() or name.startswith(("/", "\\")) or ":" in path.parts[0]:
        raise PackageError(f"{file}: archive member {name!r} has an absolute path; refused")
    if ".." in path.parts or "\\" in name or "\x00" in name:
        raise PackageError(f"{file}: archive member {name!r} leaves the target folder; refused")
    if not (member.isfile() or member.isdir()):
        raise PackageError(
            f"{file}: archive member {name!r} is a link or special file; refused"
        )
    return path.parts
