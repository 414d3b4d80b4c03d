"""The review document: what a compliance reviewer reads before signing an agreement.

One structure (a title and sections of paragraphs, lists and tables) rendered two ways:
Markdown for a repository or a ticket, and HTML as one self-contained file (inline CSS, no
scripts, fonts or links to fetch) that prints well. Lint findings come first, so nothing a
reviewer must fix can hide at the bottom. Every text is escaped in HTML.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import Literal

from datashare.agreement import fields as catalog
from datashare.agreement.load import LoadedAgreement
from datashare.schoolyear import SchoolYear

Format = Literal["markdown", "html"]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = str | Table | Bullets


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


def _date(day: dt.date | None) -> str:
    return day.isoformat() if day else "not stated"


def _where(loaded: LoadedAgreement, finding) -> str:
    """The line of a finding, with the template's name when a template set the key."""
    if finding.line is None:
        return "-"
    if finding.file is not None and finding.file != loaded.path.resolve():
        return f"{finding.file.name}:{finding.line}"
    return str(finding.line)


def _elements(loaded: LoadedAgreement) -> Table:
    """Every data element released, with source, NDPA category and consent gate."""
    a = loaded.agreement
    rows: list[tuple[str, ...]] = []
    if a.aggregate is not None:
        for metric in a.aggregate.metrics:
            info = catalog.METRICS[metric]
            rows.append((metric, "aggregate comparison", ", ".join(info.sources), info.category,
                         "no (de-identified, small cells suppressed)"))
    if a.individual is not None:
        gate = f"yes (consent scope {a.individual.consent_scope})"
        for name, info in catalog.ALWAYS_INCLUDED.items():
            rows.append((name, "individual, every table", f"{info.source_table}.{info.source_column}",
                         info.category, gate))
        for table, names in a.individual.fields.tables().items():
            for name in names:
                info = catalog.field_info(table, name)
                if info is None:
                    rows.append((f"{table}.{name}", "individual (refused: not releasable)", "-", "-", gate))
                    continue
                source = f"{info.source_table}.{info.source_column}"
                if info.derivation:
                    source += f" ({info.derivation})"
                rows.append((f"{table}.{name}", f"individual ({table})", source, info.category, gate))
    return Table(("Element", "Released as", "Source (table.column)", "NDPA Exhibit B category", "Consent required"),
                 tuple(rows))


def _sections(loaded: LoadedAgreement) -> tuple[str, list[Section]]:
    a = loaded.agreement
    kind = "template" if loaded.template else "agreement"
    title = f"Review of {kind}: {a.title or a.id or loaded.path.name}"
    sections: list[Section] = []

    about = [
        f"File: {loaded.path}",
        f"Agreement id and version: {a.id or 'not stated'}, version {a.version or 'not stated'}",
        f"SHA-256 of the resolved agreement: {loaded.sha256}",
    ]
    if len(loaded.sources) > 1:
        about.append("Extends: " + " -> ".join(str(p.name) for p in loaded.sources[1:]))
    sections.append(Section("Document", (Bullets(tuple(about)),)))

    if loaded.findings:
        n_err, n_warn = len(loaded.errors), len(loaded.warnings)
        verdict = (f"{n_err} error(s): this {kind} will be refused until they are fixed."
                   if n_err else "No errors. Warnings need a reviewer's decision; they do not block a release.")
        rows = tuple((f.severity.upper(), f.code, f.path, _where(loaded, f), f.message) for f in loaded.findings)
        sections.append(Section("Lint findings", (f"{n_err} error(s), {n_warn} warning(s). {verdict}",
                                                  Table(("Severity", "Code", "Key", "Line", "What to change"), rows))))
    else:
        sections.append(Section("Lint findings", ("No findings: the agreement passes every check.",)))

    def party(p) -> str:
        return f"{p.name} ({p.id})" if p else "not stated"

    sections.append(Section("Parties", (Bullets((f"District: {party(a.district)}", f"Partner: {party(a.partner)}")),)))

    term_lines = [f"School year: {a.school_year or 'not stated'}"]
    if a.school_year:
        year = SchoolYear.parse(a.school_year)
        term_lines[0] += f" ({year.start.isoformat()} to {year.end.isoformat()})"
    if a.term:
        days = (a.term.expires - a.term.effective).days + 1
        term_lines.append(f"Term: {_date(a.term.effective)} to {_date(a.term.expires)} ({days} days, both inclusive); "
                          "nothing is released outside it.")
    else:
        term_lines.append("Term: not stated")
    sections.append(Section("Term", (Bullets(tuple(term_lines)),)))
    sections.append(Section("Purpose", (a.purpose or "Not stated.",)))
    sections.append(Section("Legal basis", (a.legal_basis or
                                            "NOT STATED: ask the district to name the FERPA provision relied on.",)))

    schools = "every school of the district" if a.schools == "all" else "the schools " + ", ".join(a.schools)
    counting = ("distinct days on which the partner logged a contact (several contacts on one day count once)"
                if a.eligibility.count == "distinct_days" else "contact records (every logged contact counts, even "
                "several on one day)")
    partner = a.partner.name if a.partner else "the partner"
    sections.append(Section("Eligibility", (
        f"A student counts as served by {partner} when the partner logged at least {a.eligibility.min_contacts} "
        f"contacts with them during the school year {a.school_year or '(not stated)'}, counted as {counting}. "
        f"The agreement covers {schools}. Contacts outside the school year do not count.",
    )))

    sections.append(Section("Data elements released", (_elements(loaded),)))

    controls: list[str] = []
    if a.aggregate is not None:
        k = a.aggregate.min_cell_size
        controls = [
            f"Minimum cell size {k}: a figure about fewer than {k} distinct students is withheld, and so is "
            "the other group of its row (complementary suppression).",
            "Secondary suppression: where exactly one school of a metric is withheld and the all-schools row "
            "is published, the published school with the smallest served group for that metric is withheld too, so no withheld "
            "figure can be recovered by subtraction.",
            "Extreme shares: a share of students near 0% or 100% is shown only as a range (for example <=9% "
            "or >=91%), never exactly, so no one can tell that none or all of a group were affected.",
        ]
        if a.individual is not None:
            controls.append(
                "Differencing: the partner also holds its consented students' records, so a served figure is "
                f"withheld when the served students it did not receive number between 1 and {k - 1}.")
        controls.append("Counts are of distinct students, never of rows.")
    else:
        controls.append("No aggregate comparison is released.")
    if a.individual is not None:
        controls.append("Individual records carry the partner-scoped pseudonym student_key, never the student "
                        "id, names, birth dates or incident ids.")
    sections.append(Section("Disclosure controls", (Bullets(tuple(controls)),)))

    if a.individual is not None:
        adult = ("a student 18 or older on the release date counts as consented only through their own "
                 "consent (FERPA rights pass to the student at 18)"
                 if a.individual.adult_student_consent == "own" else
                 "FLAGGED: a parent's or guardian's consent is accepted even for a student 18 or older, whose "
                 "FERPA rights are their own")
        consent = (f"Individual records are released only for eligible students with a consent of scope "
                   f"{a.individual.consent_scope!r} in force on the release date (granted on or before it, not "
                   f"revoked by it). Age rule: {adult}.")
    else:
        consent = "No individual records are released, so no consent is needed."
    sections.append(Section("Consent", (consent,)))

    retention = (f"The partner destroys every copy of the data by {_date(a.retention.destroy_by)}."
                 if a.retention else "NOT STATED: an agreement must name a destroy_by date.")
    sections.append(Section("Retention", (retention,)))

    recipients = a.delivery.age_recipients if a.delivery else ()
    delivery = (f"The package is signed and encrypted (age format) to {len(recipients)} partner key(s): "
                + ", ".join(recipients) if recipients else
                "The package is signed but NOT encrypted: agree on a secure transfer, or add "
                "delivery.age_recipients with the partner's age public key.")
    sections.append(Section("Delivery", (delivery,)))
    return title, sections


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(block.headers) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            elif isinstance(block, Bullets):
                lines += [f"- {item}" for item in block.items]
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #111; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #333; padding-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 1.6rem; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid #999; padding: .25rem .4rem; text-align: left; vertical-align: top; }
th { background: #eee; }
tr.error td { background: #fde2e2; }
tr.warning td { background: #fff4d6; }
code { font-family: 'Courier New', monospace; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; }
  tr, li { break-inside: avoid; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _html(title: str, sections: list[Section]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>", f"<h1>{e(title)}</h1>"]
    for section in sections:
        out.append(f"<section><h2>{e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in block.headers)
                           + "</tr></thead><tbody>")
                for row in block.rows:
                    css = row[0].lower() if row[0] in ("ERROR", "WARNING") else ""
                    attr = f' class="{css}"' if css else ""
                    out.append(f"<tr{attr}>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
                out.append("</tbody></table>")
            elif isinstance(block, Bullets):
                out.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in block.items) + "</ul>")
            else:
                out.append(f"<p>{e(block)}</p>")
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def review(loaded: LoadedAgreement, format: Format = "markdown") -> str:  # noqa: A002 - the CLI's word
    """The review document of a loaded agreement, as Markdown or self-contained HTML."""
    title, sections = _sections(loaded)
    if format == "markdown":
        return _markdown(title, sections)
    if format == "html":
        return _html(title, sections)
    raise ValueError(f"unknown review format {format!r}; expected 'markdown' or 'html'")
