"""Fuzzing the validator: random corruptions of cells, lines and bytes of every table.

Each case must end in a report or a clean :class:`DatashareError`, never another
exception, and quickly; and no finding may quote a cell of the corrupted file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
from extract_fixtures import ROWS, write_extract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datashare.errors import DatashareError
from datashare.extract import validate
from datashare.extract.report import ValidationReport

CALENDAR = "school_id,date\n0101,2025-08-18\n0101,2025-08-19\n0101,2025-08-20\n0202,2025-08-18\n0202,2026-02-02\n0101,2025-08-18\n"
TABLES = [*ROWS, "calendar"]

nasty_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from([
        "", " ", "\x00", "[/x]", "[link=https://x.example]a[/link]", '"', '""', "a,b", "\n", "\r\n",
        "9/2/2019", "2025-02-30", "-1", "1e309", "NaN", "99999999999999999999", "true", "TRUE",
        "000123 ", " 000123", "2025", "2025-2026", "\ufeffx", "student_id", "=cmd()",
    ]),
)
raw_bytes = st.binary(max_size=16)


@st.composite
def corruption(draw: st.DrawFn) -> tuple:
    table = draw(st.sampled_from(TABLES))
    kind = draw(st.sampled_from(["cell", "header_cell", "drop_line", "dup_line", "insert_line", "bytes", "truncate", "empty", "remove", "parquet"]))
    return table, kind, draw(nasty_text), draw(raw_bytes), draw(st.integers(0, 10_000)), draw(st.booleans())


def _corrupt(folder: Path, table: str, kind: str, text: str, data: bytes, pick: int) -> None:
    path = folder / f"{table}.csv"
    if not path.exists():
        return
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if kind in ("cell", "header_cell"):
        row = 0 if kind == "header_cell" else 1 + pick % max(len(lines) - 2, 1)
        cells = lines[row].split(b",") if row < len(lines) else [b""]
        cells[pick % len(cells)] = text.encode("utf-8", "surrogatepass")
        if row < len(lines):
            lines[row] = b",".join(cells)
        path.write_bytes(b"\n".join(lines))
    elif kind == "drop_line":
        del lines[pick % len(lines)]
        path.write_bytes(b"\n".join(lines))
    elif kind == "dup_line":
        lines.insert(pick % len(lines), lines[pick % len(lines)])
        path.write_bytes(b"\n".join(lines))
    elif kind == "insert_line":
        lines.insert(pick % len(lines), text.encode("utf-8", "surrogatepass"))
        path.write_bytes(b"\n".join(lines))
    elif kind == "bytes":
        at = pick % (len(raw) + 1)
        path.write_bytes(raw[:at] + data + raw[at:])
    elif kind == "truncate":
        path.write_bytes(raw[: pick % (len(raw) + 1)])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "remove":
        path.unlink()
    elif kind == "parquet":  # the same table as Parquet, one column stored with a wrong type
        try:
            frame = pl.read_csv(path, infer_schema=False)
        except pl.exceptions.PolarsError:
            return
        if frame.width:
            column = frame.columns[pick % frame.width]
            frame = frame.with_columns(pl.col(column).cast(pl.Int64, strict=False))
        path.unlink()
        frame.write_parquet(folder / f"{table}.parquet")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(corruption(), min_size=1, max_size=3))
def test_any_corruption_gives_a_report_or_a_clean_error(tmp_path_factory, cases) -> None:
    folder = write_extract(tmp_path_factory.mktemp("fuzz") / "x")
    if any(calendar for *_, calendar in cases):
        (folder / "calendar.csv").write_text(CALENDAR)
    for table, kind, text, data, pick, _ in cases:
        _corrupt(folder, table, kind, text, data, pick)
    started = time.monotonic()
    try:
        report = validate(folder)
    except DatashareError as exc:
        assert str(exc)
        return
    finally:
        assert time.monotonic() - started < 5
    assert isinstance(report, ValidationReport)
    text = json.dumps(report.to_dict())
    for value in ("Ana", "Lopez", "Okafor", "Nguyen", "2014-03-02", "2013-11-20"):
        assert value not in text
