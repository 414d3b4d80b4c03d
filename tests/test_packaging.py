"""The installed package: a wheel carries its schemas and templates; every command has --help."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datashare.cli import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
    )
    return next(out.glob("datashare-*.whl"))


@pytest.mark.slow
def test_wheel_ships_schemas_and_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "datashare/_data/schemas/attendance.yaml" in names
    assert any(n.startswith("datashare/_data/agreements/templates/") and n.endswith(".yaml") for n in names)
    # The page templates of the partner's report and the district overview.
    assert {"datashare/package/templates/report.html.j2", "datashare/package/templates/district_index.html.j2"} <= set(names)
    assert "datashare/edfi/descriptors.yaml" in names  # the Ed-Fi import's default descriptor map


@pytest.mark.slow
def test_wheel_installed_package_finds_its_schemas(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
    )
    code = (
        "import datashare, datashare._resources as r;"
        "from datashare.extract import load_schemas;"
        "print(datashare.__file__); print(r.schemas_dir()); print(sorted(load_schemas()))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith(str(target))
    assert out[1] == str(target / "datashare" / "_data" / "schemas")
    assert "attendance" in out[2]


def _commands(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group) if not hasattr(group, "commands") else group
    for name, command in click_group.commands.items():
        path = (*prefix, name)
        yield path
        if hasattr(command, "commands"):
            yield from _commands(command, path)


def test_every_command_has_help() -> None:
    runner = CliRunner()
    paths = list(_commands(app))
    assert ("validate",) in paths and ("synth",) in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
