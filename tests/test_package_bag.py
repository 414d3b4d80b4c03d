"""The package: deterministic bag, signature, verification naming the file at fault, CLI."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from package_fixtures import release
from typer.testing import CliRunner

from datashare.cli import app
from datashare.errors import KeyFileError, PackageError, VerificationError
from datashare.package.bag import write_package
from datashare.package.sign import (
    generate_signing_keys,
    load_private_key,
    load_public_key,
    sign_bag,
)
from datashare.package.verify import verify

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    generate_signing_keys(folder / "sign.pem", folder / "sign.pub.pem")
    return folder / "sign.pem", folder / "sign.pub.pem"


@pytest.fixture(scope="module")
def signed_template(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path]) -> Path:
    bag = tmp_path_factory.mktemp("tpl") / "el-centro-2025-2026"
    write_package(release(), bag)
    sign_bag(bag, load_private_key(keys[0]))
    return bag


@pytest.fixture
def signed(tmp_path: Path, signed_template: Path) -> Path:
    bag = tmp_path / signed_template.name
    shutil.copytree(signed_template, bag)
    return bag


def _files(bag: Path) -> dict[str, bytes]:
    return {p.relative_to(bag).as_posix(): p.read_bytes() for p in sorted(bag.rglob("*")) if p.is_file()}


def test_layout_and_determinism(tmp_path: Path) -> None:
    one = write_package(release(), tmp_path / "a")
    write_package(release(), tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert sorted(_files(tmp_path / "a")) == [
        "bag-info.txt", "bagit.txt",
        "data/README.md", "data/aggregate_comparison.csv", "data/aggregate_comparison.parquet",
        "data/datapackage.json", "data/individual/attendance.parquet",
        "data/individual/students.parquet", "data/report.html",
        "manifest-sha256.txt", "release.json", "tagmanifest-sha256.txt",
    ]  # fmt: skip
    info = (tmp_path / "a" / "bag-info.txt").read_text()
    assert "Bagging-Date: 2026-03-01\n" in info
    assert "External-Identifier: el-centro-2025-2026 v1\n" in info
    assert "Source-Organization: Apple Tree School District\n" in info
    assert "release.json" in (tmp_path / "a" / "tagmanifest-sha256.txt").read_text()
    assert one.release["files"]["data/individual/students.parquet"]["rows"] == 3
    back = pl.read_parquet(tmp_path / "a" / "data" / "individual" / "students.parquet")
    assert back.equals(release().tables["students"])
    assert pl.read_csv(tmp_path / "a" / "data" / "aggregate_comparison.csv").height == 4


def test_aggregate_only_package_has_no_individual_files(tmp_path: Path) -> None:
    write_package(release(individual=False), tmp_path / "p")
    assert not (tmp_path / "p" / "data" / "individual").exists()
    verify(tmp_path / "p")


def test_datapackage_and_readme_describe_every_column(tmp_path: Path) -> None:
    import json

    write_package(release(), tmp_path / "p")
    descriptor = json.loads((tmp_path / "p" / "data" / "datapackage.json").read_text())
    resources = {r["path"]: r for r in descriptor["resources"]}
    assert set(resources) == {
        "aggregate_comparison.csv", "aggregate_comparison.parquet",
        "individual/students.parquet", "individual/attendance.parquet",
    }  # fmt: skip
    students = resources["individual/students.parquet"]["schema"]
    assert [f["name"] for f in students["fields"]] == ["student_key", "school_id", "grade_level", "english_learner"]
    assert students["primaryKey"] == ["student_key", "school_id"]
    assert all(f["description"] for r in resources.values() for f in r["schema"]["fields"])
    assert resources["aggregate_comparison.csv"]["hash"].startswith("sha256:")
    text = (tmp_path / "p" / "data" / "README.md").read_text()
    for needle in ("2027-06-30", "Evaluate after-school tutoring.", "at least 9", "`english_learner`", "`note`"):
        assert needle in text


def test_unknown_table_is_refused(tmp_path: Path) -> None:
    import dataclasses

    rel = release()
    leaky = dataclasses.replace(rel, tables={**rel.tables, "raw_students": pl.DataFrame({"x": [1]})})
    with pytest.raises(PackageError, match="raw_students"):
        write_package(leaky, tmp_path / "p")


def test_signed_package_verifies(signed: Path, keys: tuple[Path, Path]) -> None:
    result = verify(signed, public_key=keys[1])
    assert result.valid and result.signed and result.signature_checked


def test_unsigned_package_says_so_and_fails_with_a_key(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    write_package(release(), tmp_path / "p")
    result = verify(tmp_path / "p")
    assert result.valid and not result.signed
    assert any("UNSIGNED" in m for m in result.messages)
    with pytest.raises(VerificationError, match="unsigned"):
        verify(tmp_path / "p", public_key=keys[1])


def test_wrong_public_key(signed: Path, tmp_path: Path) -> None:
    generate_signing_keys(tmp_path / "other.pem", tmp_path / "other.pub")
    with pytest.raises(VerificationError, match="wrong key"):
        verify(signed, public_key=tmp_path / "other.pub")


@pytest.mark.parametrize(
    "name",
    [
        "bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt",
        "tagmanifest-sha256.txt.sig", "release.json", "data/README.md", "data/datapackage.json",
        "data/aggregate_comparison.csv", "data/aggregate_comparison.parquet",
        "data/individual/students.parquet",
    ],
)  # fmt: skip
def test_flipped_byte_is_named(signed: Path, keys: tuple[Path, Path], name: str) -> None:
    path = signed / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError) as info:
        verify(signed, public_key=keys[1])
    assert str(info.value).startswith(name.split(".sig")[0])
    assert name in str(info.value)


def test_added_and_deleted_files_are_named(signed: Path, keys: tuple[Path, Path]) -> None:
    (signed / "data" / "extra.csv").write_text("student_id\n000101\n")
    with pytest.raises(VerificationError, match=r"^data/extra.csv: unexpected"):
        verify(signed, public_key=keys[1])
    (signed / "data" / "extra.csv").unlink()
    (signed / "notes.txt").write_text("hi")
    with pytest.raises(VerificationError, match=r"^notes.txt: unexpected"):
        verify(signed, public_key=keys[1])
    (signed / "notes.txt").unlink()
    (signed / "data" / "individual" / "attendance.parquet").unlink()
    with pytest.raises(VerificationError, match=r"^data/individual/attendance.parquet: missing"):
        verify(signed, public_key=keys[1])


def test_release_json_must_agree_with_files(tmp_path: Path) -> None:
    """An unsigned package re-sealed after editing release.json is caught by the cross-check."""
    import json

    from datashare.package.bag import write_tagmanifest

    write_package(release(), tmp_path / "p")
    path = tmp_path / "p" / "release.json"
    record = json.loads(path.read_text())
    record["files"]["data/individual/students.parquet"]["rows"] = 2
    path.write_text(json.dumps(record))
    write_tagmanifest(tmp_path / "p")
    with pytest.raises(VerificationError, match=r"^data/individual/students.parquet: has 3 rows"):
        verify(tmp_path / "p")


def test_signing_keys_are_safe(tmp_path: Path) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    generate_signing_keys(private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        generate_signing_keys(private, tmp_path / "new.pub")
    load_public_key(public)
    with pytest.raises(KeyFileError, match="not found"):
        load_private_key(tmp_path / "missing.pem")
    not_private = tmp_path / "not-private.pem"
    not_private.write_bytes(public.read_bytes())
    os.chmod(not_private, 0o600)
    with pytest.raises(KeyFileError, match="this is a public key; --signing-key takes the district's private key"):
        load_private_key(not_private)
    not_pem = tmp_path / "not-pem.pem"
    not_pem.write_bytes(b"not a key")
    os.chmod(not_pem, 0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        load_private_key(not_pem)
    os.chmod(private, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_private_key(private)
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(tmp_path / "k.pem")


def test_cli_verify_keys_and_example(signed: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", str(signed), "--public-key", str(keys[1])])
    assert ok.exit_code == 0, ok.output
    assert "valid and signed" in ok.output
    made = runner.invoke(app, ["keys", "signing", str(tmp_path / "a.pem"), str(tmp_path / "a.pub")])
    assert made.exit_code == 0 and (tmp_path / "a.pem").exists()
    again = runner.invoke(app, ["keys", "signing", str(tmp_path / "a.pem"), str(tmp_path / "b.pub")])
    assert again.exit_code != 0
    example = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "partner_verify.py"), str(signed), str(keys[1])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert example.returncode == 0, example.stderr
    assert "individual/students.parquet: 3 rows x 4 columns" in example.stdout
    (signed / "release.json").write_text("{}")
    bad = runner.invoke(app, ["verify", str(signed), "--public-key", str(keys[1])])
    assert bad.exit_code == 1
    assert "release.json" in bad.output


def test_a_release_record_nested_too_deeply_is_not_a_release_record(tmp_path: Path) -> None:
    """A crafted release.json (re-hashed into the tag manifest) of 100,000 nested arrays: a
    finding naming the file, not a RecursionError."""
    import hashlib

    write_package(release(), tmp_path / "p")
    record = tmp_path / "p" / "release.json"
    record.write_text("[" * 100_000 + "]" * 100_000)
    digest = hashlib.sha256(record.read_bytes()).hexdigest()
    manifest = tmp_path / "p" / "tagmanifest-sha256.txt"
    lines = [f"{digest}  release.json" if line.endswith(" release.json") else line for line in manifest.read_text().splitlines()]
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(VerificationError, match="release.json: not a release record"):
        verify(tmp_path / "p")
    result = CliRunner().invoke(app, ["verify", str(tmp_path / "p")])
    assert result.exit_code == 1 and "not a release record" in result.output and "Traceback" not in result.output
