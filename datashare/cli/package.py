"""Commands of the package area: verify and decrypt (for partners), signing keys, audit."""

from __future__ import annotations

from pathlib import Path

import typer

from datashare.cli._common import console, user_errors


def register(app: typer.Typer, *, keys_app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @app.command("verify")
    def verify_cmd(
        package_dir: Path = typer.Argument(..., metavar="PACKAGE_DIR", help="The package folder (a BagIt bag)."),
        public_key: Path | None = typer.Option(
            None, "--public-key", metavar="FILE", help="The district's Ed25519 public key (PEM); required to prove origin."
        ),
    ) -> None:
        """Check that a package is complete, unaltered and, with --public-key, signed by the district."""
        from datashare.package.verify import verify  # noqa: PLC0415

        with user_errors(exit_code=1):
            result = verify(package_dir, public_key=public_key)
        for message in result.messages:
            console.print(f"  {message}", highlight=False)
        if result.signature_checked:
            console.print(f"[green]valid and signed:[/] {package_dir}", highlight=False)
        elif result.signed:
            console.print(f"[yellow]valid, signature not checked:[/] {package_dir}", highlight=False)
        else:
            console.print(f"[yellow]valid but UNSIGNED:[/] {package_dir}", highlight=False)

    @app.command("decrypt")
    def decrypt_cmd(
        file: Path = typer.Argument(..., metavar="FILE.tar.age", help="The encrypted package (.tar.age)."),
        identity: Path = typer.Option(..., "--identity", metavar="KEYFILE", help="Your age identity file (AGE-SECRET-KEY-...)."),
        out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder to unpack the package into."),
    ) -> None:
        """Decrypt a package sent to you and unpack it safely; then run `datashare verify` on it."""
        from datashare.package.encrypt import decrypt_package  # noqa: PLC0415

        with user_errors():
            bag = decrypt_package(file, identity, out)
        console.print(f"unpacked: {bag}", highlight=False)

    @keys_app.command("signing")
    def keys_signing(
        private_file: Path = typer.Argument(..., metavar="PRIVATE_FILE", help="Where to write the private key (kept by the district)."),
        public_file: Path = typer.Argument(..., metavar="PUBLIC_FILE", help="Where to write the public key (given to partners)."),
    ) -> None:
        """Create the district's Ed25519 signing key pair (private key mode 0600)."""
        from datashare.package.sign import generate_signing_keys  # noqa: PLC0415

        with user_errors():
            generate_signing_keys(private_file, public_file)
        console.print(f"private key: {private_file} (keep it secret)\npublic key:  {public_file} (give it to partners)", highlight=False)

    @audit_app.command("verify")
    def audit_verify(
        file: Path = typer.Argument(..., metavar="AUDIT_FILE", help="The audit log (OUT/district/audit.jsonl)."),
    ) -> None:
        """Check the audit log's hash chain and its head, that it covers every package under
        OUT/partners/, and that every ledger file is the one it records; exit non-zero naming a
        broken entry, an uncovered package or an edited ledger file."""
        from datashare.package.audit import verify_audit  # noqa: PLC0415
        from datashare.package.coverage import verify_coverage  # noqa: PLC0415

        from datashare.package.ledger import verify_ledger  # noqa: PLC0415

        with user_errors(exit_code=1):
            result = verify_audit(file)
            covered = verify_coverage(file)
            ledger = verify_ledger(Path(file).parent) if Path(file).parent.name == "district" else {}
        console.print(f"audit log intact: {result.entries} entries, head {result.head}", highlight=False)
        console.print(f"every package under partners/ is covered by the log ({covered} package(s))", highlight=False)
        console.print(f"every ledger file is the one the log records ({len(ledger)} file(s))", highlight=False)
