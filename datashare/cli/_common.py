"""What every command shares: one console, and turning a DatashareError into an exit.

Both consoles soft-wrap: a message is printed as one line and left to the terminal to
wrap, never broken at 80 columns into a pipe, a log or a scheduler's mail, where a path or
a file name cut in two cannot be searched for. Tables (the validation report, the run
summary) are printed with ``soft_wrap=False`` to keep their columns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from datashare.errors import DatashareError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@contextlib.contextmanager
def user_errors(exit_code: int = 2) -> Iterator[None]:
    """Print a DatashareError as a clear message and exit non-zero, without a traceback.

    An ``OSError`` reaching a command (an output file in a missing or read-only folder, a
    full disk) is the environment's fault, not datashare's: it too becomes one message
    naming the file and the system's reason."""
    try:
        yield
    except DatashareError as exc:
        err_console.print("[bold red]error:[/] " + escape(str(exc)), highlight=False)
        raise typer.Exit(exit_code) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or exc.__class__.__name__
        err_console.print("[bold red]error:[/] " + escape(f"{where}{reason}"), highlight=False)
        raise typer.Exit(exit_code) from None
