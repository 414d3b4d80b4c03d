"""The district secret file, the per-partner HKDF key and the student_key pseudonym."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stat

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datashare.errors import KeyFileError
from datashare.release.keys import (
    STUDENT_KEY_PATTERN,
    init_secret,
    partner_key,
    read_secret,
    student_key,
    student_keys,
)


def test_init_writes_32_private_bytes(tmp_path):
    path = init_secret(tmp_path / "district.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_secret(path)) == 32


def test_init_refuses_to_overwrite(tmp_path):
    path = init_secret(tmp_path / "district.key")
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        init_secret(path)
    assert path.read_bytes() == before


def test_two_secrets_differ(tmp_path):
    assert read_secret(init_secret(tmp_path / "a")) != read_secret(init_secret(tmp_path / "b"))


def test_missing_key_file(tmp_path):
    with pytest.raises(KeyFileError, match=r"nowhere\.key: key file not found.*keys init"):
        read_secret(tmp_path / "nowhere.key")


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_wrong_size(tmp_path, size):
    path = tmp_path / "bad.key"
    path.write_bytes(b"\x01" * size)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=f"exactly 32 bytes.*holds {size}"):
        read_secret(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_readable_by_others_is_refused_without_showing_content(tmp_path, mode):
    path = init_secret(tmp_path / "open.key")
    path.chmod(mode)
    with pytest.raises(KeyFileError) as info:
        read_secret(path)
    message = str(info.value)
    assert "chmod 600" in message and str(path) in message
    assert path.read_bytes().hex() not in message


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_key_file(tmp_path):
    path = init_secret(tmp_path / "locked.key")
    path.chmod(0o000)
    try:
        with pytest.raises(KeyFileError, match="cannot read"):
            read_secret(path)
    finally:
        path.chmod(0o600)


def test_directory_is_not_a_key_file(tmp_path):
    folder = tmp_path / "dir.key"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_secret(folder)


def test_partner_keys_differ_and_are_stable():
    secret = bytes(range(32))
    a1, a2, b = partner_key(secret, "el-centro"), partner_key(secret, "el-centro"), partner_key(secret, "ymca")
    assert a1 == a2 and a1 != b and len(a1) == 32
    assert partner_key(bytes(32), "el-centro") != a1


def test_partner_key_is_hkdf_sha256_rfc5869():
    """Recompute HKDF from RFC 5869 with plain hmac, so the scheme is pinned by the test."""
    secret = bytes(range(32))
    prk = hmac.digest(b"datashare/student-key/v1", secret, hashlib.sha256)
    okm = hmac.digest(prk, b"el-centro" + b"\x01", hashlib.sha256)
    assert partner_key(secret, "el-centro") == okm


def test_student_key_encoding():
    key = partner_key(bytes(range(32)), "p1")
    value = student_key(key, "000123")
    digest = hmac.digest(key, b"000123", hashlib.sha256)[:16]
    assert value == base64.b32encode(digest).decode().rstrip("=").lower()
    assert len(value) == 26 and re.fullmatch(STUDENT_KEY_PATTERN, value)
    assert student_key(key, "123") != value  # leading zeros matter


def test_student_keys_on_distinct_ids():
    key = partner_key(bytes(range(32)), "p1")
    ids = pl.Series(["s2", "s1", "s2", None, "s3"])
    table = student_keys(ids, key)
    assert table.columns == ["student_id", "student_key"]
    assert table.get_column("student_id").to_list() == ["s1", "s2", "s3"]
    assert table.get_column("student_key").to_list() == [student_key(key, s) for s in ("s1", "s2", "s3")]
    lazy = student_keys(pl.LazyFrame({"student_id": ["s3", "s1", "s2"]}), key)
    assert lazy.equals(table)
    assert table.get_column("student_key").str.contains(STUDENT_KEY_PATTERN).all()


def test_empty_ids():
    table = student_keys(pl.Series("student_id", [], dtype=pl.String), bytes(32))
    assert table.height == 0 and table.schema == {"student_id": pl.String, "student_key": pl.String}


@settings(max_examples=30, deadline=None)
@given(ids=st.lists(st.text(min_size=1, max_size=12), min_size=0, max_size=40, unique=True))
def test_bulk_keys_equal_one_at_a_time(ids: list[str]) -> None:
    """student_keys encodes all digests in one call; each key equals its own encoding."""
    import os

    key = partner_key(os.urandom(32), "el-centro")
    table = student_keys(pl.Series(ids, dtype=pl.String), key)
    assert table["student_key"].to_list() == [student_key(key, i) for i in table["student_id"].to_list()]
