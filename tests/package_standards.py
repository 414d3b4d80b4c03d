"""What every package must satisfy for standard tools: checks shared by the tests and the
session-end sweep in conftest.py over every package the suite wrote.

Each check raises ``AssertionError`` naming the package, file and tool at fault.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

FORMULA = re.compile(r"^[=+\-@\t\r]")
_POLARS_TO_ARROW = {"Int64": "int64", "Int32": "int32", "Float64": "double", "Boolean": "bool", "Date": "date32[day]"}


def is_package(folder: Path) -> bool:
    return (folder / "bagit.txt").is_file() and (folder / "release.json").is_file() and (folder / "data").is_dir()


def check_bagit(bag: Path) -> None:
    import bagit

    try:
        bagit.Bag(str(bag)).validate()
    except bagit.BagError as exc:
        raise AssertionError(f"{bag}: bagit-python's validator refuses the bag: {exc}") from exc


def check_frictionless(bag: Path) -> None:
    from frictionless import Package, system

    with system.use_context(trusted=True):
        report = Package(str(bag / "data" / "datapackage.json")).validate()
    if not report.valid:
        errors = report.flatten(["taskName", "rowNumber", "fieldName", "type", "note"])
        raise AssertionError(f"{bag}: frictionless validate fails: {errors[:5]}")
    names = [r["name"] for r in json.loads((bag / "data" / "datapackage.json").read_text())["resources"]]
    assert len(names) == len(set(names)), f"{bag}: resource names repeat: {names}"


def check_parquet_loaders(bag: Path) -> None:
    """Every Parquet file loads with the declared types in polars, pyarrow, DuckDB and pandas."""
    import duckdb
    import pandas as pd
    import pyarrow.parquet as pq

    descriptor = json.loads((bag / "data" / "datapackage.json").read_text())
    for resource in descriptor["resources"]:
        if resource["format"] != "parquet":
            continue
        path = bag / "data" / resource["path"]
        declared = {f["name"]: f["type"] for f in resource["schema"]["fields"]}
        frame = pl.read_parquet(path)
        assert list(frame.columns) == list(declared), f"{path}: polars columns differ from datapackage.json"
        arrow = pq.read_table(path)
        assert arrow.num_rows == frame.height, f"{path}: pyarrow reads {arrow.num_rows} rows"
        ducks = duckdb.sql(f"SELECT * FROM read_parquet('{path.as_posix()}')")
        duck_types = dict(zip(ducks.columns, (str(t) for t in ducks.types), strict=True))
        pandas = pd.read_parquet(path)
        nullable = pd.read_parquet(path, dtype_backend="numpy_nullable")
        for name, kind in declared.items():
            if kind == "integer":
                assert frame.schema[name].is_integer(), f"{path}: {name} is {frame.schema[name]} in polars"
                assert str(arrow.schema.field(name).type).startswith(("int", "uint")), f"{path}: {name} in pyarrow"
                assert duck_types[name] in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"}, (
                    f"{path}: {name} is {duck_types[name]} in DuckDB"
                )
                assert pd.api.types.is_integer_dtype(pandas[name].dtype), (
                    f"{path}: pandas reads integer column {name} as {pandas[name].dtype}"
                )
                assert pd.api.types.is_integer_dtype(nullable[name].dtype), f"{path}: {name} (numpy_nullable)"
            elif kind == "number":
                assert frame.schema[name].is_float(), f"{path}: {name} is {frame.schema[name]} in polars"
                assert duck_types[name] in {"DOUBLE", "FLOAT"}, f"{path}: {name} is {duck_types[name]} in DuckDB"
                assert pd.api.types.is_float_dtype(pandas[name].dtype), f"{path}: {name} in pandas"
            elif kind == "boolean":
                assert duck_types[name] == "BOOLEAN", f"{path}: {name} is {duck_types[name]} in DuckDB"
                assert pd.api.types.is_bool_dtype(nullable[name].dtype), f"{path}: {name} in pandas"
            elif kind == "date":
                assert duck_types[name] == "DATE", f"{path}: {name} is {duck_types[name]} in DuckDB"
            elif kind == "string":
                assert duck_types[name] == "VARCHAR", f"{path}: {name} is {duck_types[name]} in DuckDB"
                assert pd.api.types.is_string_dtype(nullable[name].dtype), f"{path}: {name} in pandas"


def check_csv_formulas(bag: Path) -> None:
    """No text cell of a CSV under the package starts as a spreadsheet formula."""
    for path in sorted((bag / "data").rglob("*.csv")):
        frame = pl.read_csv(path, infer_schema=False)
        for name in frame.columns:
            bad = frame.filter(pl.col(name).str.contains(FORMULA.pattern)).height
            if bad:
                # A number written as a number (e.g. a negative difference) is fine.
                numeric = frame.select(pl.col(name).cast(pl.Float64, strict=False).is_not_null().sum()).item()
                typed = pl.read_csv(path).schema[name]
                assert typed.is_numeric() and numeric >= bad, (
                    f"{path}: column {name} has {bad} text cell(s) a spreadsheet would run as a formula"
                )


def check_report(bag: Path) -> None:
    """report.html is present, self-contained (nothing to fetch) and holds one chart per metric."""
    page = (bag / "data" / "report.html").read_text(encoding="utf-8")
    assert re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page) is None, f"{bag}: report links out"
    assert "url(http" not in page and "<script" not in page and "@import" not in page, f"{bag}: report fetches"
    release = json.loads((bag / "release.json").read_text())
    assert "data/report.html" in release["files"], f"{bag}: report.html not in release.json files"
    agg = bag / "data" / "aggregate_comparison.parquet"
    if agg.exists():
        metrics = pl.read_parquet(agg).get_column("metric").n_unique()
        assert page.count("<svg") == metrics, f"{bag}: {page.count('<svg')} charts for {metrics} metrics"


def check_package(bag: Path) -> None:
    """Every standard check on one package."""
    check_bagit(bag)
    check_frictionless(bag)
    check_parquet_loaders(bag)
    check_csv_formulas(bag)
    check_report(bag)
