"""What a partner reads first: ``data/README.md`` and ``data/datapackage.json``.

Both are written from the agreement and the tables actually written, so they describe
exactly what is in the package. Individual fields are described by the agreement's field
catalogue (``datashare.agreement.fields``), the same words a reviewer reads; a field the
catalogue does not know is still listed, with the agreement as its source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from datashare.agreement.fields import INDIVIDUAL_FIELDS
from datashare.agreement.model import Agreement

REPORT_FILE = "report.html"
"""The partner's report, beside the data files under ``data/``."""

AGGREGATE_COLUMNS: tuple[str, ...] = (
    "school_id",
    "school_name",
    "metric",
    "served_n",
    "served_value",
    "served_display",
    "comparison_n",
    "comparison_value",
    "comparison_display",
    "difference",
    "suppressed",
    "note",
)
"""The columns of ``aggregate_comparison`` (CONTRACT section 5), in file order."""

_AGGREGATE: dict[str, str] = {
    "school_id": "The school, or ALL for the schools of the agreement together.",
    "school_name": "The school's name (All schools on the ALL rows).",
    "metric": "Which figure the row holds (see Metrics below).",
    "served_n": "Number of distinct students served by the partner behind the figure; "
    "empty when suppressed.",
    "served_value": "The figure for served students; empty when suppressed or coded.",
    "served_display": "The served figure as it may be quoted: a proportion as a percentage "
    "with one decimal (93.5%), a mean with two decimals (2.51), a coded range such as <=5%, "
    "or suppressed.",
    "comparison_n": "Number of distinct other students enrolled at the school behind the "
    "figure; empty when suppressed.",
    "comparison_value": "The figure for the comparison group; empty when suppressed or coded.",
    "comparison_display": "The comparison figure as it may be quoted.",
    "difference": "served_value minus comparison_value; empty whenever either side is withheld.",
    "suppressed": "true when a figure of the row is withheld to protect small groups.",
    "note": "Why a figure is withheld or coded: the side (served or comparison) and its "
    "reason code, e.g. served suppressed:small_cell; the codes are explained in README.md.",
}

_COMMON: dict[str, str] = {
    "student_key": "The student's pseudonym for this partner: stable across releases to "
    "this partner, different for every other partner, not reversible without the district's "
    "secret.",
    "school_id": "The school where the student is enrolled.",
}

_TABLE_TITLES: dict[str, str] = {
    "aggregate_comparison": "Served students compared with the other students of each school",
    "students": "Consented students: demographic fields named in the agreement",
    "attendance": "Consented students: attendance for the school year, per school",
    "discipline": "Consented students: discipline incidents",
    "grades": "Consented students: course grades",
    "withdrawn": "Students whose records you received earlier and must now destroy",
}

def _withdrawn_section(destroy_by: object) -> str:
    """What the agreement requires of the partner for the students in ``withdrawn.csv``."""
    deadline = f", and in any case by {destroy_by}" if destroy_by else ""
    return (
        "## Withdrawn students\n\n"
        "`withdrawn.csv` lists students whose individual records you received in an earlier "
        "package of this agreement and who are not released in this one. The agreement lets "
        "you hold individual records only of the students a current package releases: destroy "
        "every record of these students now (every file, copy and backup, and anything derived "
        f"from them that could identify a student){deadline}, and confirm it to the district. "
        "Aggregate figures you already hold are not affected.\n"
    )

GRAIN: dict[str, str] = {
    "aggregate_comparison": "one row per school (and ALL, the covered schools together) and "
    "metric: the served students' figure beside the comparison group's",
    "students": "one row per released student and school: a student enrolled at two covered "
    "schools has two rows, so there can be more rows than released students",
    "attendance": "one row per released student and school, summarising the school year",
    "discipline": "one row per discipline incident of a released student (an incident "
    "involving several students appears once for each; the incident id is never released)",
    "grades": "one row per course grade of a released student in a term",
    "withdrawn": "one row per student whose individual records an earlier release of this "
    "agreement gave you and this one does not",
}
"""What one row of each table is (CONTRACT section 5), in words for data/README.md and
datapackage.json; keyed by table stem, so a table added later only needs an entry here."""

_PRIMARY_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "aggregate_comparison": (("school_id", "metric"),),
    "students": (("student_key", "school_id"),),
    "attendance": (("student_key", "school_id"),),
    "grades": (("student_key", "school_id", "school_year", "term", "course_id"),),
    "withdrawn": (("student_key",),),
}

REASONS: dict[str, str] = {
    "suppressed:small_cell": "Fewer students than the agreement's minimum group size were "
    "behind this figure, so it is withheld: a figure about very few students could tell "
    "you something about one of them.",
    "suppressed:differencing": "You receive individual records for some of these served "
    "students. Subtracting them from this figure would leave a group smaller than the "
    "minimum size, so the figure is withheld.",
    "suppressed:complementary": "The other figure of the same row was withheld. This one is "
    "withheld too, because together with the school's total it would give the withheld one "
    "away.",
    "suppressed:secondary": "Withheld so that a figure withheld at another school cannot be "
    "worked out by subtracting the published schools from the all-schools figure.",
    "suppressed:holdings": "Withheld because, combined with figures or individual records you "
    "received under this or another agreement, in this release or an earlier one, it would "
    "reveal a group smaller than the minimum size.",
    "coded:extreme_share": "The share is so close to 0% or 100% that the exact figure could "
    "show that none or all of the students had the outcome. It is shown as a range such as "
    "<=5% or >=95% instead of its exact value.",
    "not_supplied": "The district's extract did not include the data this figure is computed "
    "from (the table was empty), so it is shown as missing rather than as zero.",
}
"""Every reason code that can appear in ``note``, in plain words (CONTRACT section 3)."""

WITHDRAWN_REASONS: dict[str, str] = {
    "consent_revoked": "the parent, guardian or student revoked the consent",
    "consent_expired": "the consent is no longer in force",
    "consent_invalid": "the consent no longer counts (for example the student turned 18 and "
    "must now consent personally)",
    "not_eligible": "the student no longer meets the agreement's eligibility rule",
    "withheld": "releasing the records again would expose a figure already published",
}

_TABLE_SCHEMA_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "string",
    pl.Boolean: "boolean",
    pl.Date: "date",
    pl.Datetime: "datetime",
    pl.Float32: "number",
    pl.Float64: "number",
}


@dataclass(frozen=True)
class FileEntry:
    """One file written under ``data/``: its path inside ``data/``, table stem and digest."""

    path: str
    table: str
    format: str
    rows: int
    bytes: int
    sha256: str


def describe_column(table: str, column: str) -> str:
    """A plain-words description of one column of an outgoing table."""
    if table == "aggregate_comparison" and column in _AGGREGATE:
        return _AGGREGATE[column]
    if table == "withdrawn" and column in _WITHDRAWN:
        return _WITHDRAWN[column]
    if column in _COMMON:
        return _COMMON[column]
    known = INDIVIDUAL_FIELDS.get(table, {}).get(column)
    return known.description if known else f"The field {column} of {table}, released as named in the agreement."


def table_schema(table: str, df: pl.DataFrame) -> dict[str, object]:
    """A Frictionless Table Schema for one table; ``primaryKey`` only when the data bears it out."""
    fields = [
        {
            "name": name,
            "type": _field_type(dtype),
            "description": describe_column(table, name),
        }
        for name, dtype in df.schema.items()
    ]
    schema: dict[str, object] = {"fields": fields, "missingValues": [""]}
    for key in _PRIMARY_KEYS.get(table, ()):
        if set(key) <= set(df.columns) and _is_key(df, key):
            schema["primaryKey"] = list(key)
            break
    return schema


def _field_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "integer"
    return _TABLE_SCHEMA_TYPES.get(type(dtype), "any")


def _is_key(df: pl.DataFrame, key: Sequence[str]) -> bool:
    cols = list(key)
    nulls, duplicates = df.select(
        nulls=pl.any_horizontal(pl.col(cols).is_null()).any(), duplicates=pl.struct(cols).is_duplicated().any()
    ).row(0)
    return nulls is not True and not duplicates


def resource_name(path: str) -> str:
    """The Data Package resource name of a file under ``data/``: its whole path, format
    included, so the CSV and Parquet copies of a table get distinct names
    (``aggregate-comparison-csv``, ``aggregate-comparison-parquet``)."""
    return path.lower().replace("/", "-").replace("_", "-").replace(".", "-")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _key_words(schema: Mapping[str, object]) -> str:
    key = schema.get("primaryKey")
    if not key:
        return " No set of its columns identifies a row: it has no primary key."
    return " Primary key: " + ", ".join(key) + "."  # type: ignore[arg-type]


def datapackage(
    agreement: Agreement, schemas: Mapping[str, Mapping[str, object]], files: Sequence[FileEntry]
) -> str:
    """The Frictionless Data Package descriptor (JSON text, sorted keys) for ``files``;
    ``schemas``: each table's :func:`table_schema`."""
    resources = []
    for entry in files:
        fmt = entry.format
        resources.append(
            {
                "name": resource_name(entry.path),
                "path": entry.path,
                "title": _TABLE_TITLES.get(entry.table, entry.table),
                "description": f"{_capital(GRAIN.get(entry.table, 'one row per record'))}."
                + _key_words(schemas[entry.table]),
                "format": fmt,
                "mediatype": "text/csv" if fmt == "csv" else "application/vnd.apache.parquet",
                "encoding": "utf-8" if fmt == "csv" else None,
                "hash": "sha256:" + entry.sha256,
                "bytes": entry.bytes,
                "schema": schemas[entry.table],
            }
        )
    for resource in resources:
        if resource["encoding"] is None:
            # frictionless reads Parquet through pyarrow, not its byte loader, so it cannot
            # count a Parquet file's bytes and would fail any stated count; the sha256 stays
            # (frictionless skips it there), and release.json and the manifest hold both.
            del resource["encoding"], resource["bytes"]
    descriptor = {
        "profile": "data-package",
        "name": agreement.id,
        "title": agreement.title or agreement.id,
        "version": str(agreement.version),
        "description": agreement.purpose,
        "contributors": [
            {"title": agreement.district.name if agreement.district else "", "role": "publisher"}
        ],
        "resources": resources,
    }
    return json.dumps(descriptor, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def readme(
    agreement: Agreement,
    tables: Mapping[str, pl.DataFrame],
    files: Sequence[FileEntry],
    *,
    schemas: Mapping[str, Mapping[str, object]],
    as_of: str,
) -> str:
    """``data/README.md``: every file and column in plain words, and the agreement's terms;
    ``schemas``: each table's :func:`table_schema`."""
    a = agreement
    district = a.district.name if a.district else "the district"
    partner = a.partner.name if a.partner else "the partner"
    lines = [
        f"# {a.title or a.id}",
        "",
        f"Data released by **{district}** to **{partner}** under agreement `{a.id}` "
        f"version {a.version}, as of {as_of}, for the school year {a.school_year}.",
        "",
        "## The agreement's terms",
        "",
        f"- **Parties:** {district} (`{a.district.id if a.district else ''}`) and "
        f"{partner} (`{a.partner.id if a.partner else ''}`).",
        f"- **Purpose:** {a.purpose}",
    ]
    if a.legal_basis:
        lines.append(f"- **Legal basis:** {a.legal_basis}")
    if a.term:
        lines.append(f"- **Term:** in force from {a.term.effective} to {a.term.expires}.")
    if a.retention:
        lines.append(
            f"- **Retention:** destroy every copy of this data by {a.retention.destroy_by}."
        )
    schools = "every school of the district" if a.schools == "all" else ", ".join(a.schools)
    lines += [
        f"- **Schools covered:** {schools}.",
        f"- **Who counts as served:** a student with at least {a.eligibility.min_contacts} "
        f"contacts with {partner} during the school year, counted as "
        + ("distinct contact days." if a.eligibility.count == "distinct_days" else "contact records."),
    ]
    if a.aggregate:
        lines.append(
            f"- **Disclosure control:** every published figure rests on at least "
            f"{a.aggregate.min_cell_size} distinct students; smaller groups are suppressed, "
            "together with any figure from which a suppressed one could be recovered by "
            "subtraction; shares of students close to 0% or 100% are shown as ranges."
        )
    if a.individual:
        lines.append(
            "- **Individual records:** only for served students with a valid consent of "
            f"scope `{a.individual.consent_scope}`"
            + (
                " (students 18 or over only through their own consent)."
                if a.individual.adult_student_consent == "own"
                else " (a parent's consent also counts for students 18 or over)."
            )
        )
    lines += [
        "",
        "## What you may and may not do",
        "",
        "- You may use this data only for the purpose above, inside the term of the agreement.",
        "- Keep it on systems only your authorised staff can reach; do not pass it on to anyone.",
        "- Do not try to re-identify any student, or link `student_key` to other data to do so.",
        "- Publish only figures that respect the same minimum group size; never publish "
        "individual records.",
    ]
    if a.retention:
        lines.append(f"- Destroy every copy by {a.retention.destroy_by} and tell the district.")
    lines += [
        "",
        "## Checking the package",
        "",
        "This folder is a BagIt bag: `manifest-sha256.txt` lists the SHA-256 of every file "
        "here, and `release.json` beside the `data/` folder records the agreement and the row "
        "count of each file. Run `datashare verify <package>` (with `--public-key` when the "
        "district gave you its signing key) before using the data.",
        "",
        "## Files",
        "",
    ]
    lines.append(
        f"- `{REPORT_FILE}`: the report to read first: who is covered, the students at each "
        "step, and every figure as a chart and a table, with each withheld figure explained. "
        "It opens in any web browser, needs no network, and prints."
    )
    for entry in files:
        key = schemas[entry.table].get("primaryKey")
        lines.append(
            f"- `{entry.path}`: {_TABLE_TITLES.get(entry.table, entry.table)}; "
            f"{entry.rows} rows ({entry.format}). One row: "
            f"{GRAIN.get(entry.table, 'one record')}. "
            + (f"Primary key: {', '.join(f'`{k}`' for k in key)}." if key else "No primary key.")
        )
    lines += [
        "",
        "## Units",
        "",
        "The `_value` columns hold proportions from 0 to 1 (rounded to 3 decimals) and means "
        "(rounded to 2). The `_display` columns show the same figures as they may be quoted: "
        "proportions as percentages with one decimal (`93.5%`), means with two decimals "
        "(`2.51`), coded shares as ranges (`<=9%`), and `suppressed` for a withheld figure.",
        "",
        "## Why a figure is withheld or coded",
        "",
        "The `note` column names the side (`served` or `comparison`) and one of these codes:",
        "",
    ]
    lines += [f"- `{code}`: {text}" for code, text in REASONS.items()]
    lines += [
        "",
        "## Loading the files",
        "",
        "- polars: `pl.read_parquet(path)`; pyarrow: `pyarrow.parquet.read_table(path)`; "
        "DuckDB: `SELECT * FROM 'path'`; R: `arrow::read_parquet(path)`.",
        "- pandas: `pd.read_parquet(path, dtype_backend=\"numpy_nullable\")` keeps counts "
        "with empty cells as integers (`Int64`) and missing values as `<NA>`. The files "
        "already ask pandas for nullable integers, so a plain `pd.read_parquet(path)` gives "
        "integers too; the option also keeps missing text and booleans as `<NA>`.",
        "- Excel and other spreadsheets: open `aggregate_comparison.csv`. A text cell that "
        "would start with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a "
        "leading `'` so that it is never run as a formula.",
    ]
    lines += ["", "## Columns", ""]
    for table, df in tables.items():
        lines += [f"### {table}", "", "| column | type | meaning |", "|---|---|---|"]
        for name, dtype in df.schema.items():
            lines.append(f"| `{name}` | {_field_type(dtype)} | {describe_column(table, name)} |")
        lines.append("")
    if "withdrawn" in tables:
        lines += [_withdrawn_section(a.retention.destroy_by if a.retention else None)]
    if a.aggregate and "aggregate_comparison" in tables:
        lines += ["## Metrics", ""]
        lines += [f"- `{m}`: {_METRICS.get(m, m)}" for m in a.aggregate.metrics]
        lines.append("")
    return "\n".join(lines)


_METRICS: dict[str, str] = {
    "attendance_rate": "mean of each student's present days divided by enrolled days.",
    "chronic_absence_rate": "share of students (with at least 10 enrolled days) absent on "
    "at least 10% of their enrolled days.",
    "suspension_rate": "share of students with at least one in-school suspension, "
    "out-of-school suspension or expulsion.",
    "incidents_per_student": "mean number of discipline incidents per student.",
    "mean_gpa": "mean of each student's grade points weighted by credits attempted.",
    "course_failure_rate": "share of graded students with at least one course at 0 grade points.",
}

_WITHDRAWN: dict[str, str] = {
    "student_key": "The pseudonym of a student whose earlier individual records you must destroy.",
    "reason": "Why the records are withdrawn: "
    + "; ".join(f"{code} ({text})" for code, text in WITHDRAWN_REASONS.items())
    + ".",
}
