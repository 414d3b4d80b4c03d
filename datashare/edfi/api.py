"""Read Ed-Fi API resources saved as JSON or JSON lines, including a data lake's folders.

A source folder holds, per resource, either plain files (``students.json``,
``students.jsonl``, or ``students/*.json``: a JSON array or one object per line) or a data
lake's change-query layout, ``<resource>/incremental/upserts/rundate=YYYY-MM-DD/*.json``
and ``.../deletes/rundate=.../*.json``. Upserts and deletes are applied in run-date order by
the record's resource id (spelt ``id`` or ``Id``): the latest upsert of a record wins, and a
delete removes every upsert of the same or an earlier run date (a delete outlives an upsert
of the same record in the same run date). A byte-order mark is ignored; a file holding
only one is empty. Records are decoded by polars; only a file that fails is re-read line
by line, to name the records at fault.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from datashare.edfi.findings import FILE, RECORD, finding, findings_from
from datashare.edfi.resources import BY_RESOURCE, Field, Kind
from datashare.extract.report import Finding

_RUNDATE = re.compile(r"^rundate=(\d{4}-\d{2}-\d{2})")
_SUFFIXES = (".json", ".jsonl", ".ndjson")
RUN = "_rundate"
ID = "_id"


def discover(source: Path) -> tuple[dict[Kind, list[Path]], dict[str, int]]:
    """The JSON files of each known resource under ``source`` (sorted, for stable reports),
    and the number of files of each resource the extract does not use."""
    found: dict[Kind, list[Path]] = {}
    unused: dict[str, int] = {}
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in _SUFFIXES:
            continue
        folders = path.relative_to(source).parts[:-1]
        names = [path.stem, *reversed(folders)]  # the file's own name, else its nearest resource folder
        kind = next((BY_RESOURCE[n.lower()] for n in names if n.lower() in BY_RESOURCE), None)
        if kind is not None:
            found.setdefault(kind, []).append(path)
        else:
            lake = folders.index("incremental") if "incremental" in folders else 0
            name = folders[lake - 1] if lake else (folders[0] if folders else path.stem)
            unused[name] = unused.get(name, 0) + 1
    return found, unused


def _rundate(path: Path) -> tuple[str | None, bool]:
    """(run date, is a delete) of a data lake file; (None, False) outside that layout."""
    parts = path.parts
    for i, part in enumerate(parts):
        match = _RUNDATE.match(part)
        if match and i >= 1 and parts[i - 1] in ("upserts", "deletes"):
            return match[1], parts[i - 1] == "deletes"
    return None, False


def _decode(lines: pl.Series) -> pl.DataFrame:
    decoded = lines.str.json_decode(infer_schema_length=None)
    if not isinstance(decoded.dtype, pl.Struct):
        raise ValueError("not JSON objects")
    return decoded.struct.unnest()


def _records(path: Path, table: str) -> tuple[pl.DataFrame | None, list[Finding]]:
    """The records of one file as a frame of JSON objects (with RECORD), and its findings."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "is not UTF-8" if isinstance(exc, UnicodeDecodeError) else "cannot be read"
        return None, [finding("unreadable_file", table, f"{path.name} {reason}", file=path)]
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        return None, []
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            return None, [finding("unreadable_file", table, f"{path.name} is not valid JSON (line {exc.lineno})", file=path)]
        lines = pl.Series([json.dumps(item) if isinstance(item, dict) else "" for item in items], dtype=pl.String)
        numbers = pl.int_range(1, len(items) + 1, eager=True)
    else:
        raw = pl.Series(text.split("\n"), dtype=pl.String).str.strip_chars("\ufeff \t\r")
        numbers = pl.int_range(1, len(raw) + 1, eager=True)
        keep = raw.str.len_chars() > 0
        lines, numbers = raw.filter(keep), numbers.filter(keep)
    try:
        frame = _decode(lines) if len(lines) else pl.DataFrame()
        good = pl.Series([True] * len(lines), dtype=pl.Boolean)
    except (pl.exceptions.PolarsError, ValueError):
        # Only a file polars cannot decode whole is looked at line by line: which lines are
        # not JSON objects, and, when the objects disagree on a field's type, all scalars as text.
        good = pl.Series([_is_object(line) for line in lines.to_list()], dtype=pl.Boolean)
        try:
            frame = _decode(lines.filter(good)) if good.any() else pl.DataFrame()
        except (pl.exceptions.PolarsError, ValueError):
            try:
                frame = _decode(pl.Series([_as_text(line) for line in lines.filter(good).to_list()], dtype=pl.String))
            except (pl.exceptions.PolarsError, ValueError):
                return None, [finding("unreadable_file", table,
                                      f"{path.name}: its records disagree on the shape of a field and cannot be read together",
                                      file=path)]
    findings: list[Finding] = []
    bad = numbers.filter(~good)
    if len(bad):
        findings.append(finding(
            "unreadable_record", table, f"{path.name}: {len(bad):,} record(s) are not JSON objects",
            file=path, count=len(bad), rows=tuple(bad.to_list()),
        ))
    return frame.with_columns(numbers.filter(good).alias(RECORD)) if frame.height else None, findings


def _scalars_as_text(value: object) -> object:
    if isinstance(value, dict):
        return {k: _scalars_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scalars_as_text(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def _as_text(line: str) -> str:
    return json.dumps(_scalars_as_text(json.loads(line)))


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


class _Misshapen(Exception):
    """A field present in a file in another shape than Ed-Fi gives it (``races`` as a string
    where ``races[].raceDescriptor`` is a list of objects)."""


def _extract(frame: pl.DataFrame, spec: Field) -> tuple[pl.Expr, bool]:
    """The field from the first of its JSON paths that holds a value, as text (or a list of
    text), and whether a path is in the file in another shape (then it is read as empty)."""
    schema = frame.schema
    found, misshapen = [], False
    for path in spec.json:
        try:
            expr = _walk(schema, path)
        except _Misshapen:
            misshapen = True
            continue
        if expr is not None:
            found.append(expr)
    if not found:
        return pl.lit(None, dtype=pl.List(pl.String) if spec.many else pl.String).alias(spec.name), misshapen
    return (found[0] if len(found) == 1 else pl.coalesce(found)).alias(spec.name), misshapen


def _walk(schema: pl.Schema, path: str) -> pl.Expr | None:
    """The expression reading ``path``; ``None`` when the file lacks it (or holds nulls
    only, which have no shape); :class:`_Misshapen` when it holds it in another shape."""
    segments = path.split(".")
    head = segments[0]
    in_list = head.endswith("[]")
    head = head.removesuffix("[]")
    if head not in schema or isinstance(schema[head], pl.Null):
        return None
    dtype = schema[head]
    expr = pl.col(head)
    if in_list:
        if not isinstance(dtype, pl.List):
            raise _Misshapen(path)
        dtype = dtype.inner
        inner = pl.element()
        for seg in segments[1:]:
            dtype = _field(dtype, seg)
            if dtype is None:
                return None
            inner = inner.struct.field(seg)
        return expr.list.eval(inner.cast(pl.String))
    for seg in segments[1:]:
        dtype = _field(dtype, seg)
        if dtype is None:
            return None
        expr = expr.struct.field(seg)
    if isinstance(dtype, (pl.List, pl.Struct)):
        raise _Misshapen(path)
    return expr.cast(pl.String)


def _field(dtype: pl.DataType, name: str) -> pl.DataType | None:
    """The dtype of field ``name`` of a struct; ``None`` when no record has it (or the struct
    is null throughout); :class:`_Misshapen` when ``dtype`` is no struct."""
    if isinstance(dtype, pl.Null):
        return None
    if not isinstance(dtype, pl.Struct):
        raise _Misshapen(name)
    return {f.name: f.dtype for f in dtype.fields}.get(name)


def read_resources(source: Path) -> tuple[dict[str, pl.DataFrame], list[Finding], dict[str, list[str]]]:
    """Every known resource under ``source``, one frame per kind, its findings, and the
    files read per kind (for the report)."""
    frames: dict[str, pl.DataFrame] = {}
    findings: list[Finding] = []
    files_read: dict[str, list[str]] = {}
    discovered, unused = discover(source)
    for name, count in sorted(unused.items()):
        findings.append(finding("not_imported", name, f"{count:,} file(s) of resource {name} are not used by the extract",
                                count=count, severity="info"))
        files_read.setdefault("_unused", []).append(name)
    for kind, paths in discovered.items():
        upserts, deletes = [], []
        for path in paths:
            table = kind.label
            try:
                records, problems = _records(path, table)
            except (pl.exceptions.PolarsError, ValueError, TypeError, RecursionError) as exc:
                records, problems = None, [finding("unreadable_file", table,
                                                   f"{path.name} cannot be read ({type(exc).__name__})", file=path)]
            findings.extend(problems)
            files_read.setdefault(kind.name, []).append(str(path))
            if records is None:
                continue
            run, is_delete = _rundate(path)
            ident = next((c for c in ("id", "Id", "ID") if c in records.columns), None)
            id_expr = pl.col(ident).cast(pl.String) if ident else pl.lit(None, dtype=pl.String)
            base = records.select(
                id_expr.alias(ID), pl.lit(run, dtype=pl.String).alias(RUN),
                pl.lit(str(path)).alias(FILE), pl.col(RECORD).cast(pl.Int64),
            )
            if is_delete:
                deletes.append(base)
            else:
                extracted = [_extract(records, spec) for spec in kind.fields]
                fields = [expr for expr, _ in extracted]
                for spec, (_, misshapen) in zip(kind.fields, extracted, strict=True):
                    if misshapen:
                        findings.append(finding(
                            "unreadable_value", table,
                            f"{path.name}: {' or '.join(spec.json)} is not in the shape Ed-Fi gives it "
                            "(a list where it holds one value, or the reverse); it is read as empty",
                            file=path, column=spec.name, severity="warning",
                        ))
                upserts.append(pl.concat([base, records.select(fields)], how="horizontal"))
        if not upserts:
            continue
        frame, problems = _apply_changes(kind, pl.concat(upserts, how="vertical_relaxed"), deletes)
        findings.extend(problems)
        frames[kind.name] = frame
    return frames, findings, files_read


def _apply_changes(kind: Kind, upserts: pl.DataFrame, deletes: list[pl.DataFrame]) -> tuple[pl.DataFrame, list[Finding]]:
    """Latest upsert per record id, minus records deleted at the same or a later run date."""
    findings: list[Finding] = []
    lake = upserts.filter(pl.col(RUN).is_not_null())
    if lake.is_empty():
        return upserts.drop(ID, RUN), findings
    findings += findings_from(
        lake.filter(pl.col(ID).is_null()), "missing_record_id", kind.label,
        "have no resource id (id or Id), so upserts and deletes cannot be applied; kept as they are",
        severity="warning",
    )
    plain = upserts.filter(pl.col(RUN).is_null() | pl.col(ID).is_null())
    order = [RUN, FILE, RECORD]
    latest = lake.filter(pl.col(ID).is_not_null()).sort(order).unique(ID, keep="last", maintain_order=True)
    if deletes:
        gone = (
            pl.concat(deletes, how="vertical_relaxed").filter(pl.col(ID).is_not_null() & pl.col(RUN).is_not_null())
            .group_by(ID).agg(pl.col(RUN).max().alias("_deleted"))
        )
        latest = (
            latest.join(gone, on=ID, how="left")
            .filter(pl.col("_deleted").is_null() | (pl.col(RUN) > pl.col("_deleted")))
            .drop("_deleted")
        )
    return pl.concat([latest, plain], how="vertical_relaxed").sort(FILE, RECORD).drop(ID, RUN), findings
