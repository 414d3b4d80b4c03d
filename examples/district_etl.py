"""A district's nightly ETL step: validate the SIS extract, then release every agreement.

Usage: python examples/district_etl.py EXTRACT_DIR AGREEMENTS_DIR KEY_FILE OUT_DIR [AS_OF] [SIGNING_KEY]

Exit status 0 when every package was released (or was already there, unchanged); 1 when
the extract is not valid (the JSON report is written next to OUT_DIR); 2 when a release
was refused (an agreement not in force, a key file missing...). Nothing is written under
OUT_DIR/partners/ unless every package is.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import datashare


def main(argv: list[str]) -> int:
    if not 4 <= len(argv) <= 6:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    extract, agreements_dir, key_file, out = (Path(a) for a in argv[:4])
    as_of = dt.date.fromisoformat(argv[4]) if len(argv) > 4 else dt.date.today()
    signing_key = Path(argv[5]) if len(argv) > 5 else None

    # 1. Validate first, and keep the findings for the SIS team (no student values in them).
    report = datashare.validate(extract)
    if not report.valid:
        out.mkdir(parents=True, exist_ok=True)
        report.write_json(out / "validation_report.json")
        for finding in report.errors[:10]:
            print(f"{finding.table}.{finding.column}: {finding.code} x{finding.count} rows {list(finding.rows)}")
        return 1

    # 2. Load and lint every agreement; a reviewer sees the warnings, errors refuse the run.
    agreements = datashare.load_agreements([agreements_dir])
    for loaded in agreements:
        for warning in loaded.warnings:
            print(f"review warning {loaded.agreement.id}: {warning.code} at {warning.path}")

    # 3. Release: one pass over the extract for all partners, all packages or none.
    try:
        result = datashare.release(
            extract=extract, agreements=agreements, key_file=key_file, as_of=as_of, out=out,
            signing_key=signing_key, operator="nightly-etl",
        )
    except datashare.DatashareError as exc:
        print(f"release refused: {exc}", file=sys.stderr)
        return 2
    for package in result.published.packages:
        gates = package.release["gates"]
        print(f"{package.partner_id}/{package.agreement_id}: {package.status}, "
              f"{gates['eligible']} eligible, {gates['released']} released")
    return 0


if __name__ == "__main__":
    # A scheduler stops a job with SIGTERM: turn it into an exit that removes the temporary
    # copies of the extract and the staging folder, as Ctrl-C does.
    datashare.handle_sigterm()
    sys.exit(main(sys.argv[1:]))
