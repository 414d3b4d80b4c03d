"""The benchmark harness in smoke mode, and the pandas reference checked against datashare."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from benchmarks import run as bench
from benchmarks.pandas_ref import reference
from datashare.pipeline import release
from datashare.release.keys import init_secret

SMOKE_SIZE = 2000


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, Path]:
    """One smoke run of the harness on a small district, into a temporary cache."""
    folder = tmp_path_factory.mktemp("bench")
    results = folder / "RESULTS.md"
    status = bench.main(
        ["--smoke", "--sizes", str(SMOKE_SIZE), "--cache-dir", str(folder / "cache"), "--results", str(results)]
    )
    return status, folder, results


def test_smoke_run_completes_and_writes_results(smoke: tuple[int, Path, Path]) -> None:
    status, folder, results = smoke
    assert status == 0
    text = results.read_text()
    for command in ("floor", "validate", "run:1", "pandas"):
        assert f"| {SMOKE_SIZE:,} | parquet | {command} |" in text
    assert "## Machine" in text and "load average" in text
    assert (folder / "cache" / f"{SMOKE_SIZE}-{bench.SEED}-parquet" / "benchmark-stamp.json").is_file()


def test_results_list_the_steps_of_the_release(smoke: tuple[int, Path, Path]) -> None:
    _, _, results = smoke
    stages = results.read_text().split("## Stages")[1].split("##")[0]
    for step in ("validating the extract", "computing the releases: summarizing the extract", "holdings audit",
                 "pseudonyms and individual tables", "checking the outgoing tables (packages staged meanwhile)"):
        assert f"{step} " in stages, step


def test_validation_is_timed_table_by_table(smoke: tuple[int, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import validate_tables

    _, folder, _ = smoke
    assert validate_tables.main([str(folder / "cache" / f"{SMOKE_SIZE}-{bench.SEED}-parquet")]) == 0
    printed = capsys.readouterr().out
    for table in ("attendance", "students", "grades", "service_contacts"):
        assert f"_table_findings {table}\n" in printed
    assert "load_extract in all" in printed
    assert not hasattr(validate_tables.validate._table_findings, "__wrapped__"), "the validator was left wrapped"


def test_pandas_reference_matches_datashare(smoke: tuple[int, Path, Path]) -> None:
    _, _, results = smoke
    text = results.read_text()
    assert "MISMATCH" not in text
    assert "equal the pandas reference" in text


def test_cached_district_is_reused(smoke: tuple[int, Path, Path]) -> None:
    _, folder, _ = smoke
    extract, stamp = bench.district(folder / "cache", SMOKE_SIZE, "parquet", 1)
    assert stamp["synth_hash"] == bench.synth_hash()
    assert stamp["rows"]["attendance"] > 0
    assert extract == folder / "cache" / f"{SMOKE_SIZE}-{bench.SEED}-parquet"


def test_comparison_reports_a_wrong_figure(smoke: tuple[int, Path, Path], tmp_path: Path) -> None:
    """The check compares real cells and names the one a wrong reference gets wrong."""
    _, folder, _ = smoke
    extract = folder / "cache" / f"{SMOKE_SIZE}-{bench.SEED}-parquet"
    key = tmp_path / "district.key"
    init_secret(key)
    agreements = bench.write_agreements(tmp_path, 1)
    release(extract=extract, agreements=[agreements], key_file=key, as_of=dt.date(2026, 6, 30), out=tmp_path / "out")
    package = tmp_path / "out" / "partners" / "el-centro" / "el-centro-2025-2026" / "data" / "aggregate_comparison.parquet"
    good = tmp_path / "reference.parquet"
    reference(extract, "el-centro").to_parquet(good, index=False)

    compared, problems = bench.compare_with_pandas(package, good)
    assert compared > 0 and problems == []

    published = pl.read_parquet(package).filter(pl.col("comparison_value").is_not_null()).row(0, named=True)
    wrong = pl.read_parquet(good).with_columns(
        comparison_value=pl.when(
            (pl.col("school_id") == published["school_id"]) & (pl.col("metric") == published["metric"])
        )
        .then(pl.col("comparison_value") + 0.5)
        .otherwise(pl.col("comparison_value"))
    )
    bad = tmp_path / "wrong.parquet"
    wrong.write_parquet(bad)
    _, problems = bench.compare_with_pandas(package, bad)
    assert len(problems) == 1
    assert published["school_id"] in problems[0] and published["metric"] in problems[0]


def test_agreements_name_the_synthetic_partners(tmp_path: Path) -> None:
    folder = bench.write_agreements(tmp_path, 3)
    names = sorted(p.name for p in folder.glob("*.yaml"))
    assert names == [
        "bright-path-tutoring-2025-2026.yaml",
        "el-centro-2025-2026.yaml",
        "partner-003-2025-2026.yaml",
    ]
