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


def loaded_after(*argv: str) -> tuple[int, set[str]]:
    """The exit code of ``datashare ARGV`` in a fresh interpreter and the top-level modules it loaded."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    code, modules = json.loads(out.rsplit("PROBE ", 1)[1])
    return code, set(modules)


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("startup")
    for fmt in ("csv", "parquet"):
        synthesize(root / fmt, students=300, schools=4, partners=2, seed=3, format=fmt)
    return {fmt: root / fmt for fmt in ("csv", "parquet")}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_validate_imports_neither_great_expectations_nor_scipy(extracts: dict[str, Path], fmt: str) -> None:
    code, modules = loaded_after("validate", str(extracts[fmt]))
    assert code == 0
    assert "pandera" in modules  # the validation really ran
    assert [m for m in UNWANTED_BY_VALIDATE if m in modules] == []
