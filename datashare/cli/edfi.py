"""Command of the import area: ``import edfi``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from datashare.cli._common import console, user_errors

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def render_import(report: object) -> None:
    """Print the import's own findings, then the validator's report of the written extract."""
    from datashare.cli.extract import render_report
    from datashare.edfi import ImportReport

    assert isinstance(report, ImportReport)
    built = ", ".join(f"{name} {rows:,}" for name, rows in report.built.items())
    console.print(f"Imported Ed-Fi {report.kind} source {escape(report.source)} for {report.school_year} "
                  f"into {escape(report.out)}: {built} rows")
    if report.findings:
        table = Table(title="import findings", title_justify="left", expand=True)
        table.add_column("finding", no_wrap=True)
        table.add_column("Ed-Fi resource", overflow="fold")
        table.add_column("records", justify="right", no_wrap=True)
        table.add_column("e.g. records", overflow="fold")
        table.add_column("what is wrong", overflow="fold", ratio=1)
        for f in report.findings:
            table.add_row(f"[{_SEVERITY_STYLE[f.severity]}]{f.code}[/]", escape(f.table), f"{f.count:,}",
                          ", ".join(str(r) for r in f.rows) or "-", escape(f.message))
        console.print(table)
        console.print("[dim]Records are line numbers of JSON lines files, positions in JSON arrays, or positions "
                      "of the top-level elements of an XML interchange.[/]")
    if report.validation is not None:
        console.print("\nValidation of the written extract:")
        render_report(report.validation)
    verdict = "[green]valid[/]" if report.valid else (
        f"[bold red]not valid[/]: {len(report.errors)} import error(s), "
        f"{len(report.validation.errors) if report.validation else 0} validation error(s)")
    console.print(f"\nImport: {verdict}")


def register(app: typer.Typer, *, keys_app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add the ``import`` group and its ``edfi`` command to the app."""
    import_app = typer.Typer(help="Build an extract from a district's systems.", no_args_is_help=True)
    app.add_typer(import_app, name="import")

    @import_app.command("edfi")
    def edfi(
        source: Annotated[Path, typer.Argument(help="A folder of Ed-Fi API resources (JSON or JSON lines, or a data "
                                                    "lake's upserts and deletes) or Ed-Fi XML interchanges.")],
        out: Annotated[Path, typer.Option("--out", help="The extract folder to write (new or empty).")],
        school_year: Annotated[str | None, typer.Option(help="The school year, e.g. 2021-2022 (default: from the source).")] = None,
        descriptor_map: Annotated[Path | None, typer.Option(help="YAML map of the district's descriptor values to extract codes.")] = None,
        service_contacts: Annotated[Path | None, typer.Option(help="The partners' service contacts (CSV), not part of Ed-Fi.")] = None,
        consents: Annotated[Path | None, typer.Option(help="The consents (CSV), not part of Ed-Fi.")] = None,
        report: Annotated[Path | None, typer.Option("--report", help="Also write the findings as JSON to this file.")] = None,
    ) -> None:
        """Build an extract folder from Ed-Fi data, then validate it; exit 0 only when both are clean."""
        from datashare.edfi import import_edfi

        with user_errors():
            result = import_edfi(source, out, school_year=school_year, descriptor_map=descriptor_map,
                                 service_contacts=service_contacts, consents=consents)
        render_import(result)
        if report is not None:
            result.write_json(report)
            console.print(f"Report written to {escape(str(report))}")
        raise typer.Exit(0 if result.valid else 1)
