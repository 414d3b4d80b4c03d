"""Startup: a command loads only what it uses.

``validate`` runs on every nightly extract; it must not pay for great-expectations (which
checks only outgoing tables, in ``run``) or scipy. Each check runs the real command in a
fresh interpreter, so no module another test imported can hide or fake the result.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datashare.synth import synthesize

UNWANTED_BY_VALIDATE = ("great_expectations", "scipy")

PROBE = (
    "import sys, json\n"
    "from datashare.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:])\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    "else:\n"
    "    code = 0\n"
    "print('\\nPROBE ' + json.dumps([code, sorted(m.split('.')[0] for m in sys.modules)]))\n"
)


def loaded_after(*argv: str) -> tuple[int, set[str], str]:
    """The exit code of ``datashare ARGV`` in a fresh interpreter, the top-level modules it
    loaded, and what it printed."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    printed, probe = out.rsplit("PROBE ", 1)
    code, modules = json.loads(probe)
    return code, set(modules), printed


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("startup")
    for fmt in ("csv", "parquet"):
        synthesize(root / fmt, students=300, schools=4, partners=2, seed=3, format=fmt)
    return {fmt: root / fmt for fmt in ("csv", "parquet")}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_validate_imports_neither_great_expectations_nor_scipy(extracts: dict[str, Path], fmt: str) -> None:
    code, modules, printed = loaded_after("validate", str(extracts[fmt]))
    assert code == 0
    assert "attendance" in printed and "valid" in printed  # the validation really ran
    assert [m for m in UNWANTED_BY_VALIDATE if m in modules] == []
    # A clean extract costs pandera nothing, its import included: it reports failing rows.
    assert "pandera" not in modules and "pandas" not in modules


def test_validate_loads_pandera_for_a_failing_cell(extracts: dict[str, Path], tmp_path: Path) -> None:
    """pandera reports the rows of a table whose own pass counted a failing cell."""
    import shutil

    folder = tmp_path / "dirty"
    shutil.copytree(extracts["csv"], folder)
    lines = (folder / "grades.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    cells[7] = "nine"  # grade_points
    lines[1] = ",".join(cells)
    (folder / "grades.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, modules, printed = loaded_after("validate", str(folder))
    assert code != 0
    assert "pandera" in modules
    assert "invalid_number" in printed
