"""Startup: what ``import datashare.cli``, ``validate`` and ``run`` spend importing.

Each scenario runs as a fresh process under ``python -X importtime``; the import time is
the sum of the cumulative times of the top-level imports (nested imports are inside
them), so it counts every module the command loaded, whenever it loaded it. Also shown:
the heaviest top-level packages and whether great-expectations or scipy were loaded.

Usage: ``python -m benchmarks.startup [--students 2000] [--repeats 3]`` (a small synthetic
district in a temporary folder: the imports do not depend on the data's size).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

PROBE = (
    "import sys\n"
    "from datashare.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('LOADED', ' '.join(m for m in ('great_expectations', 'scipy', 'pandas', 'pandera', 'polars', 'pyarrow')"
    " if m in sys.modules), file=sys.stderr)\n"
)


def imports(stderr: str) -> tuple[float, dict[str, float], str]:
    """Total import seconds, seconds per package (its own import, wherever nested), the LOADED line."""
    total, per_package, loaded = 0.0, defaultdict(float), ""
    for line in stderr.splitlines():
        if line.startswith("LOADED"):
            loaded = line[len("LOADED") :].strip()
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, _, rest = line.partition(":")
        _self, cumulative, name = rest.split("|")
        seconds = int(cumulative) / 1e6
        package = name.strip()
        if "." not in package:  # a package's own import holds its submodules'
            per_package[package] = max(per_package[package], seconds)
        if not name.startswith("  "):  # top level: nested imports are inside it
            total += seconds
    return total, per_package, loaded


def measure(argv: list[str]) -> tuple[float, float, dict[str, float], str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True)
    wall = time.perf_counter() - started
    total, per_package, loaded = imports(done.stderr)
    return wall, total, per_package, loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from benchmarks.run import AS_OF, write_agreements  # noqa: PLC0415
    from datashare.release.keys import init_secret  # noqa: PLC0415
    from datashare.synth import synthesize  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="datashare-startup-") as tmp:
        work = Path(tmp)
        synthesize(work / "extract", students=args.students, schools=4, partners=1, format="parquet")
        init_secret(work / "district.key")
        agreements = write_agreements(work, 1)
        run = ["run", "--extract", str(work / "extract"), "--agreements", str(agreements),
               "--key-file", str(work / "district.key"), "--as-of", AS_OF]  # fmt: skip
        scenarios = {
            "import datashare.cli": ["-c", "import datashare.cli"],
            "datashare --help": ["-c", PROBE, "--help"],
            "datashare validate": ["-c", PROBE, "validate", str(work / "extract")],
            "datashare run (1 agreement)": ["-c", PROBE, *run, "--out", str(work / "out")],
        }
        measure(["-c", "import datashare.cli"])  # warm the file cache: the first import reads from disk
        print(f"median of {args.repeats} fresh processes, python -X importtime, {args.students:,} students")
        print("| command | wall s | import s | heaviest imports (s) | loaded |\n|---|---|---|---|---|")
        for name, scenario in scenarios.items():
            samples = []
            for i in range(args.repeats):
                if name.startswith("datashare run"):
                    scenario[-1] = str(work / f"out-{i}")
                samples.append(measure(scenario))
            wall = statistics.median(s[0] for s in samples)
            total = statistics.median(s[1] for s in samples)
            heavy = sorted(samples[-1][2].items(), key=lambda kv: -kv[1])
            heavy = [(k, v) for k, v in heavy if k != "datashare" and not k.startswith("_")][:6]
            shown = ", ".join(f"{k} {v:.2f}" for k, v in heavy)
            print(f"| {name} | {wall:.2f} | {total:.2f} | {shown} | {samples[-1][3] or '-'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
