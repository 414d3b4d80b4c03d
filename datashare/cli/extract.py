"""Commands of the extract area."""

from __future__ import annotations

import typer


def register(app: typer.Typer, *, keys_app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add this area's commands to the app."""
