"""The district's record of what each partner holds: ``OUT/district/ledger/``.

A partner keeps every package it ever received, so disclosure control must know them all
(CONTRACT section 3, "Everything a partner holds"). The ledger records, per release, enough
to recompute every published group's members, and nothing a partner or a thief could use:

- students appear only as **student codes**: a keyed BLAKE2b hash (8 bytes, as a signed
  64-bit integer) of ``student_id`` under a *ledger key* that HKDF derives from the
  district secret with its own label (:data:`LEDGER_LABEL`). Without the secret a code
  cannot be computed, reversed, or joined to a partner's ``student_key``;
- no names, birth dates, values or figures: group members are recomputed from rosters
  (which student counts in which school's figure of which metric) and served sets.

Layout (every file Parquet, written once and never changed)::

    ledger/rosters/<extract_id>/<covered_id>.parquet
        student (Int64 code), unit (school_id, or ALL@<covered_id>), metrics (UInt8: bit i
        set when the student counts in the figure of METRICS[i] at that unit)
    ledger/releases/<partner_id>/<agreement_id>/<as_of>-<digest>/
        release.json     agreement id, version and sha256, partner, as_of, extract_id,
                         covered_id, min_cell_size
        groups.parquet   unit, metric, side (served | comparison), status (published |
                         coded), n: every figure the package published
        served.parquet   student: the agreement's eligible students (the served groups)
        released.parquet student, student_key: whose individual records the package held

``extract_id`` is the sha256 of the input files' sha256 (sorted by table): figures combine
only within one extract. Each file's sha256 is recorded in the audit entry of the release
that wrote it (``ledger`` in ``audit.jsonl``), so an edited, added or removed ledger file
is caught (:func:`load_history` refuses to use it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from datashare._json import loads as json_loads
from datashare.errors import AuditError

LEDGER_DIR = "ledger"
"""The ledger's folder under ``OUT/district/``."""

LEDGER_LABEL = b"datashare/ledger/v1"
"""HKDF salt of the ledger key: its own label, unrelated to any partner's key."""

ROSTER_SCHEMA = {"student": pl.Int64, "unit": pl.String, "metrics": pl.UInt8}
GROUP_SCHEMA = {"unit": pl.String, "metric": pl.String, "side": pl.String, "status": pl.String, "n": pl.Int64}
RELEASED_SCHEMA = {"student": pl.Int64, "student_key": pl.String}
ALL_UNIT = "ALL@"
"""Prefix of the unit of an ``ALL`` row: ``ALL@<covered_id>`` (its schools are in the id)."""

_PARQUET = {"compression": "zstd", "statistics": False}


def ledger_key(secret: bytes) -> bytes:
    """The 32-byte key of the student codes: HKDF-SHA256(secret, salt=LEDGER_LABEL)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=LEDGER_LABEL, info=b"student-code").derive(secret)


def student_codes(ids: pl.Series, key: bytes) -> pl.Series:
    """The ledger code (Int64) of each ``student_id`` in ``ids``, in order.

    One keyed BLAKE2b per distinct id (in Python), then a join, as for ``student_key``. The
    keyed state is made once and copied per id: keying it anew for every student took half
    the time at a million students.
    """
    distinct = ids.cast(pl.String).unique()
    keyed = hashlib.blake2b(key=key, digest_size=8)

    def code(value: str) -> int:
        state = keyed.copy()
        state.update(value.encode("utf-8"))
        return int.from_bytes(state.digest(), "big", signed=True)

    values = [code(v) if v is not None else None for v in distinct.to_list()]
    table = pl.DataFrame({"id": distinct, "code": pl.Series(values, dtype=pl.Int64)})
    return ids.cast(pl.String).to_frame("id").join(table, on="id", how="left", maintain_order="left").get_column("code")


def covered_id(schools: Iterable[str] | None) -> str:
    """``all`` for an agreement covering every school, else a digest of its sorted schools."""
    if schools is None:
        return "all"
    text = "\n".join(sorted(schools))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def extract_id(input_sha256: Mapping[str, str]) -> str:
    """The identity of an extract: sha256 over its tables' names and file sha256, sorted."""
    text = "".join(f"{name} {digest}\n" for name, digest in sorted(input_sha256.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LedgerRelease:
    """One release as the ledger records it (see the module docstring)."""

    partner_id: str
    agreement_id: str
    version: int
    agreement_sha256: str
    as_of: dt.date
    extract_id: str
    covered_id: str
    min_cell_size: int
    groups: pl.DataFrame
    served: pl.Series
    released: pl.DataFrame

    def meta(self) -> dict[str, object]:
        return {
            "agreement": {"id": self.agreement_id, "version": self.version, "sha256": self.agreement_sha256},
            "partner": self.partner_id,
            "as_of": self.as_of.isoformat(),
            "extract_id": self.extract_id,
            "covered_id": self.covered_id,
            "min_cell_size": self.min_cell_size,
        }

    def same_release(self, other: LedgerRelease) -> bool:
        """The same agreement, version, ``as_of`` and inputs: a rerun, not an earlier release."""
        return (self.agreement_id, self.agreement_sha256, self.as_of, self.extract_id) == (
            other.agreement_id,
            other.agreement_sha256,
            other.as_of,
            other.extract_id,
        )


@dataclass(frozen=True)
class History:
    """Every earlier release of the partners of a run, and the rosters of their extracts."""

    releases: tuple[LedgerRelease, ...] = ()
    rosters: Mapping[str, pl.DataFrame] = field(default_factory=dict)

    def of_partner(self, partner_id: str) -> list[LedgerRelease]:
        return [r for r in self.releases if r.partner_id == partner_id]


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, **_PARQUET)


def stage_ledger(
    releases: Sequence[LedgerRelease], rosters: Mapping[tuple[str, str], pl.DataFrame], staging: Path
) -> dict[int, dict[str, Path]]:
    """Write each release's ledger files (and the rosters it needs) under ``staging``.

    Returns, per position in ``releases``, the files as ``relative path -> staged path``
    (relative to ``district/ledger``). Rosters are keyed by (extract_id, covered_id).
    """
    staged: dict[int, dict[str, Path]] = {}
    written_rosters: dict[tuple[str, str], tuple[str, Path]] = {}
    for position, record in enumerate(releases):
        files: dict[str, Path] = {}
        roster_key = (record.extract_id, record.covered_id)
        if roster_key in rosters:
            if roster_key not in written_rosters:
                rel = f"rosters/{record.extract_id}/{record.covered_id}.parquet"
                path = staging / rel
                _write(rosters[roster_key].sort("unit", "student"), path)
                written_rosters[roster_key] = (rel, path)
            rel, path = written_rosters[roster_key]
            files[rel] = path
        meta = json.dumps(record.meta(), sort_keys=True, indent=2) + "\n"
        body = [
            record.groups.sort("unit", "metric", "side"),
            record.served.sort().to_frame("student"),
            record.released.sort("student"),
        ]
        # The folder is named by the digest of its files' bytes (deterministic Parquet), so
        # the same release always lands in the same folder and a different one never does.
        draft = staging / "drafts" / str(position)
        names = ("groups.parquet", "served.parquet", "released.parquet")
        for name, frame in zip(names, body, strict=True):
            _write(frame, draft / name)
        (draft / "release.json").write_text(meta, encoding="utf-8")
        digest = hashlib.sha256()
        for name in (*names, "release.json"):
            digest.update(hashlib.sha256((draft / name).read_bytes()).digest())
        folder = f"releases/{record.partner_id}/{record.agreement_id}/{record.as_of.isoformat()}-{digest.hexdigest()[:12]}"
        (staging / folder).parent.mkdir(parents=True, exist_ok=True)
        draft.rename(staging / folder)
        for name in (*names, "release.json"):
            files[f"{folder}/{name}"] = staging / folder / name
        staged[position] = files
    return staged


def recorded_files(audit_path: Path) -> dict[str, str]:
    """Ledger file -> sha256, as the audit log records them (later entries win)."""
    recorded: dict[str, str] = {}
    if not audit_path.is_file():
        return recorded
    for line in audit_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = json_loads(line)
        except ValueError:
            continue  # the chain check names it
        ledger = entry.get("ledger") if isinstance(entry, dict) else None
        if isinstance(ledger, dict):
            recorded.update({str(k): str(v) for k, v in ledger.items()})
    return recorded


def verify_ledger(district: Path) -> dict[str, str]:
    """Check every ledger file against the audit log; raise :class:`AuditError` naming the
    first file that was edited, added or removed. Returns the recorded files."""
    from datashare.package.audit import verify_audit  # noqa: PLC0415
    from datashare.package.bag import sha256_file  # noqa: PLC0415

    root = district / LEDGER_DIR
    audit_path = district / "audit.jsonl"
    present = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    if not present and not audit_path.exists():
        return {}
    if audit_path.exists():
        verify_audit(audit_path)
    recorded = recorded_files(audit_path)
    for path in present:
        rel = path.relative_to(root).as_posix()
        if rel not in recorded:
            raise AuditError(
                f"{path}: this ledger file is recorded in no audit entry (added by hand?); "
                "the record of what partners hold cannot be trusted until it is removed"
            )
        if sha256_file(path) != recorded[rel]:
            raise AuditError(
                f"{path}: this ledger file differs from the sha256 the audit log recorded "
                "(edited?); restore it from a backup before releasing again"
            )
    missing = sorted(set(recorded) - {p.relative_to(root).as_posix() for p in present})
    if missing:
        raise AuditError(
            f"{root / missing[0]}: the audit log records this ledger file but it is missing; "
            "restore it from a backup before releasing again"
        )
    return recorded


def load_history(district: Path, partner_ids: Iterable[str]) -> History:
    """The earlier releases of ``partner_ids`` and the rosters of their extracts, verified."""
    verify_ledger(district)
    root = district / LEDGER_DIR
    wanted = set(partner_ids)
    releases: list[LedgerRelease] = []
    for partner in sorted(wanted):
        base = root / "releases" / partner
        if not base.is_dir():
            continue
        for meta_path in sorted(base.glob("*/*/release.json")):
            meta = json_loads(meta_path.read_text(encoding="utf-8"))
            folder = meta_path.parent
            releases.append(
                LedgerRelease(
                    partner_id=meta["partner"],
                    agreement_id=meta["agreement"]["id"],
                    version=int(meta["agreement"]["version"]),
                    agreement_sha256=meta["agreement"]["sha256"],
                    as_of=dt.date.fromisoformat(meta["as_of"]),
                    extract_id=meta["extract_id"],
                    covered_id=meta["covered_id"],
                    min_cell_size=int(meta["min_cell_size"]),
                    groups=pl.read_parquet(folder / "groups.parquet"),
                    served=pl.read_parquet(folder / "served.parquet").get_column("student"),
                    released=pl.read_parquet(folder / "released.parquet"),
                )
            )
    rosters: dict[str, pl.DataFrame] = {}
    for extract in sorted({r.extract_id for r in releases}):
        files = sorted((root / "rosters" / extract).glob("*.parquet"))
        if files:
            rosters[extract] = pl.concat([pl.read_parquet(f) for f in files]).unique(maintain_order=True)
    return History(releases=tuple(releases), rosters=rosters)
