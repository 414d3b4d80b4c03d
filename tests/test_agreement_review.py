"""The review document: Markdown content, self-contained HTML, and the CLI's exit status."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datashare.agreement import load_agreement, review
from datashare.agreement.fields import ALWAYS_INCLUDED
from datashare.cli import app

REPO = Path(__file__).resolve().parent.parent
EL_CENTRO = REPO / "agreements/examples/el-centro-2025-2026.yaml"
BRIGHT_PATH = REPO / "agreements/examples/bright-path-tutoring-2025-2026.yaml"


def released_elements(path: Path) -> list[str]:
    a = load_agreement(path).agreement
    names = list(a.aggregate.metrics) if a.aggregate else []
    if a.individual:
        names += list(ALWAYS_INCLUDED)
        names += [f"{t}.{f}" for t, fields in a.individual.fields.tables().items() for f in fields]
    return names


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.cells: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_td = tag == "td"

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_td = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_td:
            self.cells.append(data)


def test_markdown_for_the_nine_contact_example():
    text = review(load_agreement(EL_CENTRO))
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[:2] == ["## Document", "## Lint findings"]  # findings at the top
    for heading in ["Parties", "Term", "Purpose", "Legal basis", "Eligibility", "Data elements released",
                    "Disclosure controls", "Consent", "Retention", "Delivery"]:
        assert f"## {heading}" in sections
    assert "El Centro Latino del Midwest (el-centro)" in text
    assert "Apple Tree School District (apple-tree)" in text
    assert "2025-08-01 to 2026-08-31" in text
    assert "2027-06-30" in text
    assert "at least 9 contacts" in text and "distinct days" in text
    assert "Minimum cell size 10" in text and "Differencing" in text and "<=9%" in text
    assert "18 or older" in text
    assert "NOT encrypted" in text
    assert "| WARNING | special_indicator | individual.fields.students[1] | nine-contact-partner.yaml:" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    for element in released_elements(EL_CENTRO):
        assert any(row.startswith(f"| {element} |") for row in rows), element
    assert "| students.special_education | individual (students) | students.special_education | " \
           "Special Indicator | yes (consent scope individual_data) |" in text
    assert "| suspension_rate | aggregate comparison | discipline.action | Conduct | no " in text


def test_markdown_for_the_aggregate_only_example():
    text = review(load_agreement(BRIGHT_PATH))
    assert "No findings" in text
    assert "No individual records are released, so no consent is needed." in text
    assert "Differencing" not in text
    assert "individual" not in text.split("## Data elements released")[1].split("## Disclosure")[0]


def test_missing_legal_basis_is_flagged(tmp_path):
    file = tmp_path / "a.yaml"
    file.write_text(EL_CENTRO.read_text(encoding="utf-8") + "legal_basis: null\n", encoding="utf-8")
    loaded = load_agreement(file)
    assert "no_legal_basis" in {f.code for f in loaded.findings}
    assert "NOT STATED" in review(loaded).split("## Legal basis")[1]


@pytest.mark.parametrize("example", [EL_CENTRO, BRIGHT_PATH])
def test_html_is_self_contained_and_lists_every_element(example):
    page = review(load_agreement(example), format="html")
    parser = _Collect()
    parser.feed(page)
    parser.close()
    cells = set(parser.cells)
    for element in released_elements(example):
        assert element in cells, element
    assert "http" not in page.lower()
    for tag, attrs in parser.tags:
        assert tag not in {"script", "link", "img", "iframe", "object"}
        assert not {"src", "href"} & set(attrs)
    assert "@media print" in page
    assert page.startswith("<!DOCTYPE html>")


def test_html_escapes_agreement_text(tmp_path):
    file = tmp_path / "a.yaml"
    text = BRIGHT_PATH.read_text(encoding="utf-8")  # extends: aggregate-only, found among the shipped templates
    file.write_text(text.replace("title: Bright Path Tutoring data sharing, 2025-2026",
                                 'title: "<script>x()</script> & co"'), encoding="utf-8")
    page = review(load_agreement(file), format="html")
    assert "<script>" not in page
    assert "&lt;script&gt;x()&lt;/script&gt; &amp; co" in page


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="markdown"):
        review(load_agreement(BRIGHT_PATH), format="pdf")  # type: ignore[arg-type]


runner = CliRunner()


def test_cli_review_writes_markdown_and_exits_0():
    result = runner.invoke(app, ["review", str(EL_CENTRO)])
    assert result.exit_code == 0, result.output
    assert "## Data elements released" in result.stdout


def test_cli_review_html_to_file(tmp_path):
    out = tmp_path / "review.html"
    result = runner.invoke(app, ["review", str(BRIGHT_PATH), "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_review_exits_1_on_lint_errors_but_prints_the_document(tmp_path):
    file = tmp_path / "a.yaml"
    file.write_text(BRIGHT_PATH.read_text(encoding="utf-8") + "aggregate: {min_cell_size: 3}\n", encoding="utf-8")
    result = runner.invoke(app, ["review", str(file)])
    assert result.exit_code == 1
    assert "| ERROR | min_cell_size_too_small | aggregate.min_cell_size |" in result.stdout


def test_cli_review_exits_2_on_a_broken_file(tmp_path):
    file = tmp_path / "a.yaml"
    file.write_text("id: [\n", encoding="utf-8")
    result = runner.invoke(app, ["review", str(file)])
    assert result.exit_code == 2
    assert "YAML syntax error" in result.output
