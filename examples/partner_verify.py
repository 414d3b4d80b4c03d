"""A partner checks a package from the district, then loads its tables with polars.

Usage: python examples/partner_verify.py PACKAGE_DIR [PUBLIC_KEY_PEM]
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from datashare.errors import DatashareError
from datashare.package.verify import verify


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    package = Path(argv[0])
    public_key = Path(argv[1]) if len(argv) == 2 else None
    try:
        result = verify(package, public_key=public_key)
    except DatashareError as exc:
        print(f"NOT VALID: {exc}", file=sys.stderr)
        return 1
    for message in result.messages:
        print(message)
    for path in sorted((package / "data").rglob("*.parquet")):
        table = pl.read_parquet(path)
        print(f"{path.relative_to(package).as_posix()}: {table.height} rows x {table.width} columns")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
