"""Write the built tables as an extract folder (UTF-8 CSV, ISO dates, ids as text).

The output folder must not already hold an extract table: a district's data is never
overwritten. Service contacts and consents are copied from the district's CSV files as
they are (the validator then checks them like any other table); without them the table
is written header-only, with a warning.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from datashare.edfi.findings import finding
from datashare.errors import ImportSourceError
from datashare.extract.report import Finding
from datashare.extract.schema import TABLES, load_schemas

EXTRACT_TABLES = (*TABLES, "calendar")


def prepare_out(out: Path) -> None:
    """Create ``out``, refusing one that already holds extract files."""
    if out.exists() and not out.is_dir():
        raise ImportSourceError(f"--out {out} exists and is not a folder")
    if out.is_dir():
        present = sorted(p.name for t in EXTRACT_TABLES for p in (out / f"{t}.csv", out / f"{t}.parquet") if p.exists())
        if present:
            raise ImportSourceError(
                f"--out {out} already holds extract files ({', '.join(present[:3])}); "
                "choose an empty folder: an existing extract is never overwritten"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImportSourceError(f"--out {out} cannot be created ({type(exc).__name__})") from None


def write_table(out: Path, name: str, frame: pl.DataFrame) -> int:
    frame.write_csv(out / f"{name}.csv", date_format="%Y-%m-%d")
    return frame.height


def copy_or_header(out: Path, name: str, given: Path | None, option: str) -> tuple[int | None, list[Finding]]:
    """Copy the district's CSV for ``name``, or write it header-only with a warning."""
    target = out / f"{name}.csv"
    if given is None:
        columns = load_schemas()[name].names
        pl.DataFrame(schema={c: pl.String for c in columns}).write_csv(target)
        return 0, [finding(
            "not_supplied", name,
            f"{name} are not part of Ed-Fi and {option} was not given: {name}.csv is written header-only",
            severity="warning",
        )]
    if not given.is_file():
        raise ImportSourceError(f"{option} {given}: no such file")
    try:
        shutil.copyfile(given, target)
    except OSError as exc:
        raise ImportSourceError(f"{option} {given} cannot be copied ({type(exc).__name__})") from None
    return None, []
