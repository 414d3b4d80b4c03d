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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from package_fixtures import RAW_IDS, aggregate_table, release

from datashare.errors import OutputCheckFailed, PackageError, PackageExists
from datashare.package.audit import verify_audit
from datashare.package.check import check_release, check_releases, distinct_values
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
    assert json.loads((tmp_path / "checks" / "validation.json").read_text())["success"] is False
    _assert_no_raw_id(tmp_path / "checks")


def _assert_no_raw_id(checks: Path) -> None:
    """No raw student id in any district result file (validation records, pages)."""
    files = [p for p in checks.rglob("*") if p.is_file()]
    assert files
    for path in files:
        text = path.read_text()
        assert not any(raw in text for raw in RAW_IDS.to_list()), path


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
    # packages are staged while the check runs: a blocked check leaves no staged file behind
    assert not list((tmp_path / "out").glob(".staging-*"))


def test_one_leak_among_three_releases_of_a_template_is_named(tmp_path: Path, inputs: dict[str, Path]) -> None:
    out = tmp_path / "out"
    _run(out, inputs, [release("old-2025-2026", "old", individual=False)])
    before = _snapshot(out)
    first, second, third = (release(f"{p}-2025-2026", p) for p in ("first", "second", "third"))
    leak = second.tables["attendance"].with_columns(pl.when(pl.col("school_id") == "S2").then(pl.lit("000103")).otherwise(pl.col("school_id")).alias("school_id"))
    second = dataclasses.replace(second, tables={**second.tables, "attendance": leak})
    with pytest.raises(OutputCheckFailed) as blocked:
        _run(out, inputs, [first, second, third])
    message = str(blocked.value)
    assert message.startswith("agreement second-2025-2026: ")
    assert "table attendance: expect_column_values_to_not_be_in_set on column school_id failed for 1 value(s)" in message
    assert "first-2025-2026" not in message and "third-2025-2026" not in message
    assert _snapshot(out) == before  # no package, no audit entry, no run report
    assert verify_audit(out / "district" / "audit.jsonl").entries == 1
    checks = out / "district" / "checks"
    verdicts = {a: json.loads((checks / f"{a}-2025-2026" / "validation.json").read_text())["success"] for a in ("first", "second", "third")}
    assert verdicts == {"first": True, "second": False, "third": True}
    assert "BLOCKED" in (checks / "index.html").read_text()
    _assert_no_raw_id(checks)


def test_two_templates_in_one_run_share_only_identical_suites(tmp_path: Path, inputs: dict[str, Path]) -> None:
    releases = [release(), release("hope-2025-2026", "hope", individual=False), release("sol-2025-2026", "sol")]
    out = tmp_path / "out"
    result = _run(out, inputs, releases)
    assert [p.status for p in result.packages] == ["new", "new", "new"]
    assert not (out / "partners" / "hope" / "hope-2025-2026" / "data" / "individual").exists()
    checks = out / "district" / "checks"
    records = [json.loads(p.read_text()) for p in sorted((checks / "validations").glob("*.json"))]
    assert sorted((r["table"], r["agreements"]) for r in records) == [  # one validation per table, not per package
        ("aggregate_comparison", ["el-centro-2025-2026", "hope-2025-2026", "sol-2025-2026"]),
        ("attendance", ["el-centro-2025-2026", "sol-2025-2026"]),
        ("students", ["el-centro-2025-2026", "sol-2025-2026"]),
    ]
    hope = json.loads((checks / "hope-2025-2026" / "validation.json").read_text())
    assert list(hope["tables"]) == ["aggregate_comparison"]
    assert hope["tables"]["aggregate_comparison"]["rows"] == 4
    assert hope["tables"]["aggregate_comparison"]["rows_validated"] == 12
    assert (checks / "hope-2025-2026" / hope["tables"]["aggregate_comparison"]["validation"]).is_file()

    # A stricter agreement gets its own suite: its served_n of 12 is refused at 15, not merged with 10.
    strict = releases[1].agreement
    assert strict.aggregate is not None
    strict = strict.model_copy(update={"aggregate": strict.aggregate.model_copy(update={"min_cell_size": 15})})
    mixed = [releases[0], dataclasses.replace(releases[1], agreement=strict), releases[2]]
    with pytest.raises(OutputCheckFailed, match=r"^agreement hope-2025-2026: .*to_be_between on column served_n failed for 1"):
        check_releases(mixed, RAW_IDS, tmp_path / "strict")
    assert json.loads((tmp_path / "strict" / "el-centro-2025-2026" / "validation.json").read_text())["success"] is True


def test_packages_staged_two_at_a_time_from_a_relative_out_folder(
    tmp_path: Path, inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """bagit changes the working directory while it makes a bag; packages staged in
    parallel must still land whole, in place, and nothing may be written elsewhere."""
    monkeypatch.chdir(tmp_path)
    releases = [release(f"p{i}-2025-2026", f"p{i}") for i in range(6)]
    result = _run(Path("out"), inputs, releases)
    assert [p.path for p in result.packages] == [Path("out/partners") / f"p{i}" / f"p{i}-2025-2026" for i in range(6)]
    for package in result.packages:
        assert verify(tmp_path / package.path).valid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract", "out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["district", "partners"]


def test_a_package_failing_while_staged_fails_the_run_with_its_own_error(
    tmp_path: Path, inputs: dict[str, Path]
) -> None:
    """The staging thread's exception comes back as itself, and the packages staged before it (the
    failing one is signed and complete when encryption refuses it) are all removed."""
    out = tmp_path / "out"
    _run(out, inputs, [release("old-2025-2026", "old", individual=False)])
    before = _snapshot(out)
    generate_signing_keys(tmp_path / "k.pem", tmp_path / "k.pub")
    bad = release("hope-2025-2026", "hope", individual=False, recipients=("age1notakey",))
    releases = [release(), bad, release("sol-2025-2026", "sol")]
    with pytest.raises(PackageError) as failed:
        _run(out, inputs, releases, signing_key=tmp_path / "k.pem")
    assert type(failed.value) is PackageError
    assert str(failed.value) == (
        "delivery.age_recipients: entry 1 is not an age X25519 public key (expected a string starting with age1...)"
    )
    assert _snapshot(out) == before
    assert sorted(p.name for p in (out / "partners").iterdir()) == ["old"]
    assert not list(out.glob(".staging-*"))
    assert verify_audit(out / "district" / "audit.jsonl").entries == 1


def test_a_staging_batch_starts_no_package_once_the_run_has_failed(tmp_path: Path, monkeypatch) -> None:
    """A blocked check or a signal stops every batch after the package it is staging."""
    import threading

    publishing = importlib.import_module("datashare.package.publish")

    stop = threading.Event()
    staged: list[str] = []

    def stage(release, folder, private_key, report=None):  # type: ignore[no-untyped-def]
        staged.append(release.agreement_id)
        stop.set()  # the run fails while the first package is being staged
        return folder, None

    monkeypatch.setattr(publishing, "_stage", stage)
    batch = [(i, release(f"agreement-{i}", f"partner-{i}")) for i in range(3)]
    assert publishing._stage_batch(batch, tmp_path, None, stop) == [(tmp_path / "0", None)]
    assert staged == ["agreement-0"]
    assert publishing._stage_batch(batch, tmp_path, None, stop) == []


@settings(max_examples=30, deadline=None, database=None)
@given(st.lists(st.sampled_from([None, 0, 3, 3, 10, 12, 12, None]), min_size=1, max_size=30), st.booleans())
def test_distinct_values_hold_every_value_and_no_other(values: list, other: bool) -> None:
    df = pl.DataFrame({"a": values, "b": [f"x{v}" for v in values] if other else ["same"] * len(values)})
    narrow = distinct_values(df)
    assert narrow.columns == df.columns and narrow.dtypes == df.dtypes
    for name in df.columns:
        assert set(narrow.get_column(name).to_list()) == set(df.get_column(name).to_list()), name
    assert narrow.height == max(df.get_column(name).n_unique() for name in df.columns)


@settings(max_examples=8, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([None, 4, 9, 10, 12, 30]), min_size=4, max_size=24))
def test_the_check_on_distinct_values_blocks_exactly_what_every_row_would(tmp_path_factory, served: list) -> None:
    """The check validates each column's distinct values: the verdict must be the one of
    every row, and a blocked release must still count its failing rows exactly."""
    base = aggregate_table()
    table = pl.concat([base] * (len(served) // base.height + 1)).head(len(served)).with_columns(
        served_n=pl.Series(served, dtype=base.schema["served_n"])
    )
    small = sum(1 for n in served if n is not None and n < 10)  # the fixture's min_cell_size
    folder = tmp_path_factory.mktemp("checks")
    if small == 0:
        result = check_release(release(aggregate=table), RAW_IDS, folder)
        validation = json.loads(result.results_json.read_text())
        assert validation["success"] is True
    else:
        with pytest.raises(OutputCheckFailed, match=f"to_be_between on column served_n failed for {small} value"):
            check_release(release(aggregate=table), RAW_IDS, folder)


def test_distinct_values_fill_any_column_type_and_count_a_null_once() -> None:
    df = pl.DataFrame({
        "key": ["a", "b", "c", "d"],
        "n": [None, 12, None, 12],
        "codes": [["x"], ["x"], ["y", "z"], ["x"]],
    })
    narrow = distinct_values(df)
    assert narrow.height == 4 and narrow.schema == df.schema
    assert narrow.get_column("n").null_count() == 1  # filled with 12, not with the null
    assert set(map(tuple, narrow.get_column("codes").to_list())) == {("x",), ("y", "z")}
