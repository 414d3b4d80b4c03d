"""The independent output check: a great-expectations suite built from the agreement.

The release code decides what to publish; this module, knowing only the *agreement* and the
raw ids of the extract, checks what is about to leave. A bug in the release (an extra
column, a raw id, a group below the minimum size) is blocked here before a package is
sealed. The suite is built per outgoing table:

- the columns are exactly those the agreement allows (``student_key``, ``school_id`` and the
  agreement's fields; for ``aggregate_comparison`` the columns of CONTRACT section 5);
- ``student_key`` is never null and matches the documented pseudonym format;
- every published group count (``served_n``, ``comparison_n``) is at least ``min_cell_size``;
- ``metric`` is one the agreement names;
- no value of any text column equals a raw ``student_id`` of the extract.

For the last rule the expectation's value set is the raw ids that occur in the column,
found with a polars join: great-expectations copies an expectation's value set many times
while validating (seconds per ten thousand values), which would not scale to a district of
a million students; the join keeps the value set small and the verdict the same.

Every expectation but the column set is a rule on each value of one column, so a frame
is validated as each column's distinct values (a passing verdict is the same as on every
row, for a fraction of the rows: grades repeat each student's key over many courses); a
failing frame is validated again row by row, so that its failing rows are counted
exactly. The result records which it was (``validated_as``).

A validation costs great-expectations a fixed fraction of a second (building the metric
graph, serializing its configuration) whatever the size of these small tables, so a run
validates once per *suite*, not per package: the tables of every release whose suite is
identical (same table, allowed columns, minimum cell size, metrics and column types, as
releases of one template have) are concatenated and validated together, in one ephemeral
context for the whole run. Every expectation is row-wise or on the shared column set, so
the frame fails exactly when one of its tables does; a failing frame is split in halves
until each failing table is validated alone, and the error names that agreement.

great-expectations runs fully offline: usage analytics are disabled in the environment
before it is imported and in the context's configuration, and it is imported only here,
lazily, so commands that do not check outputs stay fast. Results (with every student value
redacted) and readable HTML pages go to the district's results folder for compliance
reviewers.
"""

from __future__ import annotations

import hashlib
import html
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from datashare.agreement.model import Agreement
from datashare.errors import OutputCheckFailed, ReleaseError
from datashare.package.bag import dumps_json
from datashare.package.describe import AGGREGATE_COLUMNS
from datashare.release.keys import (
    STUDENT_KEY_PATTERN,  # the release owns the pseudonym format
)
from datashare.release.types import PartnerRelease

_REDACTED_RESULT_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_list")


@dataclass(frozen=True)
class CheckResult:
    """A passed check: the tables checked, the number of expectations, and where results went."""

    agreement_id: str
    tables: tuple[str, ...]
    expectations: int
    results_json: Path
    results_html: Path


def allowed_columns(agreement: Agreement) -> dict[str, tuple[str, ...]]:
    """Every table the agreement allows to leave, with exactly the columns it may carry."""
    allowed: dict[str, tuple[str, ...]] = {}
    if agreement.aggregate is not None:
        allowed["aggregate_comparison"] = AGGREGATE_COLUMNS
    if agreement.individual is not None:
        for table, fields in agreement.individual.fields.tables().items():
            allowed[table] = ("student_key", "school_id", *fields)
    return allowed


def _import_gx() -> Any:
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx  # noqa: PLC0415 - slow import, needed only here

    return gx


def preload() -> threading.Thread:
    """Start importing great-expectations in a background thread, and return the thread.

    The import takes seconds of pure Python; a run starts it before validating the extract,
    whose polars work releases the GIL, so the two overlap instead of adding up. Analytics
    are switched off before the import starts.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    thread = threading.Thread(target=_import_gx, name="datashare-gx-preload", daemon=True)
    thread.start()
    return thread


def _context(gx: Any) -> Any:
    from great_expectations.data_context.types.base import (  # noqa: PLC0415
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


@dataclass(frozen=True)
class _Signature:
    """What an outgoing table's suite depends on; tables with equal signatures share one suite.

    The minimum cell size and the metric set shape only the ``aggregate_comparison`` suite, so
    they are part of that table's signature alone; the schema (names, order, dtypes) makes
    the group's tables concatenable and gives each the same column-set expectation.
    """

    table: str
    columns: tuple[str, ...]
    min_cell_size: int | None
    metrics: tuple[str, ...] | None
    schema: tuple[tuple[str, str], ...]


def _signature(agreement: Agreement, table: str, df: pl.DataFrame) -> _Signature:
    aggregate = agreement.aggregate if table == "aggregate_comparison" else None
    return _Signature(
        table=table,
        columns=allowed_columns(agreement)[table],
        min_cell_size=aggregate.min_cell_size if aggregate is not None else None,
        metrics=tuple(sorted(aggregate.metrics)) if aggregate is not None else None,
        schema=tuple((name, str(dtype)) for name, dtype in df.schema.items()),
    )


PER_VALUE = frozenset({
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
})
"""The expectations of a suite besides its column set: each a rule on each value of one
column, whose verdict the column's distinct values decide (:func:`distinct_values`)."""


def _suite(gx: Any, sig: _Signature, df: pl.DataFrame, raw_ids: pl.DataFrame, name: str) -> Any:
    ex = gx.expectations
    suite = gx.ExpectationSuite(name=name)
    suite.add_expectation(ex.ExpectTableColumnsToMatchSet(column_set=list(sig.columns), exact_match=True))
    present = set(df.columns)
    if "student_key" in sig.columns and "student_key" in present:
        suite.add_expectation(ex.ExpectColumnValuesToNotBeNull(column="student_key"))
        suite.add_expectation(
            ex.ExpectColumnValuesToMatchRegex(column="student_key", regex=STUDENT_KEY_PATTERN)
        )
    if sig.min_cell_size is not None:
        for column in ("served_n", "comparison_n"):
            if column in present:  # null counts are suppressed groups: not published
                suite.add_expectation(
                    ex.ExpectColumnValuesToBeBetween(column=column, min_value=sig.min_cell_size)
                )
    if sig.metrics is not None and "metric" in present:
        suite.add_expectation(ex.ExpectColumnValuesToBeInSet(column="metric", value_set=list(sig.metrics)))
    texts = [column for column, dtype in df.schema.items() if dtype == pl.String]
    found = _raw_ids_in(df, texts, raw_ids)
    for column in texts:
        suite.add_expectation(ex.ExpectColumnValuesToNotBeInSet(column=column, value_set=found[column]))
    kinds = {e.expectation_type for e in suite.expectations} - {"expect_table_columns_to_match_set"}
    if not kinds <= PER_VALUE:  # a rule across rows would need every row (see _Validator.validate)
        raise ReleaseError(f"output check: {sorted(kinds - PER_VALUE)} are not rules on each value of a column")
    return suite


def _raw_ids_in(df: pl.DataFrame, columns: Sequence[str], raw_ids: pl.DataFrame) -> dict[str, list[str]]:
    """The raw ids that occur in each of ``columns``, sorted, in one join for all columns."""
    if not columns:
        return {}
    values = pl.concat(
        [df.lazy().select(column=pl.lit(column), student_id=pl.col(column)).unique() for column in columns]
    )
    hits = (
        values.join(raw_ids.lazy(), on="student_id", how="semi")
        .group_by("column")
        .agg(pl.col("student_id").sort())
        .collect()
    )
    found = dict(zip(hits.get_column("column").to_list(), hits.get_column("student_id").to_list(), strict=True))
    return {column: found.get(column, []) for column in columns}


class _Validator:
    """One ephemeral, offline great-expectations context for a whole run of validations."""

    def __init__(self, raw_ids: pl.DataFrame) -> None:
        self._gx = _import_gx()
        self._context = _context(self._gx)
        self._source = self._context.data_sources.add_pandas(name="outgoing")
        self._raw_ids = raw_ids
        self.runs = 0

    def validate(self, sig: _Signature, df: pl.DataFrame) -> tuple[dict[str, Any], int]:
        """The redacted result of one validation of ``df``, and the suite's number of expectations.

        Every expectation but the column set is a rule on each value of one column, so its
        verdict depends only on the values the column holds, not on how often: ``df`` is
        first validated as the distinct values of each column (:func:`distinct_values`; a
        third of a million rows for three million grades of 200 packages). A failing frame
        is validated again row by row, so that the failing rows are counted exactly."""
        result, expectations = self._run(sig, distinct_values(df))
        if result["success"]:
            result["validated_as"] = "each column's distinct values"
            return result, expectations
        result, expectations = self._run(sig, df)
        result["validated_as"] = "every row"
        return result, expectations

    def _run(self, sig: _Signature, df: pl.DataFrame) -> tuple[dict[str, Any], int]:
        self.runs += 1
        name = f"{sig.table}.{self.runs}"
        gx, context = self._gx, self._context
        suite = context.suites.add(_suite(gx, sig, df, self._raw_ids, name))
        batch = self._source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("all")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        result = definition.run(batch_parameters={"dataframe": df.to_pandas()}, result_format="SUMMARY")
        return _redact(result.to_json_dict()), len(suite.expectations)


def distinct_values(df: pl.DataFrame) -> pl.DataFrame:
    """Each column's distinct values (a null too), in order of first appearance, the
    shorter columns filled up by repeating one of their own values (the first that is not
    null, so that a null is counted once): every value of ``df`` is in the frame, and no
    other, so a rule on each value of a column has the same verdict on both (the column set
    is the same too)."""
    columns = [df.get_column(name).unique(maintain_order=True) for name in df.columns]
    height = max((len(c) for c in columns), default=0)
    filled = []
    for column in columns:
        if len(column) < height:
            present = column.is_not_null().arg_true()
            first = int(present[0]) if len(present) else 0
            column = column.append(column.gather(pl.repeat(first, height - len(column), dtype=pl.UInt32, eager=True)))
        filled.append(column)
    return pl.DataFrame(filled)


@dataclass(frozen=True, eq=False)
class _Outcome:
    """One great-expectations validation: the releases whose table it covered, and its result."""

    table: str
    together: tuple[int, ...]
    rows_validated: int
    result: dict[str, Any]
    expectations: int


def check_releases(
    releases: Sequence[PartnerRelease], raw_student_ids: pl.Series, results_root: Path
) -> list[CheckResult]:
    """Validate every outgoing table of every release; raise :class:`OutputCheckFailed` on any breach.

    Tables with the same suite signature (releases of one template) are validated together,
    as one concatenated frame, so a run pays great-expectations' fixed cost per template
    and table, not per partner. A failing group is split in halves until each failing
    table is validated alone, so the error names the agreement, table and expectation.
    Results are written whether the check passes or not: each validation's redacted result
    and the agreements it covered to ``results_root/validations/<table>-<digest>.json``, each
    agreement's verdict to ``results_root/<agreement_id>/`` (``validation.json``, ``index.html``),
    and an overview of the run to ``results_root/index.html``.
    """
    results_root = Path(results_root)
    folders = [results_root / r.agreement_id for r in releases]
    return _check(releases, raw_student_ids, folders, results_root / "index.html")


def check_release(
    release: PartnerRelease, raw_student_ids: pl.Series, results_dir: Path
) -> CheckResult:
    """:func:`check_releases` for one release, writing its results to ``results_dir``."""
    return _check([release], raw_student_ids, [Path(results_dir)], None)[0]


def _check(
    releases: Sequence[PartnerRelease],
    raw_student_ids: pl.Series,
    folders: Sequence[Path],
    run_index: Path | None,
) -> list[CheckResult]:
    seen: set[str] = set()
    groups: dict[_Signature, list[int]] = {}
    for index, release in enumerate(releases):
        agreement = release.agreement
        if release.agreement_id in seen:
            raise ReleaseError(f"agreement {release.agreement_id}: named twice in one run")
        seen.add(release.agreement_id)
        allowed = allowed_columns(agreement)
        extra = sorted(set(release.tables) - set(allowed))
        if extra:
            raise OutputCheckFailed(
                f"agreement {agreement.id}: table {extra[0]} is not allowed by the agreement "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
        for table in [t for t in allowed if t in release.tables]:
            groups.setdefault(_signature(agreement, table, release.tables[table]), []).append(index)
    if not releases:
        return []

    raw_ids = pl.DataFrame({"student_id": raw_student_ids.cast(pl.String).drop_nulls().unique()})
    validator = _Validator(raw_ids)
    outcomes: dict[tuple[int, str], _Outcome] = {}
    for sig, members in groups.items():
        frames = {i: releases[i].tables[sig.table] for i in members}
        _validate_group(validator, sig, frames, members, outcomes)

    root = run_index.parent if run_index is not None else folders[0]
    files: dict[_Outcome, Path] = {}
    for outcome in outcomes.values():
        if outcome not in files:
            files[outcome] = _write_validation(outcome, releases, root / "validations")
    results: list[CheckResult] = []
    summaries: list[dict[str, Any]] = []
    for index, (release, folder) in enumerate(zip(releases, folders, strict=True)):
        tables = {t: outcomes[(index, t)] for t in allowed_columns(release.agreement) if (index, t) in outcomes}
        summary = _summary(release, tables, {t: Path(os.path.relpath(files[o], folder)) for t, o in tables.items()})
        summaries.append(summary)
        folder.mkdir(parents=True, exist_ok=True)
        json_path = folder / "validation.json"
        json_path.write_text(dumps_json(summary), encoding="utf-8")
        html_path = folder / "index.html"
        html_path.write_text(_html(summary, tables), encoding="utf-8")
        expectations = sum(o.expectations for o in tables.values())
        results.append(CheckResult(release.agreement_id, tuple(tables), expectations, json_path, html_path))
    verdicts = [bool(s["success"]) for s in summaries]
    if run_index is not None:
        run_index.parent.mkdir(parents=True, exist_ok=True)
        page = _run_html(releases, files, folders, verdicts, root)
        run_index.write_text(page, encoding="utf-8")
    blocked = [i for i, ok in enumerate(verdicts) if not ok]
    if blocked:
        failures, first = summaries[blocked[0]]["failures"], results[blocked[0]]
        others = [releases[i].agreement_id for i in blocked[1:]]
        raise OutputCheckFailed(
            f"agreement {first.agreement_id}: the output check blocked the release: {failures[0]}"
            + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else "")
            + f"; see {first.results_html}"
            + (f"; also blocked: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}" if others else "")
        )
    return results


def _validate_group(
    validator: _Validator,
    sig: _Signature,
    frames: Mapping[int, pl.DataFrame],
    members: Sequence[int],
    outcomes: dict[tuple[int, str], _Outcome],
) -> None:
    """Validate ``members``' tables together; on failure, halve until each failing table stands alone.

    Every expectation of the suite is row-wise or on the (shared) column set, so a
    concatenation fails exactly when one of its parts does; should its parts all pass, the
    failing frame's verdict is kept for every one of them.
    """
    df = pl.concat([frames[i] for i in members], how="vertical")
    result, expectations = validator.validate(sig, df)
    if result["success"] or len(members) == 1:
        outcome = _Outcome(sig.table, tuple(members), df.height, result, expectations)
        for i in members:
            outcomes[(i, sig.table)] = outcome
        return
    half = len(members) // 2
    _validate_group(validator, sig, frames, members[:half], outcomes)
    _validate_group(validator, sig, frames, members[half:], outcomes)
    if all(outcomes[(i, sig.table)].result["success"] for i in members):  # fail closed: the frame stays failed
        outcome = _Outcome(sig.table, tuple(members), df.height, result, expectations)
        for i in members:
            outcomes[(i, sig.table)] = outcome


def _write_validation(outcome: _Outcome, releases: Sequence[PartnerRelease], folder: Path) -> Path:
    """Write one validation's record once, under a name derived from its content, and return its path.

    Content-derived names never overwrite the record of an earlier run that an agreement's
    ``validation.json`` may still point to.
    """
    record = {
        "table": outcome.table,
        "agreements": [releases[i].agreement_id for i in outcome.together],
        "rows": outcome.rows_validated,
        "expectations": outcome.expectations,
        "success": outcome.result["success"],
        "result": outcome.result,
    }
    text = dumps_json(record)
    path = folder / f"{outcome.table}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _failures(outcome: _Outcome) -> list[str]:
    return [f"table {outcome.table}: {_describe(i)}" for i in outcome.result["results"] if not i["success"]]


def _summary(release: PartnerRelease, tables: Mapping[str, _Outcome], files: Mapping[str, Path]) -> dict[str, Any]:
    """One agreement's verdict: for each table, its rows and the validation that covered them."""
    failures = [failure for outcome in tables.values() for failure in _failures(outcome)]
    return {
        "agreement": {"id": release.agreement_id, "version": release.agreement.version, "sha256": release.agreement_sha256},
        "as_of": release.as_of.isoformat(),
        "success": not failures,
        "failures": failures,
        "tables": {
            table: {
                "rows": release.tables[table].height,
                "success": outcome.result["success"],
                "expectations": outcome.expectations,
                "validated_with_agreements": len(outcome.together),
                "rows_validated": outcome.rows_validated,
                "validation": files[table].as_posix(),
                "checks": checks_in_words(outcome.result),
            }
            for table, outcome in tables.items()
        },
    }


def _redact(result: dict[str, Any]) -> dict[str, Any]:
    """Drop every student value from a validation result: value sets of raw ids, failing values."""
    for item in result.get("results", []):
        config = item.get("expectation_config", {})
        kwargs = config.get("kwargs", {})
        if config.get("type") == "expect_column_values_to_not_be_in_set":
            found = len(kwargs.get("value_set") or [])
            kwargs["value_set"] = (
                "none of the extract's raw student_id values occurs in this column"
                if found == 0
                else f"{found} raw student_id value(s) of the extract occur in this column (values redacted)"
            )
            kwargs["raw_ids_found"] = found
        for key in _REDACTED_RESULT_KEYS:
            item.get("result", {}).pop(key, None)
        if "observed_value" in item.get("result", {}) and "column" in kwargs:
            item["result"].pop("observed_value")
    return result


def in_words(item: Mapping[str, Any]) -> str:
    """What one expectation of a (redacted) result checked, in words a privacy officer reads."""
    config = item["expectation_config"]
    kwargs = config.get("kwargs", {})
    kind, column = config["type"], kwargs.get("column", "")
    if kind == "expect_table_columns_to_match_set":
        return "The table holds exactly the columns the agreement allows: " + ", ".join(
            str(c) for c in kwargs.get("column_set", [])
        ) + "."
    if kind == "expect_column_values_to_not_be_null":
        return f"Every row has a {column}."
    if kind == "expect_column_values_to_match_regex":
        return (
            f"Every {column} has the pseudonym's format (26 lowercase base32 characters), so "
            "no raw id or other value took its place."
        )
    if kind == "expect_column_values_to_be_between":
        return (
            f"Every published count in {column} is at least {_number(kwargs.get('min_value'))} students, "
            "the agreement's minimum group size."
        )
    if kind == "expect_column_values_to_be_in_set":
        return f"Every {column} is one the agreement names: " + ", ".join(
            str(v) for v in kwargs.get("value_set", [])
        ) + "."
    if kind == "expect_column_values_to_not_be_in_set":
        return f"No value of {column} equals a raw student_id of the district's extract."
    return kind.replace("_", " ").capitalize() + (f" (column {column})" if column else "") + "."


def _number(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def checks_in_words(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every expectation of a validation result as ``check`` (words), ``passed`` and ``failing_rows``."""
    return [
        {
            "check": in_words(item),
            "passed": bool(item["success"]),
            "failing_rows": item.get("result", {}).get("unexpected_count"),
        }
        for item in result.get("results", [])
    ]


def _describe(item: Mapping[str, Any]) -> str:
    config = item["expectation_config"]
    kwargs = config.get("kwargs", {})
    result = item.get("result", {})
    text = config["type"]
    if "column" in kwargs:
        text += f" on column {kwargs['column']}"
    if "unexpected_count" in result:
        text += f" failed for {result['unexpected_count']} value(s)"
    elif config["type"] == "expect_table_columns_to_match_set":
        mismatched = result.get("details", {}).get("mismatched", {})
        text += f" failed: unexpected {mismatched.get('unexpected', [])}, missing {mismatched.get('missing', [])}"
    return text


_STYLE = (
    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    ".ok{color:#060}.bad{color:#a00;font-weight:bold}</style>"
)


def _verdict(ok: bool, passed: str = "passed", failed: str = "FAILED") -> str:
    return f"<span class='{'ok' if ok else 'bad'}'>{passed if ok else failed}</span>"


def _html(summary: Mapping[str, Any], tables: Mapping[str, _Outcome]) -> str:
    """A Data Docs-like page: one table of expectations per outgoing table."""
    agreement = summary["agreement"]
    ident = html.escape(str(agreement["id"]))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Output check: {ident}</title>{_STYLE}</head><body>",
        f"<h1>Output check of agreement {ident} v{html.escape(str(agreement['version']))}</h1>",
        (
            f"<p>As of {html.escape(summary['as_of'])}: {_verdict(summary['success'], 'PASSED', 'BLOCKED')}. "
            "The suite is built from the agreement, not from the release code.</p>"
        ),
    ]
    for table, outcome in tables.items():
        entry = summary["tables"][table]
        link = html.escape(entry["validation"])
        shared = len(outcome.together) - 1
        parts.append(
            f"<h2>{html.escape(table)}</h2><p>{entry['rows']} row(s) of this agreement, validated "
            + (
                f"in one frame of {outcome.rows_validated} row(s) together with the same table of "
                f"{shared} other agreement(s) under an identical suite"
                if shared
                else "alone"
            )
            + f" (<a href='{link}'>full result</a>).</p><table><tr><th>what was checked</th>"
            "<th>result</th><th>rows failing</th></tr>"
        )
        for check in entry["checks"]:
            failing = check["failing_rows"]
            parts.append(
                "<tr>"
                f"<td>{html.escape(check['check'])}</td>"
                f"<td>{_verdict(check['passed'])}</td>"
                f"<td>{'' if failing is None else int(failing)}</td>"
                "</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _run_html(
    releases: Sequence[PartnerRelease],
    files: Mapping[_Outcome, Path],
    folders: Sequence[Path],
    verdicts: Sequence[bool],
    root: Path,
) -> str:
    """The run's overview: every validation and whom it covered, then every agreement's verdict."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Output check of the run</title>{_STYLE}</head><body>",
        "<h1>Output check of the run</h1>",
        (
            "<p>Tables whose suites are identical (same table, allowed columns, minimum cell size, "
            "metrics and column types) were validated together in one frame; a failing frame was "
            "split until each failing table stood alone.</p>"
        ),
        (
            "<h2>Validations</h2><table><tr><th>table</th><th>agreements</th><th>rows</th>"
            "<th>expectations</th><th>result</th></tr>"
        ),
    ]
    for outcome, path in files.items():
        names = ", ".join(releases[i].agreement_id for i in outcome.together)
        parts.append(
            f"<tr><td><a href='{html.escape(os.path.relpath(path, root))}'>{html.escape(outcome.table)}</a></td>"
            f"<td>{len(outcome.together)}: {html.escape(names)}</td><td>{outcome.rows_validated}</td>"
            f"<td>{outcome.expectations}</td><td>{_verdict(bool(outcome.result['success']))}</td></tr>"
        )
    parts.append("</table><h2>Agreements</h2><table><tr><th>agreement</th><th>result</th></tr>")
    for release, folder, ok in zip(releases, folders, verdicts, strict=True):
        link = html.escape(os.path.relpath(folder / "index.html", root))
        parts.append(
            f"<tr><td><a href='{link}'>{html.escape(release.agreement_id)}</a></td>"
            f"<td>{_verdict(ok, 'PASSED', 'BLOCKED')}</td></tr>"
        )
    parts.append("</table></body></html>\n")
    return "\n".join(parts)
