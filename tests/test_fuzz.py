"""Fuzzing: mutated agreements, package tag files, age archives and extract files, fed to
the public API and to the command line.

The guarantee under test: every case ends in success or in a :class:`DatashareError` with a
message; never another exception, never a traceback on the command line, and never more
than a few seconds (each case runs under an alarm, so a hang fails the test instead of
stalling CI). Example counts are bounded so the whole module stays within a few seconds to
a few tens of seconds on a loaded machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import signal
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from package_fixtures import release
from typer.testing import CliRunner

from datashare._resources import examples_dir
from datashare.agreement import diff, load_agreement, review
from datashare.cli import app
from datashare.errors import DatashareError, PackageError
from datashare.package.bag import write_package
from datashare.package.encrypt import decrypt_package, encrypt_package
from datashare.package.verify import verify

CASE_SECONDS = 5
"""A case taking longer than this is a failure: a hang, an alias bomb, a runaway loop."""

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=False)


@contextlib.contextmanager
def bounded(seconds: float = CASE_SECONDS) -> Iterator[None]:
    """Fail the case (TimeoutError) when it runs longer than ``seconds``."""

    def alarm(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"a fuzz case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def settles(call) -> object | DatashareError:  # noqa: ANN001
    """Run ``call`` bounded; return its result or the DatashareError it raised (with a message)."""
    with bounded():
        try:
            return call()
        except DatashareError as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            return exc


# --------------------------------------------------------------------------- mutations

HOSTILE = [
    "&a", "*a", "<<: *a", "<<: {x: 1}", "!!python/name:os.system", "!!python/object/apply:os.system ['true']",
    "!!binary AAAA", "!!set {a, b}", "!!omap [a: 1]", "? [a, b]\n: c", "[[[[[[", "{{{{", "'", '"', "\t", "\x00",
    "\ufeff", "\u202e", "99999999999999999999", "-99999999999999999999", "1e400", ".nan", ".inf", "-1", "0",
    "9999-12-31", "0001-01-01", "2026-02-30", "2026-13-01", "2025-08-01 10:00:00", "null", "~", "[]", "{}",
    "yes", "no", "true", "extends: /etc/passwd", "extends: ../../../../x.yaml", "extends: nine-contact-partner",
    "extends: aggregate-only", "extends: [a]", "schools: [ALL]", "schools: []", "schools: all",
    "min_cell_size: 1", "min_cell_size: 4", "min_contacts: 0", "id: Bad_Id", "id: a" + "b" * 300,
    "partner: {id: x, name: ''}", "individual: {consent_scope: x, fields: {students: [student_id]}}",
    "delivery: {age_recipients: [age1nope]}", "term: {effective: 2026-08-31, expires: 2025-08-01}",
    "[link=https://example.org]x[/link]", "[/x]", "%YAML 1.1", "---", "...", "--- !tag", "- - -",
    "a: b: c", "key: |\n  text", "key: >-\n  folded",
]


OPS = ["insert", "delete", "replace_value", "replace_line", "duplicate", "splice", "append"]
SNIPPETS = st.sampled_from(HOSTILE) | st.sampled_from(HOSTILE) | st.text(max_size=30)
EDITS = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 200), SNIPPETS), min_size=1, max_size=4)


def _mutate(text: str, edits: list[tuple[str, int, str]]) -> str:
    """Apply edits: insert, delete, duplicate or replace a line (or only its value), splice
    a snippet into a line, or append a snippet as a last top-level line."""
    lines = text.splitlines()
    for op, position, snippet in edits:
        at = position % len(lines) if lines else 0
        if op == "append" or not lines:
            lines.append(snippet)
        elif op == "insert":
            lines.insert(at, snippet)
        elif op == "delete":
            del lines[at]
        elif op == "replace_value":
            lines[at] = f"{lines[at].split(':', 1)[0]}: {snippet}"
        elif op == "replace_line":
            lines[at] = snippet
        elif op == "duplicate":
            lines.insert((at * 7) % (len(lines) + 1), lines[at])
        elif op == "splice":
            column = position % (len(lines[at]) + 1)
            lines[at] = lines[at][:column] + snippet + lines[at][column:]
    return "\n".join(lines) + "\n"


AGREEMENTS = sorted(examples_dir().glob("*.yaml")) + sorted((examples_dir().parent / "templates").glob("*.yaml"))
TEMPLATE = examples_dir().parent / "templates" / "aggregate-only.yaml"


@settings(FUZZ, max_examples=60)
@given(source=st.sampled_from(AGREEMENTS), edits=EDITS)
# each defect once found by hand, kept as an explicit case (the alias bomb runs in a child
# process with a memory limit, in test_bad_input.py: in this process a regression would swap)
@example(source=TEMPLATE, edits=[("append", 0, "title: !!python/name:os.system")])
@example(source=TEMPLATE, edits=[("append", 0, "title: !!python/object/apply:os.system ['true']")])
@example(source=TEMPLATE, edits=[("append", 0, "base: &b {purpose: x}"), ("append", 0, "<<: *b")])
@example(source=TEMPLATE, edits=[("append", 0, "<<: {purpose: Evaluate the services for the students served.}")])
@example(source=TEMPLATE, edits=[("append", 0, "term: {effective: 2025-08-01, expires: 9999-08-31}")])
@example(source=TEMPLATE, edits=[("append", 0, "eligibility: {min_contacts: 99999999999999999999}")])
@example(source=TEMPLATE, edits=[("append", 0, "term: {effective: 2026-02-30, expires: 2026-08-31}")])
@example(source=TEMPLATE, edits=[("append", 0, "extends: /etc/hosts")])
@example(source=TEMPLATE, edits=[("append", 0, "title: " + "[" * 3000)])
def test_fuzz_agreements_through_the_api(source: Path, edits: list[tuple[str, int, str]]) -> None:
    text = _mutate(source.read_text(encoding="utf-8"), edits)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agreement.yaml"
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        loaded = settles(lambda: load_agreement(path))
        if isinstance(loaded, DatashareError):
            return
        for fmt in ("markdown", "html"):
            settles(lambda fmt=fmt: review(loaded, format=fmt))
        settles(lambda: diff(load_agreement(source), loaded))
        settles(loaded.require_releasable)


@settings(FUZZ, max_examples=12)
@given(edits=EDITS)
@example(edits=[("append", 0, "x: &a [1]")])
@example(edits=[("replace_value", 0, "!!python/name:os.system")])
def test_fuzz_agreements_through_the_cli(edits: list[tuple[str, int, str]]) -> None:
    source = AGREEMENTS[0]
    text = _mutate(source.read_text(encoding="utf-8"), edits)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agreement.yaml"
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        with bounded():
            result = CliRunner().invoke(app, ["review", str(path)])
            other = CliRunner().invoke(app, ["diff", str(source), str(path)])
    for outcome in (result, other):
        assert outcome.exit_code in (0, 1, 2), outcome.output
        assert outcome.exception is None or isinstance(outcome.exception, SystemExit), repr(outcome.exception)
        assert "Traceback" not in outcome.output


# --------------------------------------------------------------------------- package tag files


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from datashare.package.sign import generate_signing_keys

    folder = tmp_path_factory.mktemp("signing")
    generate_signing_keys(folder / "signing.pem", folder / "signing.pub")
    return folder / "signing.pem", folder / "signing.pub"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, signing: tuple[Path, Path]) -> Path:
    from datashare.package.sign import load_private_key, sign_bag

    bag = tmp_path_factory.mktemp("bag") / "el-centro-2025-2026"
    write_package(release(), bag)
    sign_bag(bag, load_private_key(signing[0]))
    verify(bag, public_key=signing[1])
    return bag


TAGS = ["bagit.txt", "bag-info.txt", "release.json", "manifest-sha256.txt", "tagmanifest-sha256.txt",
        "tagmanifest-sha256.txt.sig", "data/datapackage.json", "data/aggregate_comparison.csv"]


def _mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "line", "dup"]))
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw = raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1:]
        elif op == "insert":
            raw = raw[:at] + data.draw(st.binary(max_size=20) | st.sampled_from(
                [b"\xff\xfe", b"\x00", b"\n", b": ", b"Payload-Oxum: abc\n", b"BagIt-Version: 9.9\n",
                 b'{"x": [', b"null", b"[]", b"1e999", b'"files": 5'])) + raw[at:]
        elif op == "delete":
            raw = raw[:at] + raw[at + data.draw(st.integers(1, 40)):]
        elif op == "truncate":
            raw = raw[:at]
        elif op == "line":
            lines = raw.splitlines(keepends=True)
            if lines:
                del lines[data.draw(st.integers(0, len(lines) - 1))]
            raw = b"".join(lines)
        elif op == "dup":
            lines = raw.splitlines(keepends=True)
            if lines:
                lines.append(lines[data.draw(st.integers(0, len(lines) - 1))])
            raw = b"".join(lines)
    return raw


def _retag(bag: Path) -> None:
    """Recompute the tag manifest, as a forger of an unsigned package would."""
    lines = []
    for name in ("bag-info.txt", "bagit.txt", "manifest-sha256.txt", "release.json"):
        lines.append(f"{hashlib.sha256((bag / name).read_bytes()).hexdigest()}  {name}")
    (bag / "tagmanifest-sha256.txt").write_text("\n".join(lines) + "\n")


@settings(FUZZ, max_examples=60)
@given(data=st.data(), name=st.sampled_from(TAGS), retag=st.booleans(), checked=st.booleans())
def test_fuzz_package_tag_files(
    pristine: Path, signing: tuple[Path, Path], data: st.DataObject, name: str, retag: bool, checked: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        bag = Path(folder) / pristine.name
        shutil.copytree(pristine, bag)
        original = (bag / name).read_bytes()
        mutated = _mutate_bytes(data, original)
        (bag / name).write_bytes(mutated)
        if retag and name != "tagmanifest-sha256.txt":
            _retag(bag)
        key = signing[1] if checked else None
        outcome = settles(lambda: verify(bag, public_key=key))
        if checked and mutated != original:
            assert isinstance(outcome, DatashareError), "an altered package passed a signature check"
        with bounded():
            result = CliRunner().invoke(app, ["verify", str(bag), *(["--public-key", str(key)] if key else [])])
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


# --------------------------------------------------------------------------- age archives

IDENTITY = pyrage.x25519.Identity.generate()

NAMES = st.sampled_from(["pkg", "pkg/a", "pkg/a/b", "pkg/data", "pkg/data/x.csv", ".", "", "./pkg", "pkg/.",
                         "pkg//a", "/abs", "../up", "pkg/../../up", "C:/x", "pkg\\x", "other", "pkg/" + "n" * 300,
                         "pkg/\x00nul"]) | st.text(max_size=12).map(lambda s: f"pkg/{s}")
KINDS = st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                         tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.CONTTYPE])


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    buffer = io.BytesIO()
    fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for _ in range(draw(st.integers(0, 6))):
            info = tarfile.TarInfo(draw(NAMES))
            info.type = draw(KINDS)
            info.linkname = draw(st.sampled_from(["", "pkg/a", "/etc/passwd", "../x"]))
            info.mode = draw(st.sampled_from([0o644, 0o777, 0o4755, 0]))
            payload = draw(st.binary(max_size=64)) if info.type in (tarfile.REGTYPE, tarfile.CONTTYPE) else b""
            info.size = len(payload)
            with contextlib.suppress(ValueError, UnicodeError):
                tar.addfile(info, io.BytesIO(payload) if payload else None)
    raw = buffer.getvalue()
    if draw(st.booleans()) and raw:  # damage the tar itself now and then
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:]
    return raw


@pytest.fixture(scope="module")
def identity_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("identity") / "partner.key"
    path.write_text(f"{IDENTITY}\n")
    return path


@settings(FUZZ, max_examples=60)
@given(plain=archives())
def test_fuzz_age_archives(identity_file: Path, plain: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "pkg.tar.age"
        file.write_bytes(pyrage.encrypt(plain, [IDENTITY.to_public()]))
        out = Path(folder) / "out"
        outcome = settles(lambda: decrypt_package(file, identity_file, out))
        if isinstance(outcome, DatashareError):
            assert isinstance(outcome, PackageError)
            assert not out.exists(), "a refused archive left files behind"
            assert sorted(p.name for p in Path(folder).iterdir()) == ["pkg.tar.age"]
        else:
            assert Path(outcome).is_dir() and Path(outcome).parent == out
            for path in out.rglob("*"):
                assert not path.is_symlink()
                assert path.resolve().is_relative_to(out.resolve())


@settings(FUZZ, max_examples=20)
@given(raw=st.binary(max_size=300) | st.just(b"age-encryption.org/v1\n") | st.just(b""))
def test_fuzz_not_an_age_file(identity_file: Path, raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "x.tar.age"
        file.write_bytes(raw)
        outcome = settles(lambda: decrypt_package(file, identity_file, Path(folder) / "out"))
        assert isinstance(outcome, PackageError)
        with bounded():
            result = CliRunner().invoke(app, ["decrypt", str(file), "--identity", str(identity_file),
                                              "--out", str(Path(folder) / "out")])
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_fuzz_round_trip_still_works(pristine: Path, identity_file: Path, tmp_path: Path) -> None:
    """The fuzz targets are not refusing everything: a real package goes through."""
    file = encrypt_package(pristine, [str(IDENTITY.to_public())], tmp_path / "pkg.tar.age")
    verify(decrypt_package(file, identity_file, tmp_path / "out"))


# --------------------------------------------------------------------------- extract files (CLI end)


@pytest.fixture(scope="module")
def small_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datashare.synth import synthesize

    root = tmp_path_factory.mktemp("extract") / "extract"
    synthesize(root, students=60, schools=1, partners=1, seed=3)
    return root


@settings(FUZZ, max_examples=10)
@given(data=st.data(), table=st.sampled_from(["students", "schools", "enrollments", "consents", "service_contacts"]))
def test_fuzz_extract_files_through_the_cli(small_extract: Path, data: st.DataObject, table: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        extract = Path(folder) / "extract"
        shutil.copytree(small_extract, extract)
        path = extract / f"{table}.csv"
        path.write_bytes(_mutate_bytes(data, path.read_bytes()))
        started = time.perf_counter()
        with bounded(20):
            result = CliRunner().invoke(app, ["validate", str(extract)])
        assert time.perf_counter() - started < 20
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
