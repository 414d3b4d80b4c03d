"""Shared test setup: make the small fixture modules in tests/ importable, and check every
package the suite wrote against the standards at the end of the session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ANN001
    """Hold every intact package the suite wrote to the standards (CONTRACT section 5).

    The package and pipeline tests write bags under pytest's temporary folders; here each
    one that ``datashare.verify`` accepts (tests tamper with some on purpose) must pass
    bagit-python's validator, ``frictionless validate``, load with the right types in
    polars, pyarrow, DuckDB and pandas, have no CSV cell a spreadsheet would run, and carry a
    self-contained report. A failure fails the session, naming the package.
    """
    if exitstatus not in (0, 1) or not hasattr(session.config, "_tmp_path_factory"):
        return
    from package_standards import check_package, is_package

    from datashare.errors import DatashareError
    from datashare.package.verify import verify

    base = session.config._tmp_path_factory.getbasetemp()
    bags = sorted({p.parent for p in base.rglob("bagit.txt") if is_package(p.parent)})
    failures: list[str] = []
    checked = 0
    for bag in bags:
        try:
            verify(bag)
        except DatashareError:
            continue  # deliberately damaged by a test
        checked += 1
        try:
            check_package(bag)
        except AssertionError as exc:
            failures.append(str(exc))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and checked:
        reporter.ensure_newline()
        reporter.write_line(f"package standards: {checked} package(s) checked, {len(failures)} failing")
        for failure in failures:
            reporter.write_line(f"  {failure}", red=True)
    if failures:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
