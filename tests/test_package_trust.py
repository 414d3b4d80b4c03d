"""Encryption to the partner (pyrage and the age tool), safe unpacking, and the audit chain."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pyrage
import pytest
from package_fixtures import release
from typer.testing import CliRunner

from datashare.cli import app
from datashare.errors import AuditError, PackageError
from datashare.package.audit import append_entries, verify_audit
from datashare.package.bag import write_package
from datashare.package.encrypt import decrypt_package, encrypt_package
from datashare.package.verify import verify


@pytest.fixture
def identity(tmp_path: Path) -> tuple[Path, str]:
    key = pyrage.x25519.Identity.generate()
    path = tmp_path / "partner.key"
    path.write_text(f"# created: today\n# public key: {key.to_public()}\n{key}\n")
    return path, str(key.to_public())


def _bag(tmp_path: Path) -> Path:
    bag = tmp_path / "src" / "el-centro-2025-2026"
    write_package(release(), bag)
    return bag


def _files(bag: Path) -> dict[str, bytes]:
    return {p.relative_to(bag).as_posix(): p.read_bytes() for p in sorted(bag.rglob("*")) if p.is_file()}


def test_age_round_trip_with_pyrage(tmp_path: Path, identity: tuple[Path, str]) -> None:
    bag = _bag(tmp_path)
    encrypted = encrypt_package(bag, [identity[1]], tmp_path / "pkg.tar.age")
    assert encrypted.read_bytes().startswith(b"age-encryption.org/v1\n")
    out = decrypt_package(encrypted, identity[0], tmp_path / "out")
    assert _files(out) == _files(bag)
    verify(out)
    with pytest.raises(PackageError, match="exists already"):
        decrypt_package(encrypted, identity[0], tmp_path / "out")


def test_wrong_identity_and_bad_recipient(tmp_path: Path, identity: tuple[Path, str]) -> None:
    bag = _bag(tmp_path)
    with pytest.raises(PackageError, match=r"delivery.age_recipients: entry 2"):
        encrypt_package(bag, [identity[1], "age1notakey"], tmp_path / "x.tar.age")
    other = pyrage.x25519.Identity.generate()
    encrypt_package(bag, [str(other.to_public())], tmp_path / "x.tar.age")
    with pytest.raises(PackageError, match="cannot decrypt"):
        decrypt_package(tmp_path / "x.tar.age", identity[0], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(shutil.which("age") is None, reason="the age command-line tool is not installed")
def test_age_round_trip_with_the_age_tool(tmp_path: Path, identity: tuple[Path, str]) -> None:
    bag = _bag(tmp_path)
    encrypt_package(bag, [identity[1]], tmp_path / "pkg.tar.age")
    plain = subprocess.run(
        ["age", "--decrypt", "-i", str(identity[0]), str(tmp_path / "pkg.tar.age")],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        tar.extractall(tmp_path / "by-age", filter="data")
    assert _files(tmp_path / "by-age" / bag.name) == _files(bag)
    # and the other way: a file the age tool encrypted, decrypted by datashare
    tar_path = tmp_path / "pkg.tar"
    tar_path.write_bytes(plain)
    subprocess.run(["age", "-r", identity[1], "-o", str(tmp_path / "tool.tar.age"), str(tar_path)], check=True)
    out = decrypt_package(tmp_path / "tool.tar.age", identity[0], tmp_path / "out")
    verify(out)


def _crafted(tmp_path: Path, recipient: str, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        ok = tarfile.TarInfo("pkg/bagit.txt")
        ok.size = 1
        tar.addfile(ok, io.BytesIO(b"x"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    path = tmp_path / "evil.tar.age"
    path.write_bytes(pyrage.encrypt(buffer.getvalue(), [pyrage.x25519.Recipient.from_str(recipient)]))
    return path


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (tarfile.TarInfo("pkg/../../escape.txt"), "leaves the target folder"),
        (tarfile.TarInfo("/etc/evil.txt"), "absolute path"),
        (_link("pkg/link", "/etc/passwd", tarfile.SYMTYPE), "link or special"),
        (_link("pkg/hard", "pkg/bagit.txt", tarfile.LNKTYPE), "link or special"),
        (_link("pkg/dev", "", tarfile.CHRTYPE), "link or special"),
    ],
)
def test_crafted_archives_are_refused(
    tmp_path: Path, identity: tuple[Path, str], member: tarfile.TarInfo, message: str
) -> None:
    evil = _crafted(tmp_path, identity[1], member)
    with pytest.raises(PackageError, match=message):
        decrypt_package(evil, identity[0], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "escape.txt").exists()


def test_cli_decrypt(tmp_path: Path, identity: tuple[Path, str]) -> None:
    bag = _bag(tmp_path)
    encrypt_package(bag, [identity[1]], tmp_path / "pkg.tar.age")
    runner = CliRunner()
    args = ["decrypt", str(tmp_path / "pkg.tar.age"), "--identity", str(identity[0]), "--out", str(tmp_path / "o")]
    assert runner.invoke(app, args).exit_code == 0
    assert (tmp_path / "o" / bag.name / "release.json").exists()
    assert runner.invoke(app, args).exit_code != 0


# --- audit log -----------------------------------------------------------------------------


def _log(tmp_path: Path, n: int = 4) -> Path:
    path = tmp_path / "district" / "audit.jsonl"
    append_entries(path, [{"agreement": {"id": f"a{i}"}, "replaced": False} for i in range(2)])
    append_entries(path, [{"agreement": {"id": f"a{i}"}, "replaced": False} for i in range(2, n)])
    return path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_audit_chain_verifies(tmp_path: Path) -> None:
    path = _log(tmp_path)
    result = verify_audit(path)
    assert result.entries == 4
    first = json.loads(_lines(path)[0])
    assert first["prev"] == "0" * 64 and first["seq"] == 1
    assert CliRunner().invoke(app, ["audit", "verify", str(path)]).exit_code == 0


def test_edited_entry_is_named(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = _lines(path)
    lines[1] = lines[1].replace(b'"a1"', b'"a9"')
    path.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match="line 3 .entry 3.: prev does not match"):
        verify_audit(path)
    result = CliRunner().invoke(app, ["audit", "verify", str(path)])
    assert result.exit_code == 1 and "line 3" in result.output


def test_swapped_and_deleted_entries_are_detected(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = _lines(path)
    path.write_bytes(lines[0] + lines[2] + lines[1] + lines[3])
    with pytest.raises(AuditError, match="line 2: entry seq 3"):
        verify_audit(path)
    path.write_bytes(lines[0] + lines[2] + lines[3])
    with pytest.raises(AuditError, match="line 2: entry seq 3"):
        verify_audit(path)
    path.write_bytes(b"".join(lines[:3]))  # the last entry deleted: only the anchor knows
    with pytest.raises(AuditError, match="audit.head"):
        verify_audit(path)
    path.write_bytes(b"".join(lines))
    verify_audit(path)


def test_nothing_is_appended_to_a_broken_log(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = _lines(path)
    path.write_bytes(lines[1] + lines[0] + b"".join(lines[2:]))
    before = path.read_bytes()
    with pytest.raises(AuditError):
        append_entries(path, [{"agreement": {"id": "new"}}])
    assert path.read_bytes() == before


def test_an_entry_nested_too_deeply_is_named(tmp_path: Path) -> None:
    path = _log(tmp_path)
    with path.open("ab") as log:
        log.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    with pytest.raises(AuditError, match="line 5: not a JSON object"):
        verify_audit(path)
    result = CliRunner().invoke(app, ["audit", "verify", str(path)])
    assert result.exit_code == 1 and "line 5" in result.output


def test_entries_appended_after_the_anchor_are_named_as_such(tmp_path: Path) -> None:
    """A run stopped between writing its entries and moving audit.head leaves the anchor one
    step behind a valid chain: that is named (with the line that would anchor it), not taken
    for deleted entries."""
    path = _log(tmp_path)
    anchor = path.with_name("audit.head")
    head = anchor.read_text()
    append_entries(path, [{"agreement": {"id": "late"}}])
    current = anchor.read_text().strip()
    anchor.write_text(head)
    with pytest.raises(AuditError, match=r"entry 5 follows the entry audit.head records \(4\)") as info:
        verify_audit(path)
    assert f"write the line '{current}'" in str(info.value)
    anchor.write_text(current + "\n")
    assert verify_audit(path).entries == 5
