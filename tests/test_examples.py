"""Every script in examples/ runs, as a district or a partner would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from datashare._resources import examples_dir
from datashare.package.sign import generate_signing_keys
from datashare.release.keys import init_secret
from datashare.synth import synthesize

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def etl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("etl")
    synthesize(root / "extract", students=500, schools=3, partners=2, seed=3, format="parquet")
    init_secret(root / "district.key")
    generate_signing_keys(root / "signing.pem", root / "signing.pub")
    result = _run(
        "district_etl.py", root / "extract", examples_dir(), root / "district.key", root / "out",
        "2026-06-30", root / "signing.pem",
    )
    return root, result


def test_district_etl_releases_every_agreement(etl) -> None:
    root, result = etl
    assert result.returncode == 0, result.stderr
    assert "el-centro/el-centro-2025-2026: new" in result.stdout
    assert (root / "out" / "partners" / "el-centro" / "el-centro-2025-2026" / "bagit.txt").is_file()


def test_partner_verify_checks_and_loads_a_package(etl) -> None:
    root, _ = etl
    package = root / "out" / "partners" / "el-centro" / "el-centro-2025-2026"
    result = _run("partner_verify.py", package, root / "signing.pub")
    assert result.returncode == 0, result.stderr
    assert "data/individual/students.parquet" in result.stdout


def test_district_etl_stops_on_an_invalid_extract(etl, tmp_path: Path) -> None:
    root, _ = etl
    bad = tmp_path / "extract"
    bad.mkdir()
    for path in (root / "extract").iterdir():
        if path.name != "grades.parquet":
            (bad / path.name).write_bytes(path.read_bytes())
    result = _run("district_etl.py", bad, examples_dir(), root / "district.key", tmp_path / "out", "2026-06-30")
    assert result.returncode == 1
    assert "grades.None: missing_table" in result.stdout
    assert (tmp_path / "out" / "validation_report.json").is_file()
    assert not (tmp_path / "out" / "partners").exists()
