"""Write one partner's release as a BagIt bag (RFC 8493) in the layout of CONTRACT section 5.

The bag is deterministic: the same :class:`PartnerRelease` gives byte-identical files,
tag files included (Parquet with fixed settings and no timestamps, CSV with fixed float
formatting, JSON with sorted keys, ``Bagging-Date`` set to ``as_of`` rather than today,
and the tag manifest written in sorted order). An auditor can re-run a release and compare
hashes; a rerun of ``datashare run`` can tell that nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import bagit
import polars as pl

import datashare
from datashare.errors import PackageError
from datashare.package.describe import REPORT_FILE, FileEntry, datapackage, readme, table_schema
from datashare.package.report import render_report
from datashare.release.types import GATES, PartnerRelease

INDIVIDUAL_TABLES: tuple[str, ...] = ("students", "attendance", "discipline", "grades")
"""The individual tables a package may hold, in contract order."""

RELEASE_JSON = "release.json"
TAGMANIFEST = "tagmanifest-sha256.txt"
MANIFEST = "manifest-sha256.txt"
SIGNATURE = TAGMANIFEST + ".sig"
_BAGIT = threading.Lock()
"""Held while bagit makes a bag: ``make_bag`` changes the process's working directory until
it returns, so two bags are never made at once, and packages written from several threads
must be given absolute paths."""

TAG_FILES: tuple[str, ...] = ("bag-info.txt", "bagit.txt", MANIFEST, RELEASE_JSON)
"""The tag files every package has, each listed in the tag manifest."""

# zstd at its default level: level 9 took twice as long to write for files 2 to 6% smaller.
_PARQUET = {"compression": "zstd", "compression_level": 3, "statistics": True, "row_group_size": 65536}


@dataclass(frozen=True)
class PackageInfo:
    """What :func:`write_package` wrote: the bag folder, its files and its ``release.json``."""

    path: Path
    partner_id: str
    agreement_id: str
    files: tuple[FileEntry, ...]
    release: Mapping[str, object]

    @property
    def manifest_sha256(self) -> str:
        """SHA-256 of ``manifest-sha256.txt``, which covers every payload file."""
        return sha256_file(self.path / MANIFEST)


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dumps_json(value: object) -> str:
    """JSON text as every package and district file writes it: sorted keys, two spaces."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_package(release: PartnerRelease, dest: Path, report: pl.DataFrame | None = None) -> PackageInfo:
    """Write ``release`` as a bag at ``dest`` (a new or empty folder) and return what was written.

    Packages may be written from several threads or processes at once when each ``dest`` is
    absolute. Nothing about the district's input files is written: the audit log records them.
    ``report``: the rows of its report (:func:`~datashare.package.report.report_rows`), when
    the caller made them for every package at once.
    """
    unknown = sorted(set(release.tables) - {"aggregate_comparison", *INDIVIDUAL_TABLES})
    if unknown:
        raise PackageError(
            f"agreement {release.agreement_id}: the release holds table(s) {', '.join(unknown)}; "
            "a package may hold only aggregate_comparison and " + ", ".join(INDIVIDUAL_TABLES)
        )
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise PackageError(f"{dest}: the package folder exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)

    tables = {
        name: release.tables[name]
        for name in ("aggregate_comparison", *INDIVIDUAL_TABLES)
        if name in release.tables
    }
    entries: list[FileEntry] = []
    for name, df in tables.items():
        if name == "aggregate_comparison":
            entries.append(_write_table(df, dest, "aggregate_comparison.csv", name, "csv"))
            entries.append(_write_table(df, dest, "aggregate_comparison.parquet", name, "parquet"))
        else:
            entries.append(_write_table(df, dest, f"individual/{name}.parquet", name, "parquet"))
    withdrawn = release.withdrawn
    if withdrawn is not None and withdrawn.height:
        tables["withdrawn"] = withdrawn
        entries.append(_write_table(withdrawn, dest, "withdrawn.csv", "withdrawn", "csv"))

    as_of = release.as_of.isoformat()
    schemas = {name: table_schema(name, df) for name, df in tables.items()}  # each checks its key once
    (dest / "datapackage.json").write_text(
        datapackage(release.agreement, schemas, entries), encoding="utf-8", newline="\n"
    )
    (dest / REPORT_FILE).write_text(render_report(release, report), encoding="utf-8", newline="\n")
    (dest / "README.md").write_text(
        readme(release.agreement, tables, entries, schemas=schemas, as_of=as_of), encoding="utf-8", newline="\n"
    )

    agreement = release.agreement
    bag_info = {
        "Source-Organization": agreement.district.name if agreement.district else "",
        "External-Identifier": f"{agreement.id} v{agreement.version}",
        "External-Description": agreement.title or "",
        "Bagging-Date": as_of,
        "Bag-Software-Agent": f"datashare {datashare.__version__} (bagit.py {bagit.VERSION})",
    }
    try:
        with _BAGIT:
            bagit.make_bag(str(dest), bag_info=bag_info, checksums=["sha256"])
    except (bagit.BagError, OSError, RuntimeError) as exc:
        raise PackageError(f"{dest}: cannot make the BagIt bag: {exc}") from exc

    payload = {
        "data/" + path: {"rows": rows, "bytes": size, "sha256": digest}
        for path, rows, size, digest in _payload_files(dest, entries)
    }
    record = {
        "datashare_release": 1,
        "datashare_version": datashare.__version__,
        "agreement": {
            "id": agreement.id,
            "version": agreement.version,
            "sha256": release.agreement_sha256,
            "title": agreement.title,
        },
        "district": {"id": agreement.district.id, "name": agreement.district.name}
        if agreement.district
        else None,
        "partner": {"id": agreement.partner.id, "name": agreement.partner.name}
        if agreement.partner
        else None,
        "as_of": as_of,
        "school_year": release.school_year or agreement.school_year,
        "gates": {gate: int(release.gates.get(gate, 0)) for gate in GATES},
        "withdrawn": int(withdrawn.height) if withdrawn is not None else 0,
        "suppression": {str(k): int(v) for k, v in sorted(release.suppression.items())},
        "files": payload,
    }
    (dest / RELEASE_JSON).write_text(dumps_json(record), encoding="utf-8", newline="\n")
    write_tagmanifest(dest)
    return PackageInfo(
        path=dest,
        partner_id=release.partner_id,
        agreement_id=release.agreement_id,
        files=tuple(entries),
        release=record,
    )


def write_tagmanifest(bag_dir: Path) -> None:
    """(Re)write ``tagmanifest-sha256.txt`` over every top-level tag file, in sorted order.

    bagit lists tag files in directory order, which differs between file systems; sorting
    keeps the tag manifest, and so its signature, byte-identical across runs.
    """
    names = sorted(
        p.name
        for p in bag_dir.iterdir()
        if p.is_file() and not p.name.startswith("tagmanifest-")
    )
    text = "".join(f"{sha256_file(bag_dir / name)} {name}\n" for name in names)
    (bag_dir / TAGMANIFEST).write_text(text, encoding="utf-8", newline="\n")


def _write_table(df: pl.DataFrame, dest: Path, rel: str, table: str, fmt: str) -> FileEntry:
    path = dest / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_csv(df, path)
    else:
        write_parquet(df, path)
    return FileEntry(rel, table, fmt, df.height, path.stat().st_size, sha256_file(path))


FORMULA_START = "^[=+\\-@\t\r]"
"""A text cell starting with one of these is run as a formula by spreadsheets (CONTRACT section 5)."""


def neutralize_formulas(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every text cell that a spreadsheet would run as a formula prefixed by ``'``.

    Only text columns change: numbers stay numbers. A school name comes from the SIS and is
    not trusted (``=HYPERLINK(...)`` would otherwise reach the partner's spreadsheet).
    """
    texts = [name for name, dtype in df.schema.items() if dtype == pl.String]
    return df.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )


def write_csv(df: pl.DataFrame, path: Path) -> None:
    """Write a CSV as every file under ``OUT/partners/`` is written: formulas neutralized,
    fixed float formatting, empty cells for nulls, ``\\n`` line ends."""
    neutralize_formulas(df).write_csv(path, float_scientific=False, null_value="", line_terminator="\n")


def write_parquet(df: pl.DataFrame, path: Path) -> None:
    """Write a package Parquet file, with pandas metadata so that pandas loads every integer
    column as a nullable integer (``Int64``) and every boolean as ``boolean``, not as floats
    or objects when a cell is null. polars, pyarrow and DuckDB ignore that metadata."""
    columns = [
        {
            "name": name,
            "field_name": name,
            "pandas_type": "bool" if dtype == pl.Boolean else str(dtype).lower(),
            "numpy_type": "boolean" if dtype == pl.Boolean else str(dtype),
            "metadata": None,
        }
        for name, dtype in df.schema.items()
        if dtype.is_integer() or dtype == pl.Boolean
    ]
    schema = df.head(0).to_arrow().schema
    if columns:
        pandas = {"index_columns": [], "column_indexes": [], "columns": columns, "creator": {"library": "datashare"}}
        schema = schema.with_metadata({"pandas": json.dumps(pandas, sort_keys=True)})
    df.write_parquet(path, arrow_schema=schema, **_PARQUET)


def _payload_files(
    bag_dir: Path, entries: list[FileEntry]
) -> list[tuple[str, int | None, int, str]]:
    """Every file under ``data/`` with its rows (tables only), bytes and sha256, sorted."""
    rows = {entry.path: entry.rows for entry in entries}
    data = bag_dir / "data"
    out = []
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        rel = path.relative_to(data).as_posix()
        out.append((rel, rows.get(rel), path.stat().st_size, sha256_file(path)))
    return out
