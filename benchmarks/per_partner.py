"""What one more agreement costs: ``prepare`` once, then ``release_partner`` per agreement.

Issue 6 asks that 200 agreements take at most 1.3 times as long as 20, so each agreement's
release must cost in proportion to the students the partner served, not to the district.
This times, in one process, the summary of the extract (:func:`prepare`) and the mean
time of each agreement's release on a synthetic district (default 100,000 students,
60 schools, 200 partners, seed 7, Parquet), cached on disk between runs:

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
    from datashare.release.compute import prepare, release_partner

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
    each: list[float] = []
    for loaded in agreements:
        started = time.perf_counter()
        release_partner(prepared, loaded, secret, AS_OF)
        each.append(time.perf_counter() - started)

    print(f"district: {args.students:,} students, {args.schools} schools ({extract_dir})")
    print(f"load_extract: {loaded_s:.2f} s; prepare: {prepare_s:.2f} s")
    print(
        f"release_partner over {len(each)} agreements: total {sum(each):.2f} s, "
        f"mean {1000 * statistics.mean(each):.1f} ms, median {1000 * statistics.median(each):.1f} ms, "
        f"first {1000 * each[0]:.1f} ms, max {1000 * max(each):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
