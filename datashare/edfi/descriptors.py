"""Map Ed-Fi descriptor values (``uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy``)
to the extract's codes.

The shipped map (``descriptors.yaml`` beside this module) covers Ed-Fi's default
namespace; a district's own namespace needs ``--descriptor-map FILE.yaml`` in the same
shape, whose entries are added and win. A value the map does not hold is a finding naming
the descriptor and the file, and its record is not imported: never dropped silently, never
guessed. Descriptor values are codes, not student data, so findings may quote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from ruamel.yaml import YAML, YAMLError

from datashare.edfi.findings import FILE, RECORD, findings_from
from datashare.errors import ImportSourceError
from datashare.extract.report import Finding

DEFAULT_MAP = Path(__file__).with_name("descriptors.yaml")
ED_FI = "uri://ed-fi.org/"
UNMAPPED = "\x00unmapped"
"""Marker of a value the map does not hold (distinct from a value mapped to null)."""


@dataclass(frozen=True)
class DescriptorMap:
    """Descriptor type -> {value: extract code or None}, the open types, and the grade scale."""

    values: dict[str, dict[str, str | None]]
    open: dict[str, str] = field(default_factory=dict)
    letter_points: dict[str, float] = field(default_factory=dict)
    numeric_to_letter: dict[str, float] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def frame(self, descriptor: str) -> pl.DataFrame:
        items = self.values.get(descriptor, {})
        return pl.DataFrame(
            {"_value": list(items), "_code": [v for v in items.values()]},
            schema={"_value": pl.String, "_code": pl.String},
        )


def _read_yaml(path: Path) -> dict:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportSourceError(f"descriptor map {path} cannot be read ({type(exc).__name__})") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ImportSourceError(f"descriptor map {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ImportSourceError(f"descriptor map {path}: expected a mapping of descriptor names to value maps")
    return data


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_map(extra: Path | None = None) -> DescriptorMap:
    """The shipped map, with a district's map added on top (its entries win)."""
    values: dict[str, dict[str, str | None]] = {}
    open_types: dict[str, str] = {}
    letters: dict[str, float] = {}
    numeric: dict[str, float] = {}
    sources = [str(DEFAULT_MAP)] + ([str(extra)] if extra else [])
    for path in (DEFAULT_MAP, extra):
        if path is None:
            continue
        for key, body in _read_yaml(path).items():
            if not isinstance(body, dict):
                raise ImportSourceError(f"descriptor map {path}: {key} must map values to codes")
            if key == "open":
                open_types.update({str(k): str(v) for k, v in body.items()})
            elif key == "grade_scale":
                try:
                    letters.update({str(k).upper(): float(v) for k, v in (body.get("letter_points") or {}).items()})
                    numeric.update({str(k).upper(): float(v) for k, v in (body.get("numeric_to_letter") or {}).items()})
                except (TypeError, ValueError, AttributeError):
                    raise ImportSourceError(f"descriptor map {path}: grade_scale values must be numbers") from None
            else:
                values.setdefault(str(key), {}).update({str(k): _text(v) for k, v in body.items()})
    return DescriptorMap(values, open_types, letters, numeric, tuple(sources))


def map_column(
    frame: pl.DataFrame, column: str, descriptor: str, dmap: DescriptorMap, table: str, *,
    drop_unmapped: bool = True,
) -> tuple[pl.DataFrame, list[Finding]]:
    """Replace ``column``'s descriptor values by extract codes.

    An open descriptor (free text in the extract) takes an Ed-Fi default value's code as
    written; any other value must be in the map. Unmapped values become findings, one per
    file and value, and their records are left out (or kept with a null code).
    """
    mapping = dmap.frame(descriptor)
    joined = frame.join(mapping, left_on=column, right_on="_value", how="left", maintain_order="left")
    known = pl.col(column).is_in(mapping["_value"].implode())
    code = pl.col("_code")
    if descriptor in dmap.open:
        default = pl.col(column).str.starts_with(f"{ED_FI}{descriptor}#")
        code = pl.when(known).then(code).when(default).then(pl.col(column).str.split("#").list.last())
        known = known | default
    joined = joined.with_columns(
        pl.when(pl.col(column).is_null()).then(None).when(known).then(code)
        .otherwise(pl.lit(UNMAPPED)).alias("_code")
    )
    bad = joined.filter(pl.col("_code") == UNMAPPED)
    findings = findings_from(
        bad.select(FILE, RECORD, pl.col(column).alias("_descriptor")), "unmapped_descriptor", table,
        f"hold {descriptor} value '{{detail}}', which no descriptor map maps to an extract code; not imported",
        column=column, detail="_descriptor",
    )
    if drop_unmapped:
        joined = joined.filter(pl.col("_code").ne_missing(UNMAPPED))
    else:
        joined = joined.with_columns(pl.when(pl.col("_code") == UNMAPPED).then(None).otherwise(pl.col("_code")).alias("_code"))
    return joined.drop(column).rename({"_code": column}).select(frame.columns), findings
