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

great-expectations runs fully offline: usage analytics are disabled in the environment
before it is imported and in the context's configuration, and it is imported only here,
lazily, so commands that do not check outputs stay fast. Results (with every student value
redacted) and a readable HTML page go to ``results_dir`` for compliance reviewers.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from datashare.agreement.model import Agreement
from datashare.errors import OutputCheckFailed
from datashare.package.bag import dumps_json
from datashare.package.describe import AGGREGATE_COLUMNS
from datashare.release.types import PartnerRelease

try:  # the release area owns the pseudonym format
    from datashare.release.keys import STUDENT_KEY_PATTERN
except ImportError:  # pragma: no cover - until datashare.release.keys exists
    STUDENT_KEY_PATTERN = r"^[a-z2-7]{26}$"

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


@@BODY@@

def _redact(result: dict[str, Any]) -> dict[str, Any]:
    """Drop every student value from a validation result: value sets of raw ids, failing values."""
    for item in result.get("results", []):
        config = item.get("expectation_config", {})
        kwargs = config.get("kwargs", {})
        if config.get("type") == "expect_column_values_to_not_be_in_set":
            kwargs["value_set"] = (
                f"<{len(kwargs.get('value_set') or [])} raw student_id values of the extract "
                "found in this column; redacted>"
            )
        for key in _REDACTED_RESULT_KEYS:
            item.get("result", {}).pop(key, None)
        if "observed_value" in item.get("result", {}) and "column" in kwargs:
            item["result"].pop("observed_value")
    return result


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


def _html(summary: Mapping[str, Any]) -> str:
    """A Data Docs-like page: one table of expectations per outgoing table."""
    agreement = summary["agreement"]
    status = "PASSED" if summary["success"] else "BLOCKED"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Output check: {html.escape(str(agreement['id']))}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        ".ok{color:#060}.bad{color:#a00;font-weight:bold}</style></head><body>",
        f"<h1>Output check of agreement {html.escape(str(agreement['id']))} "
        f"v{html.escape(str(agreement['version']))}</h1>",
        f"<p>As of {html.escape(summary['as_of'])}: <span class='{'ok' if summary['success'] else 'bad'}'>"
        f"{status}</span>. The suite is built from the agreement, not from the release code.</p>",
    ]
    for table, result in summary["tables"].items():
        parts.append(f"<h2>{html.escape(table)}</h2><table><tr><th>expectation</th>"
                     "<th>column</th><th>arguments</th><th>result</th><th>unexpected</th></tr>")
        for item in result["results"]:
            config = item["expectation_config"]
            kwargs = {k: v for k, v in config.get("kwargs", {}).items() if k not in ("batch_id", "column")}
            ok = item["success"]
            parts.append(
                "<tr>"
                f"<td>{html.escape(config['type'])}</td>"
                f"<td>{html.escape(str(config.get('kwargs', {}).get('column', '')))}</td>"
                f"<td>{html.escape(str(kwargs))}</td>"
                f"<td class='{'ok' if ok else 'bad'}'>{'passed' if ok else 'FAILED'}</td>"
                f"<td>{html.escape(str(item.get('result', {}).get('unexpected_count', '')))}</td>"
                "</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
