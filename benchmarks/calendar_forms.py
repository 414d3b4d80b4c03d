"""The two forms of attendance on one district: ``validate`` and ``run`` (one agreement),
daily rows against calendar plus exceptions, and the package data files compared.

    python -m benchmarks.calendar_forms --size 1000000 --repeats 1

Each district is synthesized once (Parquet, seed 7) and cached under
``benchmarks/.cache/<size>-7-parquet-<form>/``; each command runs as its own process under
``/usr/bin/time -v`` (see :mod:`benchmarks.run`). The figures go to
``benchmarks/RESULTS-calendar.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.run import (
    AS_OF,
    HERE,
    SEED,
    datashare_command,
    machine,
    measure,
    schools_for,
    synth_hash,
    table_rows,
    write_agreements,
)

FORMS = ("daily", "events")


def district(cache: Path, size: int, form: str) -> tuple[Path, dict]:
    """The cached district of ``size`` students in one attendance form, and its stamp."""
    folder = cache / f"{size}-{SEED}-parquet-{form}"
    stamp_file = folder / "benchmark-stamp.json"
    wanted = {"size": size, "seed": SEED, "form": form, "schools": schools_for(size), "synth_hash": synth_hash()}
    if stamp_file.exists():
        stamp = json.loads(stamp_file.read_text())
        if all(stamp.get(k) == v for k, v in wanted.items()):
            return folder, stamp
    print(f"synthesizing {size:,} students ({form}) into {folder}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    building = cache / f".{folder.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    sample = measure([*datashare_command(), "synth", str(building), "--students", str(size),
                      "--schools", str(wanted["schools"]), "--partners", "4", "--seed", str(SEED),
                      "--format", "parquet", "--attendance", form])  # fmt: skip
    stamp = {**wanted, "rows": table_rows(building), "synth_seconds": round(sample.wall, 1)}
    (building / "benchmark-stamp.json").write_text(json.dumps(stamp, indent=2))
    building.rename(folder)
    return folder, stamp


def data_hashes(out: Path) -> dict[str, str]:
    root = out / "partners"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("data/**/*"))
        if p.is_file()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calendar_forms", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="students in the district")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each command")
    parser.add_argument("--cache-dir", default=str(HERE / ".cache"))
    parser.add_argument("--results", default=str(HERE / "RESULTS-calendar.md"))
    args = parser.parse_args(argv)
    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()
    cache = Path(args.cache_dir)
    rows: list[str] = []
    hashes = {}
    with tempfile.TemporaryDirectory(prefix="datashare-bench-") as tmp:
        work = Path(tmp)
        agreements = write_agreements(work, 1)
        (work / "keys").mkdir()
        key = work / "keys" / "district.key"
        measure([*datashare_command(), "keys", "init", str(key)])
        for form in FORMS:
            extract, stamp = district(cache, args.size, form)
            figures = {}
            for name in ("validate", "run"):
                samples = []
                for k in range(args.repeats):
                    out = work / f"out-{form}-{k}"
                    command = (
                        [*datashare_command(), "validate", str(extract)]
                        if name == "validate"
                        else [*datashare_command(), "run", "--extract", str(extract), "--agreements",
                              str(agreements), "--key-file", str(key), "--as-of", AS_OF, "--out", str(out),
                              "--quiet"]  # fmt: skip
                    )
                    samples.append(measure(command))
                    print(f"{form} {name}: {samples[-1].wall:.1f} s, {samples[-1].rss_kb / 1024**2:.2f} GB", flush=True)
                    if name == "run":
                        hashes[form] = data_hashes(out)
                        shutil.rmtree(out, ignore_errors=True)
                figures[name] = (
                    statistics.median(s.wall for s in samples),
                    max(s.rss_kb for s in samples) / 1024**2,
                )
            att = stamp["rows"].get("attendance", 0)
            cal = stamp["rows"].get("calendar", 0)
            rows.append(
                f"| {form} | {att:,} | {cal:,} | {figures['validate'][0]:.1f} s | {figures['validate'][1]:.2f} GB "
                f"| {figures['run'][0]:.1f} s | {figures['run'][1]:.2f} GB | {stamp['synth_seconds']:.0f} s |"
            )
    same = hashes.get("daily") == hashes.get("events") and bool(hashes.get("daily"))
    info = machine()
    text = "\n".join([
        "# The two forms of attendance: benchmark results",
        "",
        f"Written by `python -m benchmarks.calendar_forms --size {args.size} --repeats {args.repeats}` "
        f"on {started:%Y-%m-%d %H:%M} UTC; {args.size:,} students, Parquet, one nine-contact agreement "
        "(aggregate and individual). Median wall time and peak memory of each command, its own process.",
        f"Machine: {', '.join(f'{k} {v}' for k, v in info.items())}.",
        f"Load average (1, 5, 15 min) at start {', '.join(f'{x:.1f}' for x in load_start)}, at end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}: on a shared machine wall times are pessimistic.",
        "",
        "| form | attendance rows | calendar rows | validate | peak | run, 1 agreement | peak | synthesized in |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Package data files of both forms byte-identical: {'yes' if same else 'NO'} "
        f"({len(hashes.get('daily', {}))} files).",
        "",
    ])
    Path(args.results).write_text(text)
    print(text)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
