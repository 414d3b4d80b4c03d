"""The benchmark harness: synthetic districts, ``validate`` and ``run`` against the floor and pandas.

Each measured command runs as its own process under ``/usr/bin/time -v`` (wall time from
this process, peak resident memory from ``time``), so one measurement never inherits
another's memory or caches in the Python heap. Synthetic districts are cached under
``benchmarks/.cache/<size>-<seed>-<format>/`` and rebuilt when the synthesizer's source
changes. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
AS_OF = "2026-06-30"
SEED = 7
TIME = Path("/usr/bin/time")

TARGETS = (
    # (label, numerator, denominator, limit)
    # issue 14: from Parquet, sorted or shuffled, at 1,000,000 students
    ("run(20) / floor(20)", "run:20", "floor:20", 3.0),
    ("run(200) / run(20)", "run:200", "run:20", 1.3),
    ("validate / floor", "validate", "floor", 2.0),
)
RSS_TARGET_GB = 6.0
PANDAS_TARGET = 10.0


# --------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    wall: float
    rss_kb: int
    stdout: str


@dataclass
class Figure:
    """Repeated measurements of one command on one district."""

    size: int
    fmt: str
    name: str
    rows: int
    samples: list[Sample] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)

    def walls(self) -> list[float]:
        return [s.wall for s in self.samples]

    def rss_gb(self) -> list[float]:
        return [s.rss_kb / 1024**2 for s in self.samples]

    def median_wall(self) -> float:
        return statistics.median(self.walls())


def datashare_command() -> list[str]:
    """The venv's ``datashare`` console script, or ``python -m datashare.cli`` without one."""
    script = Path(PYTHON).with_name("datashare")
    return [str(script)] if script.exists() else [PYTHON, "-m", "datashare.cli"]


def measure(command: list[str], cwd: Path | None = None) -> Sample:
    """Run one command as a child process: wall time and peak RSS (of the whole process tree,
    any child process included), failing loudly on error."""
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        if TIME.exists():
            full = [str(TIME), "-v", "-o", stats.name, *command]
        else:  # a fresh wrapper whose only child is the command: its children's max RSS
            wrapper = (
                "import resource,subprocess,sys;r=subprocess.run(sys.argv[1:]).returncode;"
                "print('Maximum resident set size (kbytes):',"
                "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,file=open(%r,'w'));sys.exit(r)" % stats.name
            )
            full = [PYTHON, "-c", wrapper, *command]
        import psutil  # noqa: PLC0415 - only while measuring; before the child starts

        started = time.perf_counter()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            child = subprocess.Popen(full, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
            tree_kb = _tree_peak_kb(child, psutil)
            wall = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        report = Path(stats.name).read_text()
    if child.returncode != 0:
        raise SystemExit(
            f"benchmark command failed with exit {child.returncode}: {' '.join(command)}\n"
            f"--- stdout ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-3000:]}"
        )
    rss = 0
    for line in report.splitlines():
        if "Maximum resident set size" in line:
            rss = int(line.rsplit(":", 1)[1])
    # The largest process's peak (time -v), or the whole tree's sampled peak when larger:
    # a command that starts child processes is measured with their memory.
    return Sample(wall=wall, rss_kb=max(rss, tree_kb), stdout=stdout)


def _tree_peak_kb(child: subprocess.Popen[str], psutil: Any, every: float = 0.1) -> int:
    """Wait for ``child``; the peak of the summed resident memory of it and every process
    below it, sampled every ``every`` seconds. The wait returns the moment the child ends,
    so the sampling adds nothing to the wall time."""
    peak = 0
    try:
        root = psutil.Process(child.pid)
    except psutil.NoSuchProcess:
        root = None
    while True:
        total = 0
        if root is not None:
            try:
                for process in [root, *root.children(recursive=True)]:
                    try:
                        total += process.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, total)
        try:
            child.wait(timeout=every)
        except subprocess.TimeoutExpired:
            continue
        return peak // 1024


def stage_times(stdout: str) -> dict[str, float]:
    """The stage lines ``datashare run`` prints, e.g. ``  validating the extract (3.2s)``."""
    stages: dict[str, float] = {}
    for line in stdout.splitlines():
        line = line.strip()
        if line.endswith("s)") and " (" in line:
            name, _, seconds = line.rpartition(" (")
            try:
                value = float(seconds[:-2])
            except ValueError:
                continue
            name = _stage_name(name)
            stages[name] = round(stages.get(name, 0.0) + value, 3)
    return stages


def _stage_name(name: str) -> str:
    """One name per stage whatever the run: names that carry a count are shortened."""
    if name.startswith("computing "):  # "computing 20 release(s) as of ...: summarizing the extract"
        return "computing the releases: " + name.partition(": ")[2] if ": " in name else "computing the releases"
    if name.startswith("checking and staging"):
        return "checking the outgoing tables (packages staged meanwhile)"
    return re.sub(r" of \d+ (agreement|partner)\(s\)$", "", name)


# --------------------------------------------------------------------------- districts


def synth_hash() -> str:
    """A hash of the synthesizer's source: a cached district is stale when it changes."""
    import datashare.synth as synth

    digest = hashlib.sha256()
    for path in sorted(Path(synth.__file__).parent.rglob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def schools_for(size: int) -> int:
    return max(4, round(size / 1700))


def district(cache: Path, size: int, fmt: str, partners: int, seed: int = SEED) -> tuple[Path, dict]:
    """The cached synthetic district (synthesized when missing or stale) and its stamp."""
    folder = cache / f"{size}-{seed}-{fmt}"
    stamp_file = folder / "benchmark-stamp.json"
    wanted = {"size": size, "seed": seed, "format": fmt, "schools": schools_for(size),
              "partners": partners, "synth_hash": synth_hash()}  # fmt: skip
    if stamp_file.exists():
        stamp = json.loads(stamp_file.read_text())
        if all(stamp.get(k) == v for k, v in wanted.items()):
            return folder, stamp
    print(f"synthesizing {size:,} students ({fmt}, {partners} partners) into {folder}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    building = cache / f".{folder.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    sample = measure([*datashare_command(), "synth", str(building), "--students", str(size),
                      "--schools", str(wanted["schools"]), "--partners", str(partners),
                      "--seed", str(seed), "--format", fmt])  # fmt: skip
    stamp = {**wanted, "rows": table_rows(building), "synth_seconds": round(sample.wall, 1),
             "synth_rss_gb": round(sample.rss_kb / 1024**2, 2)}  # fmt: skip
    (building / "benchmark-stamp.json").write_text(json.dumps(stamp, indent=2))
    building.rename(folder)
    return folder, stamp


BIG_TABLES = ("attendance", "service_contacts", "grades", "discipline", "enrollments", "consents")


def shuffled(cache: Path, size: int, partners: int, seed: int = SEED) -> tuple[Path, dict]:
    """The Parquet district with the rows of its big tables in a random order, cached beside it.

    A SIS export is not always sorted by student: this measures what sorted input hides
    (group-bys and joins over keys that arrive in no order). Small tables are linked as is.
    """
    import polars as pl

    source, stamp = district(cache, size, "parquet", partners, seed)
    folder = cache / f"{size}-{seed}-parquet-shuffled"
    stamp_file = folder / "benchmark-stamp.json"
    wanted = {**stamp, "format": "parquet-shuffled"}
    if stamp_file.exists() and json.loads(stamp_file.read_text()) == wanted:
        return folder, wanted
    print(f"shuffling the big tables of {size:,} students into {folder}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    building = cache / f".{folder.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for path in sorted(source.glob("*.parquet")):
        if path.stem in BIG_TABLES:
            pl.read_parquet(path).sample(fraction=1.0, shuffle=True, seed=seed).write_parquet(building / path.name)
        else:
            os.link(path, building / path.name)
    (building / "benchmark-stamp.json").write_text(json.dumps(wanted, indent=2))
    building.rename(folder)
    return folder, wanted


def table_rows(extract: Path) -> dict[str, int]:
    """Rows per input table (data rows, header excluded)."""
    import polars as pl

    rows = {}
    for path in sorted(extract.iterdir()):
        if path.suffix == ".parquet":
            rows[path.stem] = pl.scan_parquet(path).select(pl.len()).collect().item()
        elif path.suffix == ".csv":
            rows[path.stem] = pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()
    return rows


# --------------------------------------------------------------------------- agreements


def partner_ids(count: int) -> list[str]:
    """The synthetic district's partner ids, in order."""
    names = ["el-centro", "bright-path-tutoring"]
    return [names[i] if i < 2 else f"partner-{i + 1:03d}" for i in range(count)]


AGREEMENT = """\
# Benchmark agreement in the style of agreements/examples/el-centro-2025-2026.yaml.
datashare: 1
id: {partner}-2025-2026
version: 1
title: {partner} data sharing, 2025-2026
extends: {template}
district: {{id: apple-tree, name: Apple Tree School District}}
partner: {{id: {partner}, name: Partner {partner}}}
school_year: 2025-2026
term: {{effective: 2025-08-01, expires: 2026-08-31}}
purpose: >-
  Evaluate the partner's after-school family engagement and tutoring services, and plan
  bilingual family support and accompaniment to IEP meetings for the students it serves.
retention: {{destroy_by: 2027-06-30}}
"""


def write_agreements(folder: Path, count: int) -> Path:
    """``count`` nine-contact agreements (individual data), one per partner, in a new folder."""
    template = "nine-contact-partner"  # a shipped template, found by name (extends takes no absolute path)
    target = folder / f"agreements-{count}"
    target.mkdir(parents=True, exist_ok=True)
    for partner in partner_ids(count):
        text = AGREEMENT.format(partner=partner, template=template)
        (target / f"{partner}-2025-2026.yaml").write_text(text)
    return target


# --------------------------------------------------------------------------- the pandas check


def compare_with_pandas(package_table: Path, reference: Path) -> tuple[int, list[str]]:
    """Published figures compared, and mismatches with the pandas reference (empty: same).

    Only published figures are compared: a suppressed or coded value is null in the
    package. A value that differs by one unit in the last decimal is a mismatch unless the
    exact pandas value lies within 1e-9 of the rounding boundary (summation order).
    """
    import polars as pl

    published = pl.read_parquet(package_table)
    ref = pl.read_parquet(reference)
    joined = published.join(ref, on=["school_id", "metric"], how="left", suffix="_pandas")
    problems: list[str] = []
    compared = 0
    for row in joined.iter_rows(named=True):  # a few hundred cells at most
        where = f"school {row['school_id']}, {row['metric']}"
        decimals = 2 if row["metric"] in ("incidents_per_student", "mean_gpa") else 3
        for side in ("served", "comparison"):
            n, value = row[f"{side}_n"], row[f"{side}_value"]
            n_ref, value_ref, raw = row[f"{side}_n_pandas"], row[f"{side}_value_pandas"], row[f"{side}_raw"]
            if n is not None and n != (n_ref or 0):
                problems.append(f"{where}: {side}_n datashare {n} vs pandas {n_ref}")
            if value is None:
                continue
            compared += 1
            if value_ref is None or abs(value - value_ref) > 1e-9:
                boundary = raw is not None and abs(abs(raw * 10**decimals) % 1 - 0.5) < 1e-6
                if not boundary:
                    problems.append(f"{where}: {side}_value datashare {value} vs pandas {value_ref} (exact {raw})")
    return compared, problems


# --------------------------------------------------------------------------- the benchmark


def machine() -> dict[str, str]:
    import pandas
    import polars
    import pyarrow

    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024**2:.1f} GB"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        datashare_version = version("datashare")
    except Exception:  # noqa: BLE001 - informational only
        datashare_version = "?"
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "polars": polars.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "datashare": datashare_version,
    }


class Bench:
    """One benchmark session: its options, its work folder and the figures it gathers."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cache = Path(args.cache_dir).resolve()
        self.work = Path(tempfile.mkdtemp(prefix="datashare-bench-"))
        self.figures: list[Figure] = []
        self.load_start = os.getloadavg()
        self.started = datetime.now(timezone.utc)
        self.stamps: dict[tuple[int, str], dict] = {}
        self.checks: list[tuple[int, str, int, list[str]]] = []
        self.key_file = self.work / "district.key"
        from datashare.release.keys import init_secret

        init_secret(self.key_file)
        self.agreement_dirs = {n: write_agreements(self.work, n) for n in args.partners}

    def repeat(self, size: int, fmt: str, name: str, rows: int, command: list[str], *, keep: bool = False,
               out: Path | None = None) -> Figure:  # fmt: skip
        figure = Figure(size, fmt, name, rows)
        self.figures.append(figure)
        slow = name.startswith("run:") and int(name[4:]) >= 100
        for i in range(self.args.slow_repeats if slow else self.args.repeats):
            if out is not None:
                shutil.rmtree(out, ignore_errors=True)
            sample = measure(command, cwd=ROOT)
            figure.samples.append(sample)
            if name.startswith("run"):
                figure.stages.append(stage_times(sample.stdout))
            print(f"  {size:>9,} {fmt:<16} {name:<10} #{i + 1}: {sample.wall:7.2f} s  "
                  f"{sample.rss_kb / 1024**2:5.2f} GB", flush=True)  # fmt: skip
            if out is not None and keep and i == 0:
                out.rename(out.with_name(out.name + "-kept"))  # for the pandas check
            if out is not None:
                shutil.rmtree(out, ignore_errors=True)
            self.save()
        return figure

    def save(self, *, quiet: bool = True) -> None:
        """Rewrite the results file, so an interrupted session still leaves its figures."""
        write_results(self, self.load_start, os.getloadavg(), self.started, quiet=quiet)

    def size(self, size: int, fmt: str, partner_counts: list[int]) -> None:
        partners = max(max(self.args.partners), 1)
        if fmt == "parquet-shuffled":
            extract, stamp = shuffled(self.cache, size, partners)
        else:
            extract, stamp = district(self.cache, size, fmt, partners)
        self.stamps[(size, fmt)] = stamp
        rows = sum(stamp["rows"].values())
        ds = datashare_command()
        self.repeat(size, fmt, "floor", rows, [PYTHON, str(HERE / "floor.py"), str(extract)])
        if 20 in partner_counts:
            # The floor of a release for 20 partners: their contacts and consents only.
            self.repeat(size, fmt, "floor:20", rows,
                        [PYTHON, str(HERE / "floor.py"), str(extract), f"--partners={','.join(partner_ids(20))}"])  # fmt: skip
        self.repeat(size, fmt, "validate", rows, [*ds, "validate", str(extract)])
        for n in partner_counts:
            out = self.work / f"out-{size}-{fmt}-{n}"
            self.repeat(size, fmt, f"run:{n}", rows,
                        [*ds, "run", "--extract", str(extract), "--agreements", str(self.agreement_dirs[n]),
                         "--key-file", str(self.key_file), "--as-of", AS_OF, "--out", str(out)],
                        keep=(n == 1), out=out)  # fmt: skip
        if size in self.args.pandas_sizes and fmt != "parquet-shuffled":
            reference = self.work / f"pandas-{size}-{fmt}.parquet"
            self.repeat(size, fmt, "pandas", rows,
                        [PYTHON, str(HERE / "pandas_ref.py"), str(extract), "el-centro", str(reference)])  # fmt: skip
            if 20 in partner_counts:
                self.repeat(size, fmt, "pandas:20", rows,
                            [PYTHON, str(HERE / "pandas_ref.py"), str(extract), ",".join(partner_ids(20)),
                             str(self.work / f"pandas-{size}-{fmt}-20.parquet")])  # fmt: skip
            package = self.work / f"out-{size}-{fmt}-1-kept" / "partners" / "el-centro" / "el-centro-2025-2026"
            if 1 in partner_counts and package.exists():
                compared, problems = compare_with_pandas(package / "data" / "aggregate_comparison.parquet", reference)
                self.checks.append((size, fmt, compared, problems))
                status = f"{compared} published values compared: " + (
                    "MATCH" if not problems else f"{len(problems)} MISMATCHES")
                print(f"  pandas reference vs datashare ({size:,} {fmt}): {status}", flush=True)
                for problem in problems[:20]:
                    print(f"    MISMATCH {problem}", flush=True)

    def run(self) -> None:
        try:
            for size in self.args.sizes:
                counts = [n for n in self.args.partners if size < 1_000_000 or n in self.args.large_partners]
                self.size(size, "parquet", counts)
                if size in self.args.shuffled_sizes:
                    self.size(size, "parquet-shuffled", counts)
                if size in self.args.csv_sizes:
                    self.size(size, "csv", [n for n in counts if n in self.args.csv_partners])
        finally:
            self.save(quiet=False)
            print_ratios(self)
            shutil.rmtree(self.work, ignore_errors=True)


# --------------------------------------------------------------------------- RESULTS.md


@dataclass
class Ratio:
    size: int
    fmt: str
    label: str
    value: float
    target: str
    ok: bool
    binding: bool

    @property
    def met(self) -> str:
        if self.target == "(no target)":
            return "-"
        return "yes" if self.ok else "**no**"

    def verdict(self, *, markdown: bool) -> str:
        """``met``, in parentheses where the target does not bind (bold kept only in Markdown)."""
        met = self.met if markdown else self.met.strip("*")
        return met if self.binding or self.met == "-" else f"({self.met.strip('*')})"


def ratios(bench: Bench) -> list[Ratio]:
    """Every measured ratio against its target (medians; peak memory is the worst run)."""
    by = {(f.size, f.fmt, f.name): f for f in bench.figures if f.samples}
    found: list[Ratio] = []
    for size, fmt in bench.stamps:
        binding = size >= 1_000_000 and fmt.startswith("parquet")
        for label, num, den, limit in TARGETS:
            if (size, fmt, num) in by and (size, fmt, den) in by:
                value = by[(size, fmt, num)].median_wall() / by[(size, fmt, den)].median_wall()
                found.append(Ratio(size, fmt, label, value, f"<= {limit}", value <= limit, binding))
        for name in ("run:20", "run:200", "validate"):
            if (size, fmt, name) in by:
                peak = max(by[(size, fmt, name)].rss_gb())
                found.append(Ratio(size, fmt, f"{name} peak RSS GB", peak, f"<= {RSS_TARGET_GB}",
                                   peak <= RSS_TARGET_GB, binding))  # fmt: skip
        if (size, fmt, "pandas") in by and (size, fmt, "run:1") in by:
            value = by[(size, fmt, "pandas")].median_wall() / by[(size, fmt, "run:1")].median_wall()
            found.append(Ratio(size, fmt, "pandas / run(1)", value, f">= {PANDAS_TARGET}", value >= PANDAS_TARGET,
                               size == 100_000))  # fmt: skip
        if (size, fmt, "pandas:20") in by and (size, fmt, "run:20") in by:
            value = by[(size, fmt, "pandas:20")].median_wall() / by[(size, fmt, "run:20")].median_wall()
            found.append(Ratio(size, fmt, "pandas(20 partners) / run(20)", value, "(no target)", True, False))
    return found


def print_ratios(bench: Bench) -> None:
    """The ratios on the terminal, so that a regression shows without opening RESULTS.md."""
    rows = ratios(bench)
    if not rows:
        return
    print("ratios against the targets (binding at 1,000,000 students from Parquet; others in parentheses):")
    for r in rows:
        verdict = r.verdict(markdown=False)
        print(f"  {r.size:>9,} {r.fmt:<16} {r.label:<30} {r.value:7.2f}  target {r.target:<12} met: {verdict}")


def _mmm(values: list[float], unit: str = "", digits: int = 2) -> str:
    if not values:
        return "-"
    return f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / {max(values):.{digits}f}{unit}"


def write_results(bench: Bench, load_start: tuple, load_end: tuple, started: datetime, *, quiet: bool = False) -> None:
    args = bench.args
    lines = [
        "# datashare benchmark results",
        "",
        f"Produced by `{args.command_line}` on {started:%Y-%m-%d %H:%M} UTC.",
        "",
        "## Machine",
        "",
    ]
    for key, value in machine().items():
        lines.append(f"- {key}: {value}")
    lines += [
        f"- load average (1, 5, 15 min) at start: {', '.join(f'{x:.2f}' for x in load_start)}; "
        f"at end: {', '.join(f'{x:.2f}' for x in load_end)}",
    ]
    if max(load_start[0], load_end[0]) > 0.5 * (os.cpu_count() or 1):
        lines.append("- **the machine was shared and loaded during this run**: wall times are pessimistic")
    lines += ["", "## Districts", "", "| students | format | schools | partners | input rows | attendance rows | "
              "service contacts | synthesized in |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (size, fmt), stamp in bench.stamps.items():
        rows = stamp["rows"]
        lines.append(f"| {size:,} | {fmt} | {stamp['schools']} | {stamp['partners']} | {sum(rows.values()):,} | "
                     f"{rows.get('attendance', 0):,} | {rows.get('service_contacts', 0):,} | "
                     f"{stamp.get('synth_seconds', '?')} s |")  # fmt: skip
    lines += [
        "",
        "## Figures (min / median / max over the runs)",
        "",
        "Each command runs as a separate process; wall time includes interpreter start-up and imports. "
        "`floor`: one plain polars query per table (`benchmarks/floor.py`); `floor:20`: the same, with the "
        "contacts and consents of the 20 agreements' partners only (what a release for them needs); "
        "`run:N`: `datashare run` with N "
        "agreements (validation included); `pandas`: one partner's comparison in pandas "
        "(`benchmarks/pandas_ref.py`). Rows/s is total input rows / median wall time. Peak RSS is the "
        "command's whole process tree (any child process included), sampled "
        "every 0.1 s, or its largest process's peak when that is higher.",
        "",
        "| students | format | command | runs | wall s | peak RSS GB | rows/s (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in bench.figures:
        if not f.samples:
            continue
        rate = f.rows / f.median_wall()
        lines.append(f"| {f.size:,} | {f.fmt} | {f.name} | {len(f.samples)} | {_mmm(f.walls())} | "
                     f"{_mmm(f.rss_gb())} | {rate:,.0f} |")  # fmt: skip
    staged = [f for f in bench.figures if f.stages and any(f.stages)]
    if staged:
        lines += ["", "## Stages of `datashare run` (median seconds, as printed by the command)", ""]
        for f in staged:
            names = list(dict.fromkeys(k for s in f.stages for k in s))
            parts = [f"{k} {statistics.median([s.get(k, 0.0) for s in f.stages]):.1f}" for k in names]
            lines.append(f"- {f.size:,} {f.fmt} {f.name}: " + "; ".join(parts))
    lines += ["", "## Ratios against the targets (medians)", "", "| students | format | ratio | value | target | met |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for r in ratios(bench):
        shown = r.verdict(markdown=True)
        lines.append(f"| {r.size:,} | {r.fmt} | {r.label} | {r.value:.2f} | {r.target} | {shown} |")
    lines += ["", "Targets (issue 14) bind for the 1,000,000-student district from Parquet, sorted or shuffled "
              "(time, memory); the pandas ratio (issue 6) binds on the 100,000-student district. Figures in "
              "parentheses are the same ratios at other sizes, for information: a regression shows there "
              "first.", "", "## Pandas reference check", ""]  # fmt: skip
    if not bench.checks:
        lines.append("Not run.")
    for size, fmt, compared, problems in bench.checks:
        if problems:
            lines.append(f"- {size:,} {fmt}: **{len(problems)} MISMATCHES** between datashare's published cells "
                         "and the pandas reference:")  # fmt: skip
            lines += [f"  - {p}" for p in problems[:50]]
        else:
            lines.append(f"- {size:,} {fmt}: every published served/comparison n and all {compared} published "
                         "values of el-centro's `aggregate_comparison.parquet` equal the pandas reference.")  # fmt: skip
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text("\n".join(lines) + "\n")
    if not quiet:
        print(f"results written to {args.results}", flush=True)


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=_ints, default=None, help="district sizes (students), e.g. 10000,100000")
    parser.add_argument("--repeats", type=int, default=None, help="runs of each command (default 3)")
    parser.add_argument("--partners", type=_ints, default=None, help="agreement counts for run (default 1,20,200)")
    parser.add_argument("--large-partners", type=_ints, default=[1, 20],
                        help="agreement counts for sizes >= 1,000,000 (default 1,20)")  # fmt: skip
    parser.add_argument("--slow-repeats", type=int, default=None,
                        help="runs of `run` with 100 or more agreements (default: --repeats)")
    parser.add_argument("--csv-partners", type=_ints, default=[1, 20], help="agreement counts run from CSV")
    parser.add_argument("--csv-sizes", type=_ints, default=None, help="sizes also run from CSV (default 100000)")
    parser.add_argument("--shuffled-sizes", type=_ints, default=None,
                        help="sizes also measured with the big tables' rows shuffled (default 100000)")
    parser.add_argument("--pandas-sizes", type=_ints, default=None, help="sizes with the pandas reference")
    parser.add_argument("--smoke", action="store_true", help="CI: 10,000 students, 1 repeat, 1 agreement")
    parser.add_argument("--cache-dir", default=str(HERE / ".cache"), help="where synthetic districts are cached")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="the results file to write")
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.sizes = args.sizes or ([10_000] if smoke else [10_000, 100_000, 1_000_000])
    args.repeats = args.repeats or (1 if smoke else 3)
    args.slow_repeats = args.slow_repeats or args.repeats
    args.partners = args.partners or ([1] if smoke else [1, 20, 200])
    if 1 not in args.partners:
        args.partners = [1, *args.partners]  # the pandas check compares against run(1)
    args.csv_sizes = args.csv_sizes if args.csv_sizes is not None else ([] if smoke else [100_000])
    args.shuffled_sizes = args.shuffled_sizes if args.shuffled_sizes is not None else (
        [] if smoke else [100_000])  # fmt: skip
    args.pandas_sizes = args.pandas_sizes if args.pandas_sizes is not None else (
        args.sizes if smoke else [10_000, 100_000])  # fmt: skip
    args.command_line = "python -m benchmarks.run " + shlex.join(argv if argv is not None else sys.argv[1:])
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    bench = Bench(args)
    bench.run()
    failed = [c for c in bench.checks if c[3]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
