"""``OUT/district/index.html``: the district's overview of a run, in words a privacy officer reads.

Written from the run report (the same data as ``run_report.json``), each package's
``release.json`` and the output check's per-agreement ``validation.json``, in the same
staging and commit step as ``run_report.json``, so the page always describes the packages
in place. It names partners, agreements, counts and checks, never a student value; links
are relative, so the folder can be moved or archived as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datashare._json import loads as json_loads
from datashare.package.describe import REASONS, REPORT_FILE
from datashare.package.report import GATE_WORDS, INDIVIDUAL_GATES, template
from datashare.release.types import GATES

INDEX = "index.html"


def district_index(
    run_report: Mapping[str, Any], releases: Sequence[Mapping[str, Any]], checks_root: Path
) -> str:
    """The page's HTML: ``releases`` are the packages' ``release.json`` records, in run-report order."""
    packages = []
    for entry, record in zip(run_report["packages"], releases, strict=True):
        agreement = record["agreement"]
        individual = any(path.startswith("data/individual/") for path in record["files"])
        checks_link = str(entry.get("checks") or f"district/checks/{agreement['id']}/index.html")
        packages.append(
            {
                "entry": entry,
                "record": record,
                "partner": (record.get("partner") or {}).get("name") or entry["partner"],
                "gates": [
                    (gate, int(record["gates"].get(gate, 0)) if individual or gate not in INDIVIDUAL_GATES else None)
                    for gate in GATES
                    if gate in record["gates"]
                ],
                "suppression": [(code, int(n)) for code, n in sorted(record["suppression"].items()) if n],
                "withdrawn": record.get("withdrawn"),
                "report": f"../{entry['package']}/data/{REPORT_FILE}"
                if f"data/{REPORT_FILE}" in record["files"]
                else None,
                "checks_link": checks_link.removeprefix("district/"),
                "checks": _checks(checks_root / agreement["id"] / "validation.json"),
            }
        )
    blocked = [p for p in packages if p["checks"] is not None and not p["checks"]["success"]]
    return _template().render(
        run=run_report,
        packages=packages,
        blocked=blocked,
        gate_words=GATE_WORDS,
        reasons=REASONS,
    )


def _checks(path: Path) -> dict[str, Any] | None:
    """The output check's verdict for one agreement, or ``None`` when none was recorded."""
    try:
        summary = json_loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {
        "success": bool(summary.get("success")),
        "as_of": summary.get("as_of"),
        "tables": [
            {"name": name, "rows": table.get("rows"), "checks": table.get("checks", [])}
            for name, table in summary.get("tables", {}).items()
        ],
    }


def _template() -> Any:
    return template("district_index.html.j2")
