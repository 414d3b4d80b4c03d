"""The run and the command line on bad input: early and complete refusals, warnings,
key-file mix-ups, private output modes, --version, fast --help, unwrapped messages."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import datashare
from datashare._resources import examples_dir
from datashare.cli import app
from datashare.errors import AgreementError, AgreementRefused, KeyFileError
from datashare.package.sign import generate_signing_keys
from datashare.release.admission import partner_warnings
from datashare.release.keys import init_secret
from datashare.synth import synthesize

AS_OF = dt.date(2026, 6, 30)
EXAMPLE = examples_dir() / "el-centro-2025-2026.yaml"


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("district")
    synthesize(root / "extract", students=300, schools=3, partners=2, seed=5)
    init_secret(root / "district.key")
    generate_signing_keys(root / "signing.pem", root / "signing.pub")
    return {"root": root, "extract": root / "extract", "key": root / "district.key",
            "signing": root / "signing.pem", "public": root / "signing.pub"}


def _copy_example(folder: Path, name: str, replacements: list[tuple[str, str]]) -> Path:
    """The El Centro example beside a copy of its template, with replacements."""
    templates = folder / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    for template in (examples_dir().parent / "templates").glob("*.yaml"):
        (templates / template.name).write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- refusals


def test_every_refused_agreement_is_named_before_the_extract_is_read(district, tmp_path: Path) -> None:
    folder = tmp_path / "agreements"
    _copy_example(folder, "a", [("id: el-centro-2025-2026", "id: first-refused")])
    _copy_example(folder, "b", [("id: el-centro-2025-2026", "id: second-refused")])
    _copy_example(folder, "c", [("id: el-centro-2025-2026", "id: fine-one")])
    with (folder / "b.yaml").open("a") as file:
        file.write("aggregate: {min_cell_size: 2}\n")
    # no extract at all: the refusal must come first
    with pytest.raises(AgreementRefused) as info:
        datashare.release(extract=tmp_path / "no-such-extract", agreements=[folder], key_file=district["key"],
                          as_of=dt.date(2026, 9, 15), out=tmp_path / "out")
    message = str(info.value)
    assert message.startswith("3 agreement(s) refused; nothing was released")
    assert "first-refused: not in force on 2026-09-15" in message
    assert "b.yaml: agreement refused" in message and "min_cell_size 2 is below the floor" in message
    assert "fine-one: not in force" in message
    assert not (tmp_path / "out").exists()


def test_agreements_that_do_not_fit_the_extract_are_all_named(district, tmp_path: Path) -> None:
    folder = tmp_path / "agreements"
    _copy_example(folder, "a", [("id: el-centro-2025-2026", "id: other-schools\nschools: [NOPE-1]")])
    _copy_example(folder, "b", [("id: el-centro-2025-2026", "id: other-schools-too\nschools: [NOPE-2]")])
    with pytest.raises(AgreementRefused) as info:
        datashare.release(extract=district["extract"], agreements=[folder], key_file=district["key"],
                          as_of=AS_OF, out=tmp_path / "out")
    message = str(info.value)
    assert "2 agreement(s) refused" in message
    assert "other-schools: schools lists 'NOPE-1'" in message
    assert "other-schools-too: schools lists 'NOPE-2'" in message
    assert not (tmp_path / "out" / "partners").exists()


def test_empty_agreements_folder_is_named(district, tmp_path: Path) -> None:
    empty = tmp_path / "empty-agreements"
    (empty / "templates").mkdir(parents=True)
    (empty / "templates" / "x.yaml").write_text("datashare: 1\n")
    with pytest.raises(AgreementError, match=rf"{empty}: no agreement file \(\*\.yaml\) in this folder"):
        datashare.release(extract=district["extract"], agreements=[empty], key_file=district["key"],
                          as_of=AS_OF, out=tmp_path / "out")


def test_public_key_given_as_signing_key_is_named(district, tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="signing.pub: this is a public key; --signing-key takes the district's private key"):
        datashare.release(extract=district["extract"], agreements=[examples_dir()], key_file=district["key"],
                          as_of=AS_OF, out=tmp_path / "out", signing_key=district["public"])


def test_mode_messages_are_four_digit_octal(district, tmp_path: Path) -> None:
    loose = tmp_path / "loose.pem"
    loose.write_bytes(district["signing"].read_bytes())
    loose.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"\(mode 0644\); restrict it with `chmod 600 "):
        datashare.release(extract=district["extract"], agreements=[examples_dir()], key_file=district["key"],
                          as_of=AS_OF, out=tmp_path / "out", signing_key=loose)
    key = tmp_path / "loose.key"
    key.write_bytes(district["key"].read_bytes())
    key.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"\(mode 0644\); restrict it with `chmod 600 "):
        datashare.release(extract=district["extract"], agreements=[examples_dir()], key_file=key,
                          as_of=AS_OF, out=tmp_path / "out")


# --------------------------------------------------------------------------- warnings


def test_partner_warnings_name_near_misses() -> None:
    class _Loaded:
        def __init__(self, partner_id: str) -> None:
            from datashare.agreement.model import Agreement

            self.path = Path(f"{partner_id}.yaml")
            self.agreement = Agreement.model_validate(
                {"id": f"{partner_id}-2025-2026", "partner": {"id": partner_id, "name": "P"}}
            )

    warnings = partner_warnings(
        [_Loaded("el-centro"), _Loaded("bright-path"), _Loaded("zzz-unrelated"), _Loaded("ok")],  # type: ignore[list-item]
        ["El-Centro", "bright-path-tutoring", "ok", None],  # type: ignore[list-item]
    )
    assert len(warnings) == 3
    assert "partner 'el-centro' has no service contacts" in warnings[0] and "did you mean 'El-Centro'" in warnings[0]
    assert "did you mean 'bright-path-tutoring'" in warnings[1]
    assert "did you mean" not in warnings[2] and "check partner.id against service_contacts.partner_id" in warnings[2]


def test_misspelt_partner_warns_in_output_and_run_report(district, tmp_path: Path) -> None:
    extract = tmp_path / "extract"
    extract.mkdir()
    for file in district["extract"].iterdir():
        (extract / file.name).write_bytes(file.read_bytes())
    contacts = pl.read_csv(extract / "service_contacts.csv", infer_schema=False)
    contacts.with_columns(
        pl.when(pl.col("partner_id") == "el-centro").then(pl.lit("El-Centro")).otherwise("partner_id").alias("partner_id")
    ).write_csv(extract / "service_contacts.csv")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "run", "--extract", str(extract), "--agreements", str(EXAMPLE), "--key-file", str(district["key"]),
        "--as-of", AS_OF.isoformat(), "--out", str(out), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output
    assert "partner 'el-centro' has no service contacts in the extract" in result.output
    assert "did you mean 'El-Centro'" in result.output
    report = json.loads((out / "district" / "run_report.json").read_text())
    assert len(report["warnings"]) == 1 and "'El-Centro'" in report["warnings"][0]


# --------------------------------------------------------------------------- modes


def test_outputs_are_private_whatever_the_umask(district, tmp_path: Path) -> None:
    out = tmp_path / "out"
    old = os.umask(0)
    try:
        result = datashare.release(extract=district["extract"], agreements=[examples_dir()], key_file=district["key"],
                                   as_of=AS_OF, out=out, signing_key=district["signing"])
    finally:
        os.umask(old)
    assert os.umask(old) == old  # the run put the umask back
    assert result.published.packages
    entries = [out, *out.rglob("*")]
    assert len(entries) > 20
    for path in entries:
        mode = stat.S_IMODE(path.lstat().st_mode)
        allowed = {0o750, 0o700} if path.is_dir() else {0o640, 0o600}
        assert mode in allowed, f"{path.relative_to(out)}: mode {mode:04o}"


# --------------------------------------------------------------------------- CLI


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"datashare {datashare.__version__}"


HEAVY = ("polars", "pandas", "pandera", "pyarrow", "great_expectations")


def test_help_of_every_command_imports_no_data_library() -> None:
    commands = [[], ["validate"], ["synth"], ["review"], ["diff"], ["run"], ["demo"], ["verify"], ["decrypt"],
                ["keys"], ["keys", "init"], ["keys", "signing"], ["audit"], ["audit", "verify"]]
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from datashare.cli import app\n"
        f"commands = {commands!r}\n"
        "codes = [CliRunner().invoke(app, [*c, '--help']).exit_code for c in commands]\n"
        f"print(json.dumps([codes, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    codes, loaded = json.loads(out)
    assert codes == [0] * len(commands)
    assert loaded == []


def test_help_shows_flags_as_flags_and_values_by_name() -> None:
    text = CliRunner().invoke(app, ["run", "--help"], terminal_width=200).output
    assert "<bool>" not in text and "<list[" not in text and "<str>" not in text
    assert "--replace " in text and "-q, --quiet" in text
    assert "--agreements PATH" in text and "--as-of DATE" in text and "--out DIR" in text


def test_messages_are_not_wrapped_into_a_pipe(district, tmp_path: Path) -> None:
    from datashare.package.bag import write_package
    from package_fixtures import release

    bag = tmp_path / ("a-rather-long-folder-name-" * 3) / "el-centro-2025-2026"
    write_package(release(), bag)
    csv = bag / "data" / "aggregate_comparison.csv"
    csv.write_bytes(csv.read_bytes() + b"\n")
    result = CliRunner().invoke(app, ["verify", str(bag)])
    assert result.exit_code == 1
    assert "data/aggregate_comparison.csv: altered (its sha256 differs from manifest-sha256.txt)" in result.output
    assert result.output.count("\n") == 1


def test_output_file_in_a_missing_folder_is_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["review", str(EXAMPLE), "-o", str(tmp_path / "missing" / "review.md")])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"error: {tmp_path / 'missing' / 'review.md'}: No such file or directory" in result.output


def test_a_folder_given_as_an_agreement_file_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["review", str(tmp_path)])
    assert result.exit_code == 2
    assert f"error: {tmp_path}: is a folder; give an agreement file" in result.output


def test_out_that_is_a_file_is_named(district, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("")
    result = CliRunner().invoke(app, [
        "run", "--extract", str(district["extract"]), "--agreements", str(EXAMPLE), "--key-file", str(district["key"]),
        "--as-of", AS_OF.isoformat(), "--out", str(out),
    ])
    assert result.exit_code == 2
    assert f"error: {out}: the output folder is a file; give a folder for --out" in result.output


def test_credits_that_add_up_past_a_float_are_refused_without_a_package(district, tmp_path: Path) -> None:
    """Each cell a finite number >= 0, so the extract validates; their sum is infinite, which
    no mean GPA can be made of: the run refuses, naming the table and column, and writes
    no package."""
    extract = tmp_path / "extract"
    extract.mkdir()
    for file in district["extract"].iterdir():
        (extract / file.name).write_bytes(file.read_bytes())
    grades = pl.read_csv(extract / "grades.csv", infer_schema=False)
    first = (pl.col("student_id") == grades["student_id"][0]) & (pl.col("school_id") == grades["school_id"][0])
    grades.with_columns(
        pl.when(first).then(pl.lit("1e308")).otherwise("credits_attempted").alias("credits_attempted"),
        pl.when(first).then(pl.lit("4")).otherwise("grade_points").alias("grade_points"),
    ).write_csv(extract / "grades.csv")
    assert datashare.validate(extract).valid
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "run", "--extract", str(extract), "--agreements", str(EXAMPLE), "--key-file", str(district["key"]),
        "--as-of", AS_OF.isoformat(), "--out", str(out), "--quiet",
    ])
    assert result.exit_code != 0 and "grades: the credits_attempted" in result.output, result.output
    assert "Traceback" not in result.output
    assert not (out / "partners").exists() or not any((out / "partners").iterdir())
