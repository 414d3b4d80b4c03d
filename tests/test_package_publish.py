"""All-or-nothing publishing and the independent great-expectations output check.

great-expectations is slow to import, so its tests are few; every test here runs with a
socket guard that fails on any attempt to connect, so the check is proven offline.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import socket
from pathlib import Path

import polars as pl
import pyrage
import pytest
from package_fixtures import RAW_IDS, aggregate_table, release

from datashare.errors import OutputCheckFailed, PackageExists
from datashare.package.audit import verify_audit
from datashare.package.check import check_release
from datashare.package.publish import publish
from datashare.package.sign import generate_signing_keys
from datashare.package.verify import verify

publish_module = importlib.import_module("datashare.package.publish")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    path = tmp_path / "extract" / "students.csv"
    path.parent.mkdir()
    path.write_text("student_id\n000101\n")
    return {"students": path}


def _snapshot(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and "checks" not in p.parts
    }


def _run(out: Path, inputs: dict[str, Path], releases: list, **kwargs: object):  # type: ignore[no-untyped-def]
    return publish(releases, out, raw_student_ids=RAW_IDS, input_files=inputs, **kwargs)  # type: ignore[arg-type]


def test_clean_release_passes_the_check_offline(tmp_path: Path) -> None:
    result = check_release(release(), RAW_IDS, tmp_path / "checks")
    assert result.tables == ("aggregate_comparison", "students", "attendance")
    assert json.loads(result.results_json.read_text())["success"] is True
    assert "PASSED" in result.results_html.read_text()


@pytest.mark.parametrize(
    ("table", "change", "expected"),
    [
        ("students", pl.lit("x").alias("last_name"), "table students: expect_table_columns_to_match_set"),
        ("attendance", pl.lit("000103").alias("school_id"), "expect_column_values_to_not_be_in_set on column school_id"),
        ("students", pl.lit("000102").alias("student_key"), "expect_column_values_to_match_regex on column student_key"),
    ],
)  # fmt: skip
def test_leaky_outputs_are_blocked(tmp_path: Path, table: str, change: pl.Expr, expected: str) -> None:
    rel = release()
    leaky = dataclasses.replace(rel, tables={**rel.tables, table: rel.tables[table].with_columns(change)})
    with pytest.raises(OutputCheckFailed, match=expected):
        check_release(leaky, RAW_IDS, tmp_path / "checks")
    report = (tmp_path / "checks" / "validation.json").read_text()
    assert "000102" not in report and "000103" not in report  # no raw id in the district report


def test_too_small_group_is_blocked(tmp_path: Path) -> None:
    small = aggregate_table().with_columns(pl.when(pl.col("school_id") == "S1").then(4).otherwise(pl.col("served_n")).alias("served_n"))
    with pytest.raises(OutputCheckFailed, match="to_be_between on column served_n failed for 2"):
        check_release(release(aggregate=small), RAW_IDS, tmp_path / "checks")


def test_publish_rerun_and_replace(tmp_path: Path, inputs: dict[str, Path]) -> None:
    out = tmp_path / "out"
    generate_signing_keys(tmp_path / "sign.pem", tmp_path / "sign.pub")
    partner = pyrage.x25519.Identity.generate()
    releases = [release(recipients=(str(partner.to_public()),)), release("hope-2025-2026", "hope", individual=False)]
    first = _run(out, inputs, releases, signing_key=tmp_path / "sign.pem", operator="dana")
    assert [p.status for p in first.packages] == ["new", "new"]
    for package in first.packages:
        verify(package.path, public_key=tmp_path / "sign.pub")
    assert (out / "partners" / "el-centro" / "el-centro-2025-2026.tar.age").exists()
    assert not list(out.glob(".staging-*"))
    audit = verify_audit(out / "district" / "audit.jsonl")
    assert audit.entries == 2
    entry = json.loads((out / "district" / "audit.jsonl").read_text().splitlines()[0])
    assert entry["operator"] == "dana" and entry["replaced"] is False
    assert set(entry["inputs"]) == {"students"} and "data/individual/students.parquet" in entry["outputs"]
    report = json.loads((out / "district" / "run_report.json").read_text())
    assert [p["package"] for p in report["packages"]] == [
        "partners/el-centro/el-centro-2025-2026", "partners/hope/hope-2025-2026"]  # fmt: skip

    before = _snapshot(out / "partners")
    again = _run(out, inputs, releases, signing_key=tmp_path / "sign.pem")
    assert [p.status for p in again.packages] == ["unchanged", "unchanged"]
    assert _snapshot(out / "partners") == before
    assert verify_audit(out / "district" / "audit.jsonl").entries == 2

    changed = [release(version=2, recipients=(str(partner.to_public()),)), releases[1]]
    with pytest.raises(PackageExists, match="--replace"):
        _run(out, inputs, changed, signing_key=tmp_path / "sign.pem")
    assert _snapshot(out / "partners") == before
    replaced = _run(out, inputs, changed, signing_key=tmp_path / "sign.pem", replace=True)
    assert [p.status for p in replaced.packages] == ["replaced", "unchanged"]
    assert '"version": 2' in (out / "partners" / "el-centro" / "el-centro-2025-2026" / "release.json").read_text()
    lines = (out / "district" / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["replaced"] is True
    verify_audit(out / "district" / "audit.jsonl")


@pytest.mark.parametrize("phase", ["staging", "commit"])
def test_failure_leaves_everything_as_before(
    tmp_path: Path, inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    out = tmp_path / "out"
    _run(out, inputs, [release("old-2025-2026", "old", individual=False)])
    before = _snapshot(out)
    releases = [release(), release("hope-2025-2026", "hope", individual=False)]
    if phase == "staging":  # the second package fails after the first is complete
        real, calls = publish_module.sign_bag, []

        def write_then_fail(bag, key):  # type: ignore[no-untyped-def]
            calls.append(bag)
            if len(calls) == 2:
                raise OSError("disk full")
            return real(bag, key)

        monkeypatch.setattr(publish_module, "sign_bag", write_then_fail)
        generate_signing_keys(tmp_path / "k.pem", tmp_path / "k.pub")
        with pytest.raises(OSError, match="disk full"):
            _run(out, inputs, releases, signing_key=tmp_path / "k.pem")
    else:  # an interrupt after every package was moved into place, before the audit
        def interrupt(*_args: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(publish_module, "append_entries", interrupt)
        with pytest.raises(KeyboardInterrupt):
            _run(out, inputs, releases)
    assert _snapshot(out) == before
    assert sorted(p.name for p in (out / "partners").iterdir()) == ["old"]
    assert not list(out.glob(".staging-*"))
    assert verify_audit(out / "district" / "audit.jsonl").entries == 1


def test_blocked_check_publishes_nothing(tmp_path: Path, inputs: dict[str, Path]) -> None:
    rel = release()
    leaky = dataclasses.replace(rel, tables={**rel.tables, "students": rel.tables["students"].with_columns(pl.lit("F").alias("gender"))})
    with pytest.raises(OutputCheckFailed, match="gender"):
        _run(tmp_path / "out", inputs, [release("hope-2025-2026", "hope", individual=False), leaky])
    assert not (tmp_path / "out" / "partners").exists()
    assert not (tmp_path / "out" / "district" / "audit.jsonl").exists()
    assert (tmp_path / "out" / "district" / "checks" / rel.agreement_id / "index.html").exists()
