"""The benchmark references agree: DuckDB computes the floor's summaries, and every
duplicate-key method finds a repeated attendance key and nothing in a clean table."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks import dupkey, duckdb_ref
from benchmarks.floor import floor_queries
from datashare.synth import synthesize


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("references")
    for fmt in ("csv", "parquet"):
        synthesize(root / fmt, students=400, schools=4, partners=2, seed=9, format=fmt)
    return {fmt: root / fmt for fmt in ("csv", "parquet")}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_duckdb_summaries_equal_the_polars_floor(extracts: dict[str, Path], fmt: str) -> None:
    ours = pl.collect_all(floor_queries(extracts[fmt]), engine="streaming")
    con = duckdb_ref.connect()
    for (name, sql), frame in zip(duckdb_ref.summaries(extracts[fmt]).items(), ours, strict=True):
        theirs = con.sql(sql).pl()
        assert theirs.columns == frame.columns, name
        assert frame.height > 0, name
        assert_frame_equal(theirs.sort(theirs.columns), frame.sort(frame.columns), check_dtypes=False)


def test_the_floor_of_a_release_for_some_partners_keeps_only_theirs(extracts: dict[str, Path]) -> None:
    every = pl.collect_all(floor_queries(extracts["parquet"]), engine="streaming")
    mine = pl.collect_all(floor_queries(extracts["parquet"], partners=["el-centro"]), engine="streaming")
    for position in (3, 6):  # service contacts, consents
        assert set(every[position]["partner_id"]) == {"el-centro", "bright-path-tutoring"}
        expected = every[position].filter(pl.col("partner_id") == "el-centro")
        assert mine[position].height > 0
        assert_frame_equal(mine[position].sort(mine[position].columns), expected.sort(expected.columns))
    for position in (0, 1, 2, 4, 5, 7):  # the other tables are all read, as before
        assert_frame_equal(mine[position].sort(mine[position].columns), every[position].sort(every[position].columns))


@pytest.fixture(scope="module")
def repeated(extracts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Parquet district with three attendance rows repeated, at two (student, school)s."""
    folder = tmp_path_factory.mktemp("repeated") / "extract"
    shutil.copytree(extracts["parquet"], folder)
    attendance = pl.read_parquet(folder / "attendance.parquet")
    pl.concat([attendance, attendance.slice(100, 1), attendance.slice(5000, 2)]).write_parquet(
        folder / "attendance.parquet"
    )
    return folder


@pytest.mark.parametrize("method", dupkey.METHODS)
def test_every_duplicate_check_finds_the_repeated_keys_and_only_them(
    extracts: dict[str, Path], repeated: Path, method: str
) -> None:
    assert dupkey.run_one(extracts["parquet"], method)["duplicates"] == 0
    found = dupkey.run_one(repeated, method)["duplicates"]
    # three repeated keys (groupby3, packed: rows or keys) or two (student, school) groups
    assert found == (2 if method in ("nunique", "bitmap", "bitmap_int") else 3)


def test_duckdb_duplicate_check_finds_the_repeated_keys(extracts: dict[str, Path], repeated: Path) -> None:
    con = duckdb_ref.connect()
    assert con.sql(duckdb_ref.duplicates(extracts["parquet"])).fetchall() == [(0,)]
    assert con.sql(duckdb_ref.duplicates(repeated)).fetchall() == [(3,)]


def _figure(size: int, fmt: str, name: str, *walls: float, rss_gb: float = 1.0) -> object:
    from benchmarks.run import Figure, Sample

    return Figure(size, fmt, name, 1, [Sample(w, int(rss_gb * 1024**2), "") for w in walls])


def test_harness_reports_each_target_missed_or_met(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from benchmarks.run import print_ratios, ratios

    figures = []
    for size, fmt in ((1_000_000, "parquet-shuffled"), (100_000, "parquet")):
        figures += [
            _figure(size, fmt, "floor", 9.0, 10.0, 11.0),
            _figure(size, fmt, "floor:20", 9.0, 10.0, 11.0),
            _figure(size, fmt, "validate", 19.0, 20.0, 40.0),  # median 2.0x: met
            _figure(size, fmt, "run:20", 40.0, 41.0, 42.0, rss_gb=6.5),  # 4.1x and 6.5 GB: missed
            _figure(size, fmt, "run:200", 50.0, rss_gb=5.0),  # 1.22x run(20): met
        ]
    bench = SimpleNamespace(figures=figures, stamps={(1_000_000, "parquet-shuffled"): {}, (100_000, "parquet"): {}})
    found = {(r.size, r.label): r for r in ratios(bench)}
    big = {label: (round(r.value, 2), r.ok, r.binding) for (size, label), r in found.items() if size == 1_000_000}
    assert big == {
        "run(20) / floor(20)": (4.1, False, True),
        "run(200) / run(20)": (1.22, True, True),
        "validate / floor": (2.0, True, True),
        "run:20 peak RSS GB": (6.5, False, True),
        "run:200 peak RSS GB": (5.0, True, True),
        "validate peak RSS GB": (1.0, True, True),
    }
    assert not found[(100_000, "run(20) / floor(20)")].binding
    print_ratios(bench)
    out = capsys.readouterr().out
    assert "1,000,000 parquet-shuffled run(20) / floor(20)               4.10  target <= 3.0       met: no" in out
    assert "100,000 parquet          run(20) / floor(20)               4.10  target <= 3.0       met: (no)" in out
