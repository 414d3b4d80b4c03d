"""Commands of the extract area: ``validate`` and ``synth``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from datashare.cli._common import console, user_errors

if TYPE_CHECKING:
    from datashare.extract.report import ValidationReport

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def render_report(report: ValidationReport) -> None:
    """Print the report: a summary line, then one table of findings per extract table.

    Findings hold no cell values, so nothing here can print a name or a birth date.
    """
    from rich.table import Table
    rows = {t.table: t for t in report.tables}
    by_table = report.by_table()
    for name, info in rows.items():
        findings = by_table.get(name, [])
        label = f"{name} ({escape(info.file)}, {info.rows:,} rows)" if info.file and info.rows is not None else name
        if not findings:
            console.print(f"[green]ok[/]    {label}")
            continue
        table = Table(title=label, title_justify="left", expand=True)
        table.add_column("finding", no_wrap=True)
        table.add_column("column", overflow="fold")
        table.add_column("rows", justify="right", no_wrap=True)
        table.add_column("e.g. rows", overflow="fold")
        table.add_column("what is wrong", overflow="fold", ratio=1)
        fixes: dict[str, str] = {}
        for f in findings:
            table.add_row(
                f"[{_SEVERITY_STYLE[f.severity]}]{f.code}[/]",
                escape(f.column or "-"),
                f"{f.count:,}",
                ", ".join(str(r) for r in f.rows) or "-",
                escape(f.message.split(": ", 1)[-1]),
            )
            if f.fix and f.severity != "info":
                fixes[f.code] = f.fix
        console.print(table, soft_wrap=False)
        for code, fix in fixes.items():
            console.print(f"  [dim]fix {code}:[/] {escape(fix)}")
    verdict = "[green]valid[/]" if report.valid else f"[bold red]not valid[/]: {len(report.errors)} error finding(s)"
    year = escape(report.school_year or "unknown")
    console.print(f"\nExtract {escape(report.folder)}: school year {year}; {verdict}")
    console.print("[dim]Rows are CSV line numbers (the header is line 1) or 1-based Parquet rows.[/]")


def register(app: typer.Typer, *, keys_app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @app.command()
    def validate(
        extract_dir: Annotated[Path, typer.Argument(metavar="EXTRACT_DIR", help="Folder with one <table>.csv or <table>.parquet per table.")],
        report: Annotated[Path | None, typer.Option("--report", metavar="FILE", help="Also write the findings as JSON to this file.")] = None,
        school_year: Annotated[str | None, typer.Option(metavar="YEAR", help="The school year, e.g. 2025-2026 (default: from enrollments).")] = None,
    ) -> None:
        """Check an SIS extract against the schemas; exit 0 only when it is valid."""
        from datashare.extract import validate as run_validation

        with user_errors():
            result = run_validation(extract_dir, school_year=school_year)
        render_report(result)
        if report is not None:
            with user_errors():
                result.write_json(report)
            console.print(f"Report written to {escape(str(report))}")
        raise typer.Exit(0 if result.valid else 1)

    @app.command()
    def synth(
        out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Folder to write the synthetic extract into.")],
        students: Annotated[int, typer.Option(min=1, metavar="N", help="Number of students.")] = 2000,
        schools: Annotated[int, typer.Option(min=1, metavar="N", help="Number of schools.")] = 8,
        partners: Annotated[int, typer.Option(min=1, metavar="N", help="Number of partner organizations.")] = 4,
        seed: Annotated[int, typer.Option(metavar="K", help="Random seed: the same seed gives the same files.")] = 7,
        school_year: Annotated[str, typer.Option(metavar="YEAR", help="School year, e.g. 2025-2026.")] = "2025-2026",
        format: Annotated[str, typer.Option("--format", metavar="csv|parquet", help="csv or parquet.")] = "csv",
        attendance: Annotated[str, typer.Option(
            "--attendance", metavar="daily|events",
            help="daily: one attendance row per student per school day; events: a calendar "
            "table and attendance rows only for absences, tardies and early departures.",
        )] = "daily",
    ) -> None:
        """Write a synthetic district (every extract table) for demos, tests and benchmarks."""
        from datashare.synth import synthesize

        if format not in ("csv", "parquet"):
            raise typer.BadParameter("expected csv or parquet", param_hint="--format")
        if attendance not in ("daily", "events"):
            raise typer.BadParameter("expected daily or events", param_hint="--attendance")
        with user_errors():
            summary = synthesize(
                out_dir, students=students, schools=schools, partners=partners, seed=seed,
                school_year=school_year, format=format, attendance=attendance,  # type: ignore[arg-type]
                progress=lambda message: console.print(f"[dim]{escape(message)}[/]"),
            )
        console.print(f"Synthetic district written to {escape(str(out_dir))}")
        console.print(escape(str(summary)))
