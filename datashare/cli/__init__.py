"""The ``datashare`` command line: thin typer commands over the public API.

Each area registers its commands from its own module; a command parses arguments, calls
the library, renders the answer and maps :class:`~datashare.errors.DatashareError` to a
clear message and a non-zero exit status.
"""

from __future__ import annotations

import typer

from datashare.cli import agreement, edfi, extract, package, release

app = typer.Typer(
    name="datashare",
    help="Share student data with community partners under signed data-sharing agreements.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Create the district's secrets.", no_args_is_help=True)
audit_app = typer.Typer(help="Check the district's audit trail.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")

for _area in (extract, agreement, release, package, edfi):
    _area.register(app, keys_app=keys_app, audit_app=audit_app)


def main() -> None:
    """Console-script entry point."""
    app()
