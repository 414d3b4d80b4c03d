"""Commands of the agreement area: ``review`` and ``diff``."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from datashare.cli._common import console, err_console, user_errors


class ReviewFormat(str, enum.Enum):
    markdown = "markdown"
    html = "html"


def review(
    agreement: Annotated[Path, typer.Argument(metavar="AGREEMENT.yaml", help="The agreement (or template) YAML file.")],
    format: Annotated[ReviewFormat, typer.Option("--format", help="markdown or html.")] = ReviewFormat.markdown,  # noqa: A002
    output: Annotated[Path | None, typer.Option("-o", "--output", metavar="FILE", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write the review document a compliance reviewer reads before signing.

    Exits 1 when lint finds errors (the document is still written); warnings exit 0.
    """
    from datashare.agreement import load_agreement
    from datashare.agreement import review as render_review

    with user_errors():
        loaded = load_agreement(agreement)
        text = render_review(loaded, format=format.value)
    if output is None:
        typer.echo(text, nl=False)
    else:
        with user_errors():
            output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}", highlight=False)
    if loaded.errors:
        err_console.print(f"[bold red]{len(loaded.errors)} lint error(s):[/] this agreement would be refused",
                          highlight=False)
        raise typer.Exit(1)


def diff(
    old: Annotated[Path, typer.Argument(metavar="OLD.yaml", help="The signed (old) version.")],
    new: Annotated[Path, typer.Argument(metavar="NEW.yaml", help="The proposed (new) version.")],
) -> None:
    """List every change between two versions of an agreement.

    Exits 1 when a change widens what is released or weakens a protection (re-review).
    """
    from datashare.agreement import diff as diff_agreements
    from datashare.agreement import load_agreement

    with user_errors():
        result = diff_agreements(load_agreement(old), load_agreement(new))
    if not result.changes:
        console.print("no changes", highlight=False)
        return
    for change in result.changes:
        mark = "WIDENS" if change.widens else "      "
        typer.echo(f"{mark} {change.path}: {_show(change.old)} -> {_show(change.new)}  ({change.reason})")
    if result.widens:
        typer.echo(f"{sum(c.widens for c in result.changes)} change(s) widen the release or weaken a protection: "
                   "re-review needed")
        raise typer.Exit(1)
    typer.echo("no change widens the release")


def _show(value: object) -> str:
    from pydantic import BaseModel

    if value is None:
        return "(none)"
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), sort_keys=True)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def register(app: typer.Typer, *, keys_app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add this area's commands to the app."""
    app.command("review")(review)
    app.command("diff")(diff)
