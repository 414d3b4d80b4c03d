"""What more agreements cost: ``prepare`` once, then ``release_all`` for 1, 20, ... agreements.

Issue 6 asks that 200 agreements take at most 1.3 times as long as 20, so the agreements'
releases must cost in proportion to the students the partners served, not to the
district times the number of agreements. This times, in one process, the summary of the
extract (:func:`prepare`) and :func:`release_all` for the first 1, 20 and N agreements
on a synthetic district (default 100,000 students, 60 schools, 200 partners, seed 7,
Parquet), cached on disk between runs:

    python -m benchmarks.per_partner                         # 100,000 students, 200 agreements
    python -m benchmarks.per_partner --students 10000 --agreements 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.run import write_agreements

AS_OF = dt.date(2026, 6, 30)
SEED = 7


def district(cache: Path, students: int, schools: int, partners: int) -> Path:
    """The cached synthetic Parquet district (synthesized when missing)."""
    from datashare.synth import synthesize

    folder = cache / f"per-partner-{students}-{schools}-{partners}-{SEED}-parquet"
    stamp = folder / "per-partner-stamp.json"
    if not stamp.exists():
        print(f"synthesizing {students:,} students into {folder}", flush=True)
        synthesize(folder, students=students, schools=schools, partners=partners, seed=SEED, format="parquet")
        stamp.write_text(json.dumps({"students": students, "schools": schools, "partners": partners}))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--schools", type=int, default=60)
    parser.add_argument("--agreements", type=int, default=200)
    parser.add_argument("--cache-dir", type=Path, default=Path(__file__).parent / ".cache")
    args = parser.parse_args(argv)

    from datashare.agreement import load_agreements
    from datashare.extract import load_extract
    from datashare.release.compute import prepare, release_all

    extract_dir = district(args.cache_dir, args.students, args.schools, max(args.agreements, 2))
    started = time.perf_counter()
    extract = load_extract(extract_dir)
    loaded_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as work:
        folder = write_agreements(Path(work), args.agreements)
        agreements = load_agreements(sorted(folder.glob("*.yaml")))
    secret = bytes(32)

    started = time.perf_counter()
    prepared = prepare(extract.tables, extract.school_year)
    prepare_s = time.perf_counter() - started
    print(f"district: {args.students:,} students, {args.schools} schools ({extract_dir})")
    print(f"load_extract: {loaded_s:.2f} s; prepare: {prepare_s:.2f} s")
    for count in sorted({1, min(20, args.agreements), args.agreements}):
        walls = []
        for _ in range(3):
            started = time.perf_counter()
            release_all(prepared, agreements[:count], secret, AS_OF)
            walls.append(time.perf_counter() - started)
        best = statistics.median(walls)
        print(f"release_all of {count} agreement(s): median {best:.2f} s over 3, {1000 * best / count:.1f} ms each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
