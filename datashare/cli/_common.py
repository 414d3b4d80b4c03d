"""What every command shares: one console, and turning a DatashareError into an exit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from datashare.errors import DatashareError

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def user_errors(exit_code: int = 2) -> Iterator[None]:
    """Print a DatashareError as a clear message and exit non-zero, without a traceback."""
    try:
        yield
    except DatashareError as exc:
        err_console.print("[bold red]error:[/] " + escape(str(exc)), highlight=False)
        raise typer.Exit(exit_code) from None
