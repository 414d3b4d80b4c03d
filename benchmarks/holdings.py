"""What the holdings audit costs: 200 agreements at once, and a year of releases.

One ``prepare`` of the extract, then :func:`release_all`, timed:

- for 20 and for N agreements (default 200) with no earlier release (every partner's
  figures still audited together: the table's residue, students at two schools);
- for a sequence of R releases (default 10) of the first 20 agreements, one a fortnight
  from October, each audited against every earlier one (the ledger's records are carried
  from one release to the next in memory, as the ledger would hold them).

Validation and packaging are left out (``benchmarks.run`` measures whole runs)::

    python -m benchmarks.holdings                                   # 100,000 students
    python -m benchmarks.holdings --students 1000000 --schools 588
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.per_partner import district, write_agreements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--schools", type=int, default=60)
    parser.add_argument("--agreements", type=int, default=200)
    parser.add_argument("--releases", type=int, default=10)
    parser.add_argument("--cache-dir", type=Path, default=Path(__file__).parent / ".cache")
    args = parser.parse_args(argv)

    from datashare.agreement import load_agreements
    from datashare.extract import load_extract
    from datashare.package.ledger import History
    from datashare.release.compute import prepare, release_all

    extract_dir = district(args.cache_dir, args.students, args.schools, max(args.agreements, 2))
    extract = load_extract(extract_dir)
    with tempfile.TemporaryDirectory() as work:
        folder = write_agreements(Path(work), args.agreements)
        agreements = load_agreements(sorted(folder.glob("*.yaml")))
    secret = bytes(32)
    prepared = prepare(extract.tables, extract.school_year)
    print(f"district: {args.students:,} students, {args.schools} schools ({extract_dir})")

    end = dt.date(2026, 6, 30)
    for count in (20, args.agreements):
        walls = []
        for _ in range(3):
            started = time.perf_counter()
            releases = release_all(prepared, agreements[:count], secret, end)
            walls.append(time.perf_counter() - started)
        suppressed = sum(r.suppression.get("suppressed:holdings", 0) for r in releases)
        print(
            f"release_all of {count} agreements: median {statistics.median(walls):.2f} s over 3 "
            f"({suppressed} figures suppressed:holdings)"
        )

    history = History()
    first = dt.date(2025, 10, 1)
    walls = []
    for step in range(args.releases):
        as_of = min(first + dt.timedelta(days=14 * step), end)
        started = time.perf_counter()
        releases = release_all(prepared, agreements[:20], secret, as_of, history=history, extract_id="bench")
        walls.append(time.perf_counter() - started)
        records = tuple(r.ledger for r in releases if r.ledger is not None)
        rosters = {"bench": releases[0].roster} if releases and releases[0].roster is not None else {}
        history = History(releases=history.releases + records, rosters=rosters)  # type: ignore[operator]
        withheld = sum(r.gates.get("withheld", 0) for r in releases)
        holdings = sum(r.suppression.get("suppressed:holdings", 0) for r in releases)
        withdrawn = sum(r.withdrawn.height for r in releases if r.withdrawn is not None)
        print(
            f"release {step + 1} of 20 agreements as of {as_of}: {walls[-1]:.2f} s "
            f"(history of {len(history.releases) - len(records)} releases; withheld {withheld}, "
            f"suppressed:holdings {holdings}, withdrawn {withdrawn})"
        )
    print(f"sequence of {args.releases} releases: {sum(walls):.2f} s in all, last {walls[-1]:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
