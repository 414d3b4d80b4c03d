"""Commands of the release area: ``run``, ``keys init`` and ``demo``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from datashare.cli._common import console, err_console, user_errors

DEMO_AS_OF = dt.date(2026, 6, 30)
"""The demo releases as of the last day of the synthetic school year."""


def _as_of(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected a date as YYYY-MM-DD", param_hint="--as-of") from None


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str], None]]:
    """A spinner naming the current stage, with each finished stage printed and timed."""
    if quiet:
        yield lambda _message: None
        return
    import time

    started = [time.perf_counter(), ""]
    with console.status("starting", spinner="dots") as status:

        def say(message: str) -> None:
            now = time.perf_counter()
            if started[1]:
                console.print(f"[dim]  {escape(str(started[1]))} ({now - started[0]:.1f}s)[/]")
            started[0], started[1] = now, message
            status.update(escape(message))

        yield say
        if started[1]:
            console.print(f"[dim]  {escape(str(started[1]))} ({time.perf_counter() - started[0]:.1f}s)[/]")


def _summary_table(result) -> Table:  # noqa: ANN001 - RunResult, imported lazily
    table = Table(title="Packages", title_justify="left")
    table.add_column("partner", overflow="fold")
    for column in ("eligible", "consented", "released", "suppressed"):
        table.add_column(column, justify="right")
    table.add_column("status")
    statuses = {(p.partner_id, p.agreement_id): p for p in result.published.packages}
    for release in result.releases:
        package = statuses.get((release.partner_id, release.agreement_id))
        suppressed = sum(v for k, v in release.suppression.items() if str(k).startswith("suppressed"))
        table.add_row(
            release.partner_id,
            f"{release.gates['eligible']:,}",
            f"{release.gates['consented']:,}" if release.agreement.individual else "-",
            f"{release.gates['released']:,}",
            f"{suppressed:,}",
            package.status if package else "-",
        )
    return table


def _print_result(result) -> None:  # noqa: ANN001 - RunResult, imported lazily
    console.print(_summary_table(result), soft_wrap=False)
    for package in result.published.packages:
        where = escape(str(package.path))
        extra = f" and {escape(str(package.encrypted))}" if package.encrypted else ""
        signed = "signed" if package.signed else "unsigned"
        console.print(f"  {package.status}: {where}{extra} ({signed})", soft_wrap=True)
    console.print(f"Run report: {escape(str(result.published.run_report))}")
    console.print(f"District overview: {escape(str(result.published.run_report.with_name('index.html')))}")
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def register(app: typer.Typer, *, keys_app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @keys_app.command("init")
    def keys_init(
        key_file: Annotated[Path, typer.Argument(metavar="KEY_FILE", help="Where to write the new secret (must not exist).")],
    ) -> None:
        """Create the district's pseudonymization secret (32 random bytes, mode 0600)."""
        from datashare.release.keys import init_secret

        with user_errors():
            init_secret(key_file)
        console.print(f"Secret written to {escape(str(key_file))}. Keep it safe and never send it: "
                      "it is the only way to reproduce the partners' student keys.")

    @app.command()
    def run(
        extract: Annotated[Path, typer.Option("--extract", metavar="DIR", help="The SIS extract folder.")],
        agreements: Annotated[list[Path], typer.Option("--agreements", metavar="PATH", help="An agreement file, or a folder of *.yaml agreements; repeatable.")],
        key_file: Annotated[Path, typer.Option("--key-file", metavar="FILE", help="The district's pseudonymization secret (datashare keys init).")],
        as_of: Annotated[str, typer.Option("--as-of", metavar="DATE", help="Date deciding which consents and agreements are in force (YYYY-MM-DD).")],
        out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Output folder: partners/ (to send) and district/ (to keep).")],
        signing_key: Annotated[Path | None, typer.Option("--signing-key", metavar="FILE", help="Ed25519 private key (datashare keys signing) to sign packages.")] = None,
        replace: Annotated[bool, typer.Option("--replace", help="Replace an existing, different package at the same path (audited).")] = False,
        operator: Annotated[str | None, typer.Option("--operator", metavar="NAME", help="Who runs the release, for the audit log (default: DATASHARE_OPERATOR or the login name).")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result.")] = False,
    ) -> None:
        """Release every agreement from one extract: all packages are written, or none."""
        from datashare.pipeline import release

        date = _as_of(as_of)
        with user_errors(), _progress(quiet) as say:
            result = release(
                extract=extract, agreements=agreements, key_file=key_file, as_of=date, out=out,
                signing_key=signing_key, replace=replace, operator=operator, progress=say,
            )
        _print_result(result)

    @app.command()
    def demo(
        out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Folder for the demo (default: a new temporary folder).")] = None,
        students: Annotated[int, typer.Option(min=50, metavar="N", help="Students in the synthetic district.")] = 3000,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result.")] = False,
    ) -> None:
        """Synthesize a district, create its keys, release the example agreements, verify."""
        import tempfile

        from datashare._resources import examples_dir
        from datashare.cli.extract import render_report
        from datashare.package.sign import generate_signing_keys
        from datashare.package.verify import verify
        from datashare.pipeline import release
        from datashare.release.keys import init_secret
        from datashare.synth import synthesize

        root = out or Path(tempfile.mkdtemp(prefix="datashare-demo-"))
        extract, secrets = root / "extract", root / "secrets"
        with user_errors():
            if not any(extract.glob("*.csv")):
                console.print(f"Synthesizing a district of {students:,} students into {escape(str(extract))}")
                # The calendar form, as SIS and Ed-Fi hold attendance: absences only (README).
                synthesize(extract, students=students, schools=8, partners=4, seed=7, attendance="events")
            else:
                console.print(f"Reusing the synthetic district in {escape(str(extract))}")
            secrets.mkdir(parents=True, exist_ok=True)
            key_file, private, public = secrets / "district.key", secrets / "signing.pem", secrets / "signing.pub"
            if not key_file.exists():
                init_secret(key_file)
            if not private.exists():
                generate_signing_keys(private, public)
            from datashare.extract import validate

            report = validate(extract)
            if not quiet:
                render_report(report)
            with _progress(quiet) as say:
                result = release(
                    extract=extract, agreements=[examples_dir()], key_file=key_file, as_of=DEMO_AS_OF,
                    out=root, signing_key=private, operator="datashare demo", progress=say,
                )
            _print_result(result)
            for package in result.published.packages:
                verify(package.path, public_key=public)
        console.print(
            f"[green]Verified[/] every package with {escape(str(public))}.\n"
            f"The demo keeps its secrets in {escape(str(secrets))}; a district keeps them apart from "
            "any output. Released as of " + DEMO_AS_OF.isoformat() + ".\n"
            "Open a package's data/report.html (for example "
            f"{escape(str(root / 'partners' / 'el-centro' / 'el-centro-2025-2026' / 'data' / 'report.html'))}) "
            "to see what a partner reads: the students at each step, every figure as a chart and a "
            "table, and why a figure is withheld; district/index.html is the district's overview."
        )
