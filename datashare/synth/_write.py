"""Writing the extract's tables in chunks, so that a large district never sits in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from datashare.errors import SynthError, SynthOutputExists
from datashare.extract.schema import ALL_TABLES, TABLES, load_schemas

_BATCH_ROWS = 1 << 20  # rows per Parquet row group
_ARROW = {
    "id": pa.string(), "text": pa.string(), "enum": pa.string(), "school_year": pa.string(),
    "date": pa.date32(), "bool": pa.bool_(), "number": pa.float64(), "integer": pa.int64(),
}

SCHEMAS: dict[str, pa.Schema] = {
    table: pa.schema([(c.name, _ARROW[c.type]) for c in schema.columns])
    for table, schema in load_schemas().items()
}
"""The Parquet schema of each table, from the canonical extract schemas."""


def existing_extract_files(out_dir: Path) -> list[str]:
    """Names of the extract files already in ``out_dir``."""
    if not out_dir.is_dir():
        return []
    names = {f"{t}.{ext}" for t in ALL_TABLES for ext in ("csv", "parquet")}
    return sorted(p.name for p in out_dir.iterdir() if p.name in names)


class ExtractWriter:
    """Appends chunks to each table's file; the files take their real names only on close.

    A run that fails half-way leaves no half-written table behind under a name that a
    validator or a release would read.
    """

    def __init__(self, out_dir: Path, fmt: str, tables: tuple[str, ...] = TABLES) -> None:
        clash = existing_extract_files(out_dir)
        if clash:
            raise SynthOutputExists(
                f"{out_dir}: already holds extract files ({', '.join(clash)}); "
                "choose an empty folder, a district's data is never overwritten"
            )
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            message = f"{out_dir}: cannot create the output folder ({exc.strerror})"
            raise SynthError(message) from exc
        self.fmt = fmt
        self.tables = tables
        self.paths = {t: out_dir / f"{t}.{fmt}" for t in tables}
        self._partial = {t: out_dir / f".{t}.{fmt}.partial" for t in tables}
        self._writers: dict[str, Any] = {}
        self.rows = dict.fromkeys(tables, 0)

    def write(self, table: str, columns: dict[str, Any]) -> None:
        """Append one chunk of ``table`` given as its columns (arrow arrays or numpy)."""
        data = pa.table(columns, schema=SCHEMAS[table])
        if self.fmt == "parquet":
            self._writer(table).write_table(data, row_group_size=_BATCH_ROWS)
        else:  # polars writes CSV without holding on to the chunk, quoting only when needed
            pl.from_arrow(data).write_csv(self._writer(table), include_header=False)
        self.rows[table] += data.num_rows

    def _writer(self, table: str) -> Any:
        if table not in self._writers:
            schema, path = SCHEMAS[table], self._partial[table]
            if self.fmt == "parquet":
                self._writers[table] = pq.ParquetWriter(path, schema, compression="zstd")
            else:
                handle = path.open("wb")
                handle.write((",".join(schema.names) + "\n").encode())
                self._writers[table] = handle
        return self._writers[table]

    def close(self) -> dict[str, Path]:
        """Finish every file (an empty table keeps its header) and give it its name."""
        for table in self.tables:
            self._writer(table).close()
            self._partial[table].replace(self.paths[table])
        return dict(self.paths)

    def abort(self) -> None:
        """Close and remove every partial file."""
        for writer in self._writers.values():
            writer.close()
        for path in self._partial.values():
            path.unlink(missing_ok=True)
