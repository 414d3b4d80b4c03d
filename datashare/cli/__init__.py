"""The ``datashare`` command line: thin typer commands over the public API.

Each area registers its commands from its own module; a command parses arguments, calls
the library, renders the answer and maps :class:`~datashare.errors.DatashareError` to a
clear message and a non-zero exit status.

Start-up stays fast: nothing here or in the area modules imports polars, pandas, pandera
or pyarrow at module level; each command imports what it needs when it runs, so ``--help``
and ``--version`` answer at once. Help is plain text (``rich_markup_mode=None``): typer's
rich help shows every option's Python type (``--replace <bool>``, ``--agreements
<list[Path]>``), while the plain form shows a flag as a flag and a value by its metavar.
"""

from __future__ import annotations

from typing import Annotated

import typer

from datashare.cli import agreement, edfi, extract, package, release


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("datashare")
        except PackageNotFoundError:  # a checkout on sys.path, not installed
            from datashare import __version__ as number
        typer.echo(f"datashare {number}")
        raise typer.Exit(0)


app = typer.Typer(
    name="datashare",
    help="Share student data with community partners under signed data-sharing agreements.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
keys_app = typer.Typer(help="Create the district's secrets.", no_args_is_help=True, rich_markup_mode=None)
audit_app = typer.Typer(help="Check the district's audit trail.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Share student data with community partners under signed data-sharing agreements."""


for _area in (extract, agreement, release, package, edfi):
    _area.register(app, keys_app=keys_app, audit_app=audit_app)


def main() -> None:
    """Console-script entry point: SIGTERM cleans up as Ctrl-C does (see datashare._cleanup)."""
    from datashare._cleanup import handle_sigterm  # noqa: PLC0415

    handle_sigterm()
    app()
