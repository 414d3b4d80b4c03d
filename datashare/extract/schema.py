"""The canonical extract schemas: plain data read from ``schemas/*.yaml``.

A :class:`TableSchema` knows nothing of a dataframe library; :func:`pandera_schema`
compiles one into a pandera ``DataFrameSchema`` for the polars backend, shaped by the
dtypes the file actually holds (a CSV gives text to parse; a Parquet file may already hold
dates and numbers). Keeping the two apart lets the schemas be reviewed as data and the
engine be swapped without touching them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl
from ruamel.yaml import YAML

from datashare._resources import schemas_dir
from datashare.errors import ExtractError
from datashare.schoolyear import PATTERN as SCHOOL_YEAR_PATTERN

if TYPE_CHECKING:  # pandera is imported where a schema is compiled: a clean extract needs none
    import pandera.polars as pa
    from pandera.api.polars.types import PolarsData

ColumnType = Literal["id", "text", "date", "bool", "integer", "number", "enum", "school_year"]

TABLES: tuple[str, ...] = (
    "schools",
    "students",
    "enrollments",
    "attendance",
    "discipline",
    "grades",
    "service_contacts",
    "consents",
)
"""Every required table of the extract, in the order reports list them."""

OPTIONAL_TABLES: tuple[str, ...] = ("calendar",)
"""Tables an extract may leave out: ``calendar`` switches attendance to the calendar form."""

ALL_TABLES: tuple[str, ...] = TABLES + OPTIONAL_TABLES
"""Every table datashare reads, required then optional, in the order reports list them."""

DTYPES: Mapping[str, pl.DataType] = {
    "id": pl.String(),
    "text": pl.String(),
    "enum": pl.String(),
    "school_year": pl.String(),
    "date": pl.Date(),
    "bool": pl.Boolean(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
}
"""The polars dtype of each schema type in the typed extract."""

DATE_FORMAT = "%Y-%m-%d"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TRUE = ("true", "1")
_FALSE = ("false", "0")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table: its type and the rules its cells follow."""

    name: str
    type: ColumnType
    required: bool = True
    nullable: bool = False
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    identifier: str | None = None

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.type]

    def expected(self) -> str:
        """What a valid cell looks like, in words for a report."""
        match self.type:
            case "date":
                return "an ISO date YYYY-MM-DD"
            case "bool":
                return "true/false or 1/0"
            case "enum":
                return "one of " + ", ".join(self.values)
            case "school_year":
                return "a school year like 2025-2026"
            case "integer":
                return "a whole number" + self._range()
            case "number":
                return "a number" + self._range()
            case _:
                return "text"

    def _range(self) -> str:
        if self.min is not None and self.max is not None:
            return f" from {self.min:g} to {self.max:g}"
        if self.min is not None:
            return f" >= {self.min:g}"
        return ""


@dataclass(frozen=True)
class TableSchema:
    """One table of the extract: its columns in order and its key."""

    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    optional: bool = False

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def polars_schema(self) -> pl.Schema:
        """The typed schema of this table in an :class:`~datashare.extract.read.Extract`."""
        return pl.Schema({c.name: c.dtype for c in self.columns})


def _parse_table(path: Path) -> TableSchema:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    try:
        columns = []
        for name, spec in data["columns"].items():
            spec = dict(spec)
            required = bool(spec.pop("required", True))
            columns.append(
                ColumnSpec(
                    name=name,
                    type=spec.pop("type"),
                    required=required,
                    nullable=bool(spec.pop("nullable", not required)),
                    values=tuple(str(v) for v in spec.pop("values", ())),
                    min=spec.pop("min", None),
                    max=spec.pop("max", None),
                    identifier=spec.pop("identifier", None),
                )
            )
            if spec:
                raise KeyError(f"unknown keys {sorted(spec)} in column {name}")
            if columns[-1].type not in DTYPES:
                raise KeyError(f"unknown type {columns[-1].type!r} in column {name}")
        return TableSchema(
            name=data["table"],
            key=tuple(data.get("key") or ()),
            columns=tuple(columns),
            optional=bool(data.get("optional", False)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ExtractError(f"schema file {path} is malformed: {exc}") from exc


@functools.cache
def load_schemas(folder: Path | None = None) -> Mapping[str, TableSchema]:
    """Every table schema, by table name, from the shipped ``schemas/`` folder."""
    folder = folder or schemas_dir()
    schemas = {}
    for table in ALL_TABLES:
        path = folder / f"{table}.yaml"
        if not path.is_file():
            raise ExtractError(f"schema file {path} is missing; reinstall datashare")
        schemas[table] = _parse_table(path)
    return schemas


# ---------------------------------------------------------------------------------------
# Compiling to pandera.  A check returns, for each row, whether the cell is valid; nulls
# are left to the column's ``nullable`` rule.  Each check's name is the finding code.


@dataclass(frozen=True)
class CellRule:
    """A rule on the cells of one column, named by its finding code.

    ``ok`` (valid non-null cell) is the rule's one definition. It is compiled to a pandera
    check, the reporter that gives the failing rows, and to a row flag (:func:`invalid_row`)
    that the validator counts in a pass it makes anyway, so that pandera reads the data only
    of a table where some cell fails.
    """

    code: str
    ok: Callable[[pl.Expr], pl.Expr]

    def valid(self, column: str) -> pl.Expr:
        """Per row: the cell is null (left to ``nullable``) or passes the rule."""
        col = pl.col(column)
        return col.is_null() | self.ok(col)

    def check(self) -> pa.Check:
        import pandera.polars as pa  # noqa: PLC0415

        def check(data: PolarsData) -> pl.LazyFrame:
            return data.lazyframe.select(self.valid(data.key))

        return pa.Check(check, name=self.code)


def _parses_as_date(col: pl.Expr) -> pl.Expr:
    return col.str.contains(_ISO_DATE) & col.str.to_date(DATE_FORMAT, strict=False).is_not_null()


def _parses_as_bool(col: pl.Expr) -> pl.Expr:
    return col.str.to_lowercase().is_in(_TRUE + _FALSE)


def _parses_as_number(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    value = col.str.strip_chars().cast(dtype, strict=False)
    # "NaN", "inf" and "1e400" parse as floats but are no number a figure can be made of.
    return value.is_not_null() & value.is_finite() if dtype.is_float() else value.is_not_null()


def school_year_ok(col: pl.Expr) -> pl.Expr:
    """Whether a text cell is a school year of two consecutive years, like ``2025-2026``."""
    # The pattern fixes the shape, so the years are slices: extracting regex groups from every
    # cell of a big table costs more than reading it.
    first = col.str.slice(0, 4).cast(pl.Int32, strict=False)
    second = col.str.slice(5, 4).cast(pl.Int32, strict=False)
    return (col.str.contains(SCHOOL_YEAR_PATTERN.pattern) & (second == first + 1)).fill_null(False)


def _range_check(spec: ColumnSpec, as_text: bool) -> CellRule:
    def in_range(col: pl.Expr) -> pl.Expr:
        value = col.str.strip_chars().cast(pl.Float64, strict=False) if as_text else col.cast(pl.Float64)
        ok = pl.lit(True)
        if spec.min is not None:
            ok = ok & (value >= spec.min)
        if spec.max is not None:
            ok = ok & (value <= spec.max)
        # A cell that does not parse, or is NaN or infinite, is reported once, as
        # invalid_number (or as empty), not again here.
        return value.is_null() | ~value.is_finite() | ok

    return CellRule("out_of_range", in_range)


def cell_rules(spec: ColumnSpec, source: pl.DataType) -> list[CellRule]:
    """The rules on the cells of a column whose file holds ``source``."""
    as_text = source == pl.String
    rules: list[CellRule] = []
    if spec.type == "date" and as_text:
        rules.append(CellRule("invalid_date", _parses_as_date))
    elif spec.type == "bool" and as_text:
        rules.append(CellRule("invalid_bool", _parses_as_bool))
    elif spec.type in ("integer", "number") and as_text:
        rules.append(CellRule("invalid_number", lambda c: _parses_as_number(c, spec.dtype)))
    elif spec.type == "number" and source.is_float():
        # The infinities of a float column, and NaN where it may be empty (a required column
        # reports NaN as an empty cell already).
        rules.append(CellRule("invalid_number", lambda c: c.is_finite() | (c.is_nan() & (not spec.nullable))))
    elif spec.type == "enum":
        rules.append(CellRule("invalid_value", lambda c: c.is_in(spec.values)))
    elif spec.type == "school_year":
        rules.append(CellRule("invalid_school_year", school_year_ok))
    elif spec.type == "id":
        # Something other than whitespace (what stripping would leave), found without
        # building a stripped copy of every id.
        rules.append(CellRule("empty_id", lambda c: c.str.contains(r"\S")))
    if spec.type in ("integer", "number") and (spec.min is not None or spec.max is not None):
        rules.append(_range_check(spec, as_text))
    return rules


def accepted_source_dtypes(spec: ColumnSpec) -> tuple[type[pl.DataType], ...]:
    """The dtypes a file may hold for a column: text always, or the canonical type."""
    match spec.type:
        case "date":
            return (pl.String, pl.Date)
        case "bool":
            return (pl.String, pl.Boolean)
        case "integer":
            return (pl.String, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
        case "number":
            return (
                pl.String, pl.Float32, pl.Float64, pl.Int8, pl.Int16, pl.Int32, pl.Int64,
                pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.Decimal,
            )
        case _:
            return (pl.String,)


def pandera_schema(
    table: TableSchema,
    source: Mapping[str, pl.DataType],
    checks: list[pa.Check] | None = None,
    *,
    with_key: bool = True,
) -> pa.DataFrameSchema:
    """Compile a table schema for a file whose columns hold the dtypes in ``source``.

    Only columns present in the file with an accepted dtype are compiled; a missing column
    or a wrong dtype is reported by the reader before pandera runs. ``with_key=False`` leaves
    the key's uniqueness out: the validator checks keys group-wise instead, because pandera's
    row-wise uniqueness hashes every row (about 15 times slower on daily attendance).
    """
    import pandera.polars as pa  # noqa: PLC0415

    columns = {}
    for spec in table.columns:
        dtype = source.get(spec.name)
        if dtype is None:
            continue
        columns[spec.name] = pa.Column(
            dtype,
            checks=[rule.check() for rule in cell_rules(spec, dtype)],
            nullable=spec.nullable,
            coerce=False,
            required=False,
        )
    key = [k for k in table.key if k in columns]
    return pa.DataFrameSchema(
        columns,
        checks=checks,
        name=table.name,
        strict=False,
        unique=key if with_key and key and len(key) == len(table.key) else None,
    )


def invalid_row(
    table: TableSchema, source: Mapping[str, pl.DataType], columns: Collection[str], screened: Collection[str] = ()
) -> pl.Expr:
    """Per row: whether a cell of ``columns`` fails a rule :func:`pandera_schema` checks (its
    cell rules and ``nullable``, where pandera counts NaN as null), as the file holds it.
    The ``empty_id`` rule of the ``screened`` columns is left out: the caller counts it in
    the text screen it evaluates anyway (one regex for every rule on an id's text).

    Counted in the validator's own pass over the table: zero means pandera, run on the data,
    would find nothing. The key's uniqueness is not here (it is checked group-wise). Every
    rule is a function of one cell, so it may as well be evaluated on a column's distinct
    values (the groups of a grouped pass).
    """
    fails = []
    for spec in table.columns:
        dtype = source.get(spec.name)
        if dtype is None or spec.name not in columns:
            continue
        rules = cell_rules(spec, dtype)
        fails += [~rule.valid(spec.name) for rule in rules if not (rule.code == "empty_id" and spec.name in screened)]
        if not spec.nullable:
            col = pl.col(spec.name)
            fails.append(col.is_null() | col.is_nan() if dtype.is_float() else col.is_null())
    return pl.any_horizontal(fails).fill_null(False) if fails else pl.lit(False)
