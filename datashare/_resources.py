"""Find the files shipped with datashare: extract schemas and agreement templates.

In a wheel they live under ``datashare/_data/``; in a checkout they are the top-level
``schemas/`` and ``agreements/`` folders. Both layouts are supported so that the same code
runs from ``pip install datashare`` and from ``pip install -e .``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "datashare's shipped data is missing; looked in: " + ", ".join(map(str, candidates))
    )


def schemas_dir() -> Path:
    """The folder of extract schemas (one YAML file per table)."""
    return _first_existing(_PACKAGE / "_data" / "schemas", _PACKAGE.parent / "schemas")


def templates_dir() -> Path:
    """The folder of agreement templates shipped with datashare."""
    return _first_existing(
        _PACKAGE / "_data" / "agreements" / "templates",
        _PACKAGE.parent / "agreements" / "templates",
    )


def examples_dir() -> Path:
    """The folder of example agreements for the synthetic district."""
    return _first_existing(
        _PACKAGE / "_data" / "agreements" / "examples",
        _PACKAGE.parent / "agreements" / "examples",
    )
