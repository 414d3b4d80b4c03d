"""Read the SIS extract lazily: every table as text first, typed only once it is valid.

CSV is read with no type inference, so an identifier such as ``000123`` keeps its zeros
and a bad cell is a finding rather than a parser crash. Parquet may hold the canonical
types already (dates as dates) or text; both are accepted. Nothing here ever writes to the
extract folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from datashare.extract.schema import ALL_TABLES, DATE_FORMAT, TABLES, ColumnSpec, TableSchema
from datashare.schoolyear import SchoolYear

ROW = "__row"
"""Internal column: the row as reports give it (CSV line number, or 1-based Parquet row)."""


@dataclass(frozen=True)
class TableFile:
    """Where one table of the extract lives."""

    table: str
    path: Path
    format: str  # "csv" or "parquet"

    @property
    def first_row(self) -> int:
        """Report number of the first data row: line 2 of a CSV (after the header), row 1 of Parquet."""
        return 2 if self.format == "csv" else 1


def locate(folder: Path, table: str) -> list[TableFile]:
    """The files that hold ``table`` in ``folder`` (zero, one, or two when both formats exist)."""
    found = []
    for fmt in ("csv", "parquet"):
        path = folder / f"{table}.{fmt}"
        if path.is_file():
            found.append(TableFile(table, path, fmt))
    return found


def scan_raw(file: TableFile) -> pl.LazyFrame:
    """The table as the file holds it: CSV all text; Parquet as stored, categoricals as text,
    and a column of Arrow's null type (what pandas and pyarrow write for a column holding
    only None) as empty text, so that an optional column left empty is no type error."""
    if file.format == "csv":
        return pl.scan_csv(
            file.path,
            infer_schema=False,
            encoding="utf8-lossy",
            empty_string_is_null=True,
            raise_if_empty=False,
            truncate_ragged_lines=False,
        )
    lf = pl.scan_parquet(file.path)
    schema = lf.collect_schema()
    casts = [
        pl.col(name).cast(pl.String)
        for name, dtype in schema.items()
        if isinstance(dtype, (pl.Categorical, pl.Enum, pl.Null))
    ]
    return lf.with_columns(casts) if casts else lf


def header_names(file: TableFile) -> list[str] | None:
    """The column names as the file's header line holds them, duplicates included.

    ``scan_csv`` renames a repeated name (``x_duplicated_0``); the validator needs the
    header as written to report a repeated column. ``None`` when the line cannot be read.
    """
    if file.format != "csv":
        return None
    try:
        first = pl.read_csv(
            file.path, has_header=False, n_rows=1, infer_schema=False, encoding="utf8-lossy",
            truncate_ragged_lines=True,
        )
    except Exception:  # noqa: BLE001 - the full read reports an unreadable file on its own
        return None
    return ["" if v is None else str(v) for v in first.row(0)] if first.height else None


def _typed_column(spec: ColumnSpec, source: pl.DataType | None) -> pl.Expr:
    """The canonical typed expression of one column; unparseable cells become null."""
    col = pl.col(spec.name)
    if source is None:
        return pl.lit(None, dtype=spec.dtype).alias(spec.name)
    if source == pl.String:
        match spec.type:
            case "date":
                return col.str.to_date(DATE_FORMAT, strict=False)
            case "bool":
                lowered = col.str.to_lowercase()
                return (
                    pl.when(lowered.is_in(["true", "1"]))
                    .then(True)
                    .when(lowered.is_in(["false", "0"]))
                    .then(False)
                    .otherwise(None)
                    .alias(spec.name)
                )
            case "integer" | "number":
                return col.str.strip_chars().cast(spec.dtype, strict=False)
            case _:
                return col
    return col.cast(spec.dtype, strict=False)


def typed(
    raw: pl.LazyFrame, table: TableSchema, source: Mapping[str, pl.DataType], keep: tuple[str, ...] = ()
) -> pl.LazyFrame:
    """Select the schema's columns in order, with their canonical dtypes.

    Optional columns absent from the file appear as nulls; columns the schema does not name
    are dropped here, so nothing outside the schema can ever reach a release.
    """
    return raw.select([*keep, *(_typed_column(spec, source.get(spec.name)) for spec in table.columns)])


@dataclass(frozen=True)
class Extract:
    """A validated extract: typed lazy tables, their source files and the school year."""

    folder: Path
    tables: Mapping[str, pl.LazyFrame]
    files: Mapping[str, Path]
    school_year: SchoolYear
    report: object  # ValidationReport; typed loosely to keep this module free of the validator
    aggregates: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    """Results of the aggregations a caller asked the validator to compute (``riders``)."""
    workdir: Any = field(default=None, repr=False, compare=False)
    """The private folder holding CSV tables staged as Parquet (removed by :meth:`close` or at exit)."""

    def close(self) -> None:
        """Delete the staged copies of CSV tables; the lazy tables cannot be read after this."""
        if self.workdir is not None:
            self.workdir.cleanup()

    def __enter__(self) -> Extract:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, table: str) -> pl.LazyFrame:
        return self.tables[table]


__all__ = ["ALL_TABLES", "ROW", "TABLES", "Extract", "TableFile", "locate", "scan_raw", "typed"]
