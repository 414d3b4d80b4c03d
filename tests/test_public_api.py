"""The public surface stays small, sorted and honest."""

from __future__ import annotations

import datashare


def test_all_is_sorted_and_every_name_exists() -> None:
    assert list(datashare.__all__) == sorted(datashare.__all__)
    for name in datashare.__all__:
        assert getattr(datashare, name) is not None


def test_every_error_is_a_datashare_error() -> None:
    errors = [getattr(datashare, n) for n in datashare.__all__ if n.endswith("Error") or n in ("ExtractInvalid", "AgreementRefused", "OutputCheckFailed", "PackageExists")]
    assert errors
    for error in errors:
        assert issubclass(error, datashare.DatashareError)


def test_importing_datashare_does_not_import_great_expectations() -> None:
    import subprocess
    import sys

    code = "import sys, datashare; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
