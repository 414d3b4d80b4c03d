"""Bad input gets one clear DatashareError: agreements, package tag files, age archives.

Each case is a defect once found by hand (a traceback, a hang or a silent acceptance); each
test fails if it comes back.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pyrage
import pytest
from package_fixtures import release
from test_agreement_lint import BASE

from datashare.agreement import load_agreement
from datashare.agreement.lint import add_months
from datashare.agreement.load import MAX_AGREEMENT_BYTES
from datashare.errors import AgreementError, PackageError, VerificationError
from datashare.package.bag import write_package
from datashare.package.encrypt import MAX_MEMBERS, decrypt_package
from datashare.package.verify import verify


def _write(tmp_path: Path, text: str, name: str = "agreement.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- agreements

ALIAS_BOMB = (
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def test_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """Run in a child process with 2 GB of address space and a time limit, so that a
    regression fails this test instead of swapping the machine to a halt."""
    file = _write(tmp_path, ALIAS_BOMB)
    assert file.stat().st_size < 400
    code = (
        "import resource, sys, time\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from datashare.agreement import load_agreement\n"
        "from datashare.errors import AgreementError\n"
        "started = time.perf_counter()\n"
        "try:\n"
        "    load_agreement(sys.argv[1])\n"
        "except AgreementError as exc:\n"
        "    print(f'{time.perf_counter() - started:.3f}', exc)\n"
    )
    child = subprocess.run([sys.executable, "-c", code, str(file)], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr[-500:]
    seconds, message = child.stdout.split(" ", 1)
    assert re.search(r"line 1, column \d+: YAML anchors and aliases", message)
    assert float(seconds) < 1


@pytest.mark.parametrize(
    ("snippet", "needle"),
    [
        ("title: !!python/object/apply:os.system [echo hi]\n", "explicit YAML tags"),
        ("title: !!python/name:os.system\n", "explicit YAML tags"),
        ("title: !!str 5\n", "explicit YAML tags"),
        ("aggregate: !custom {min_cell_size: 10}\n", "explicit YAML tags"),
        ("base: &base {min_cell_size: 10}\naggregate:\n  <<: *base\n", "anchors and aliases"),
        ("aggregate:\n  <<: {min_cell_size: 10}\n", "merge keys"),
    ],
)
def test_tags_anchors_and_merge_keys_are_refused(tmp_path: Path, snippet: str, needle: str) -> None:
    text = BASE.replace("title: Test agreement\n", "") + snippet
    with pytest.raises(AgreementError, match=needle) as info:
        load_agreement(_write(tmp_path, text))
    assert re.search(r"agreement\.yaml, line \d+, column \d+: ", str(info.value))


def test_quoted_merge_key_is_an_unknown_key_not_a_merge(tmp_path: Path) -> None:
    text = BASE + 'delivery:\n  "<<": 1\n'
    with pytest.raises(AgreementError, match="unknown key '<<'"):
        load_agreement(_write(tmp_path, text))


def test_oversized_agreement_file_is_refused_unread(tmp_path: Path) -> None:
    text = BASE + "#" + "x" * MAX_AGREEMENT_BYTES + "\n"
    with pytest.raises(AgreementError, match=r"more than the limit of 65,536"):
        load_agreement(_write(tmp_path, text))


def test_deep_nesting_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(AgreementError, match=r"agreement\.yaml"):
        load_agreement(_write(tmp_path, "title: " + "[" * 5000 + "]" * 5000 + "\n"))


def test_not_utf8_agreement(tmp_path: Path) -> None:
    path = tmp_path / "agreement.yaml"
    path.write_bytes(BASE.encode() + b"title2: \xff\xfe\n")
    with pytest.raises(AgreementError, match="not UTF-8"):
        load_agreement(path)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("min_cell_size: 10", "min_cell_size: 99999999999999999999", "aggregate.min_cell_size"),
        ("min_contacts: 9", "min_contacts: 99999999999999999999", "eligibility.min_contacts"),
        ("version: 1", "version: 99999999999999999999", "version"),
    ],
)
def test_huge_numbers_are_refused_by_the_model(tmp_path: Path, old: str, new: str, key: str) -> None:
    with pytest.raises(AgreementError, match=rf"{re.escape(key)} \(agreement\.yaml, line \d+\): input should be less"):
        load_agreement(_write(tmp_path, BASE.replace(old, new)))


def test_shipped_schema_bounds_the_numbers() -> None:
    from datashare.agreement.schema import agreement_json_schema

    defs = agreement_json_schema()["$defs"]
    assert defs["Aggregate"]["properties"]["min_cell_size"]["maximum"] == 1_000_000
    assert defs["Eligibility"]["properties"]["min_contacts"]["maximum"] == 10_000


def test_far_future_expiry_is_a_lint_warning_not_a_crash(tmp_path: Path) -> None:
    text = BASE.replace("expires: 2026-08-31", "expires: 9999-08-31").replace(
        "destroy_by: 2027-06-30", "destroy_by: 9999-12-31"
    )
    loaded = load_agreement(_write(tmp_path, text))
    assert "long_term" in {f.code for f in loaded.findings}
    assert add_months(__import__("datetime").date(9999, 8, 31), 12) == __import__("datetime").date.max
    assert add_months(__import__("datetime").date(2024, 1, 31), 1) == __import__("datetime").date(2024, 2, 29)


@pytest.mark.parametrize("reference", ["/etc/templates/base.yaml", "~/base.yaml", "\\\\server\\share\\base.yaml",
                                       "C:/templates/base.yaml"])
def test_absolute_extends_is_refused(tmp_path: Path, reference: str) -> None:
    _write(tmp_path, "datashare: 1\n", "base.yaml")
    text = f"extends: {json.dumps(reference)}\n" + BASE
    with pytest.raises(AgreementError, match="is an absolute path; give a template name or a path relative"):
        load_agreement(_write(tmp_path, text))


def test_absolute_extends_to_a_real_file_is_refused(tmp_path: Path) -> None:
    base = _write(tmp_path / "t", "datashare: 1\n", "base.yaml")
    with pytest.raises(AgreementError, match="absolute path"):
        load_agreement(_write(tmp_path, f"extends: {base}\n" + BASE))
    # the same file named relatively is fine
    assert load_agreement(_write(tmp_path, "extends: t/base.yaml\n" + BASE)).agreement.id == "test-2025-2026"


# --------------------------------------------------------------------------- verify


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    folder = tmp_path / "pkg" / "el-centro-2025-2026"
    write_package(release(), folder)
    verify(folder)
    return folder


def _retag(bag: Path) -> None:
    """Rewrite the tag manifest after a tag file was edited (as an unsigned forger could)."""
    import hashlib

    lines = []
    for line in (bag / "tagmanifest-sha256.txt").read_text().splitlines():
        _, name = line.split(maxsplit=1)
        lines.append(f"{hashlib.sha256((bag / name).read_bytes()).hexdigest()}  {name}")
    (bag / "tagmanifest-sha256.txt").write_text("\n".join(lines) + "\n")


def _edit(path: Path, change) -> None:  # noqa: ANN001
    path.write_bytes(change(path.read_bytes()))


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("bagit.txt", lambda b: b + b.splitlines(keepends=True)[0], r"bagit\.txt: altered \(line 3 repeats BagIt-Version"),
        ("bag-info.txt", lambda b: b + b"Contact-Name: \xff\xfe\n", r"bag-info\.txt: altered \(not UTF-8"),
        ("bag-info.txt", lambda b: re.sub(rb"Payload-Oxum: [^\n]*", b"Payload-Oxum: abc", b),
         r"bag-info\.txt: altered \(line \d+: Payload-Oxum must be"),
        ("bag-info.txt", lambda b: b + b"Payload-Oxum: 1.1\n", r"bag-info\.txt: altered \(line \d+ repeats Payload-Oxum"),
        ("bag-info.txt", lambda b: b + b"no colon here\n", r"bag-info\.txt: altered \(line \d+ is not 'Key: value'"),
        ("bagit.txt", lambda b: b.replace(b"1.0", b"x.y").replace(b"0.97", b"x.y"), r"not a valid BagIt bag"),
        ("bagit.txt", lambda b: b.replace(b"UTF-8", b"no-such-codec"), r"not a valid BagIt bag"),
        ("release.json", lambda b: _json_edit(b, lambda r: r["files"].update({k: 5 for k in r["files"]})),
         r"release\.json: the entry of data/\S+ under files is not an object"),
        ("release.json", lambda b: _json_edit(b, lambda r: r.update(files=[1, 2])), r"release\.json: not a release record"),
        ("release.json", lambda b: b"[1, 2]", r"release\.json: not a release record"),
        ("release.json", lambda b: b"\xff", r"release\.json: not a release record"),
    ],
)
def test_malformed_tag_files_are_named(bag: Path, name: str, change, message: str) -> None:  # noqa: ANN001
    _edit(bag / name, change)
    _retag(bag)
    with pytest.raises(VerificationError, match=message):
        verify(bag)


def _json_edit(raw: bytes, change) -> bytes:  # noqa: ANN001
    record = json.loads(raw)
    change(record)
    return json.dumps(record).encode()


# --------------------------------------------------------------------------- decrypt


@pytest.fixture
def identity(tmp_path: Path) -> tuple[Path, str]:
    key = pyrage.x25519.Identity.generate()
    path = tmp_path / "partner.key"
    path.write_text(f"{key}\n")
    return path, str(key.to_public())


def _archive(tmp_path: Path, recipient: str, members: list[tuple[tarfile.TarInfo, bytes | None]],
             fmt: int = tarfile.PAX_FORMAT) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path = tmp_path / "evil.tar.age"
    path.write_bytes(pyrage.encrypt(buffer.getvalue(), [pyrage.x25519.Recipient.from_str(recipient)]))
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def _sparse_gnu(tmp_path: Path, recipient: str, apparent: int) -> Path:
    """An old-GNU sparse member: a few bytes of data claiming ``apparent`` bytes."""
    info = tarfile.TarInfo("pkg/huge.bin")
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 1
    block = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    # old GNU header: sparse map at 386 (4 entries of 12+12 octal bytes), isextended 482, realsize 483
    block[386:398] = tarfile.itn(apparent - 1, 12, tarfile.GNU_FORMAT)
    block[398:410] = tarfile.itn(1, 12, tarfile.GNU_FORMAT)
    block[483:495] = tarfile.itn(apparent, 12, tarfile.GNU_FORMAT)
    block[148:156] = b"        "
    block[148:156] = b"%06o\0 " % sum(block[:512])
    data = bytes(block[:512]) + b"x" + b"\0" * 511
    head = io.BytesIO()
    with tarfile.open(fileobj=head, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_dir("pkg"))
    plain = head.getvalue()
    plain = plain[:512] + data + b"\0" * 2048
    path = tmp_path / "sparse.tar.age"
    path.write_bytes(pyrage.encrypt(plain, [pyrage.x25519.Recipient.from_str(recipient)]))
    return path


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([(_dir("pkg"), None), (_file("."), b"x")], "empty name"),
        ([(_dir("pkg"), None), (_file(""), b"x")], "empty name"),
        ([(_dir("pkg"), None), (_file("pkg/a"), b"x"), (_file("pkg/a/b"), b"y")], "'pkg/a' is both a file and a folder"),
        ([(_dir("pkg"), None), (_file("pkg/a"), b"x"), (_dir("pkg/a"), None)], "appears twice"),
        ([(_dir("pkg"), None), (_file("pkg/a"), b"x"), (_file("pkg/./a"), b"y")], "appears twice"),
        ([(_file("pkg"), b"x")], "is a file; expected the package folder"),
        ([(_dir("pkg"), None), (_dir("other"), None)], "found 2"),
    ],
)
def test_hostile_members_are_refused_and_nothing_is_left(
    tmp_path: Path, identity: tuple[Path, str], members, message: str  # noqa: ANN001
) -> None:
    evil = _archive(tmp_path, identity[1], members)
    out = tmp_path / "out"
    with pytest.raises(PackageError, match=message):
        decrypt_package(evil, identity[0], out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.age", "partner.key"]


def test_sparse_member_claiming_a_terabyte_is_refused(tmp_path: Path, identity: tuple[Path, str]) -> None:
    evil = _sparse_gnu(tmp_path, identity[1], 2**40)
    assert evil.stat().st_size < 12_000
    with tarfile.open(fileobj=io.BytesIO(pyrage.decrypt(evil.read_bytes(), [pyrage.x25519.Identity.from_str(
            identity[0].read_text().strip())]))) as tar:
        assert max(m.size for m in tar.getmembers()) == 2**40  # the archive really claims a terabyte
    out = tmp_path / "out"
    with pytest.raises(PackageError, match="claim more bytes than the archive holds|sparse"):
        decrypt_package(evil, identity[0], out)
    assert not out.exists()


def test_too_many_members_are_refused(tmp_path: Path, identity: tuple[Path, str]) -> None:
    members = [(_dir("pkg"), None)] + [(_file(f"pkg/{i}"), b"") for i in range(MAX_MEMBERS + 1)]
    evil = _archive(tmp_path, identity[1], members, fmt=tarfile.USTAR_FORMAT)
    with pytest.raises(PackageError, match="more than 10,000"):
        decrypt_package(evil, identity[0], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_refusal_leaves_an_existing_out_folder_as_it_was(tmp_path: Path, identity: tuple[Path, str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    evil = _archive(tmp_path, identity[1], [(_dir("pkg"), None), (_file("pkg/a"), b"x"), (_file("pkg/a/b"), b"y")])
    with pytest.raises(PackageError):
        decrypt_package(evil, identity[0], out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.age", "out", "partner.key"]


def test_unpacked_package_is_private(tmp_path: Path, identity: tuple[Path, str]) -> None:
    from datashare.package.encrypt import encrypt_package

    folder = tmp_path / "src" / "el-centro-2025-2026"
    write_package(release(), folder)
    encrypted = encrypt_package(folder, [identity[1]], tmp_path / "pkg.tar.age")
    unpacked = decrypt_package(encrypted, identity[0], tmp_path / "out")
    verify(unpacked)
    modes = {p.stat().st_mode & 0o777 for p in [unpacked, *unpacked.rglob("*")]}
    assert modes <= {0o750, 0o640}
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_thousands_of_unclosed_brackets_are_refused_at_once(tmp_path: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(AgreementError, match=r"line 1: brackets nested more than 32 deep"):
        load_agreement(_write(tmp_path, "title: " + "[" * 3000 + "\n"))
    assert time.perf_counter() - started < 1


def test_many_unknown_keys_are_counted_not_all_listed(tmp_path: Path) -> None:
    text = "".join(f"k{i}: {i}\n" for i in range(300))
    with pytest.raises(AgreementError) as info:
        load_agreement(_write(tmp_path, text))
    message = str(info.value)
    assert message.count("unknown key") == 20
    assert message.endswith("... and 280 more problem(s)")


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "2025-00-10", "2026-02-30 10:00:00"])
def test_impossible_dates_are_named_with_their_line(tmp_path: Path, value: str) -> None:
    text = BASE.replace("expires: 2026-08-31", f"expires: {value}")
    with pytest.raises(AgreementError, match=rf"agreement\.yaml, line 8, column \d+: '{value}' is not a calendar date"):
        load_agreement(_write(tmp_path, text))


def test_an_empty_metric_list_is_refused_at_load(tmp_path: Path) -> None:
    text = BASE.replace("metrics: [attendance_rate, mean_gpa]", "metrics: []")
    with pytest.raises(AgreementError, match=r"aggregate\.metrics \(agreement\.yaml, line \d+\): list at least one entry"):
        load_agreement(_write(tmp_path, text))


def test_text_that_starts_like_a_date_is_still_text(tmp_path: Path) -> None:
    text = BASE.replace("title: Test agreement", "title: 2026-02-30 was the plan")
    assert load_agreement(_write(tmp_path, text)).agreement.title == "2026-02-30 was the plan"
