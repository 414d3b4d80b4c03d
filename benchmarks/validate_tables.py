"""Where validation spends its time: each table's own rules, the cross-table stage, timed.

Runs ``load_extract`` as a release does (with the release's attendance sums riding on the
grouped pass, unless ``--plain``) and times the validator's per-table and cross-table
functions by wrapping them, so the figures are those of the real code path. A
measurement aid only: it patches private functions of ``datashare.extract.validate`` in
its own process.

Usage: ``python -m benchmarks.validate_tables EXTRACT_DIR [--plain]``
"""

from __future__ import annotations

import argparse
import functools
import importlib
import time
from collections.abc import Callable
from typing import Any

from datashare.release.derive import attendance_riders

validate = importlib.import_module("datashare.extract.validate")

TIMED = ("_table_findings", "_known_ids", "cross_findings", "_school_year_of", "_empty_findings")


def _timed(name: str, seconds: dict[str, float]) -> Callable[..., Any]:
    """Wrap the validator's function ``name`` to add its time to ``seconds``; return the original."""
    original: Callable[..., Any] = getattr(validate, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            # _table_findings(reads, name, year): one line per table
            key = f"{name} {args[1]}" if name == "_table_findings" else name
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started

    setattr(validate, name, wrapper)
    return original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extract")
    parser.add_argument("--plain", action="store_true", help="validate only, without the release's sums")
    args = parser.parse_args(argv)
    seconds: dict[str, float] = {}
    originals = {name: _timed(name, seconds) for name in TIMED}
    try:
        started = time.perf_counter()
        riders = None if args.plain else {"attendance": attendance_riders()}
        with validate.load_extract(args.extract, riders=riders):
            total = time.perf_counter() - started
    finally:
        for name, original in originals.items():
            setattr(validate, name, original)
    for key, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"{value:7.2f} s  {key}")
    print(f"{total:7.2f} s  load_extract in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
