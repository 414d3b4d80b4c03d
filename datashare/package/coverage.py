"""Does the audit log cover every package under ``OUT/partners/``?

The chain check (:func:`~datashare.package.audit.verify_audit`) proves the log was not
edited; it cannot see a package that reached ``partners/`` without an entry (a crash
between the move and the append, or a folder copied there by hand). Here every entry under
``OUT/partners/<partner>/`` is matched against the *latest* audit entry for its path: a
package folder is covered when that entry lists the same sha256 for its ``release.json`` and
``tagmanifest-sha256.txt`` (the tag manifest pins the payload manifest, hence every data
file), an encrypted ``<agreement>.tar.age`` when that entry lists its sha256. Anything else
under a partner's folder is reported too: only packages belong there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datashare._json import loads as json_loads
from datashare.errors import AuditError
from datashare.package.bag import RELEASE_JSON, TAGMANIFEST, sha256_file

ENCRYPTED_SUFFIX = ".tar.age"


@dataclass(frozen=True)
class Uncovered:
    """One path under ``OUT/partners/`` the log does not account for, and why."""

    path: str
    reason: str


def out_of(audit_path: Path) -> Path | None:
    """``OUT`` for ``OUT/district/audit.jsonl``; ``None`` when the log is not in a ``district`` folder."""
    audit_path = Path(audit_path)
    return audit_path.parent.parent if audit_path.parent.name == "district" else None


def uncovered_packages(audit_path: Path, out: Path | None = None) -> list[Uncovered]:
    """Every path under ``OUT/partners/`` that the (already verified) log does not cover."""
    audit_path = Path(audit_path)
    out = out if out is not None else out_of(audit_path)
    if out is None:
        raise AuditError(
            f"{audit_path}: not in an OUT/district/ folder, so the packages it should cover cannot be found"
        )
    partners = out / "partners"
    found: list[Uncovered] = []
    if not partners.is_dir():
        return found
    latest: dict[str, dict[str, object]] = {}
    data = audit_path.read_bytes() if audit_path.is_file() else b""
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            entry = json_loads(line)
            if "package" in entry:  # an entry without one covers nothing
                latest[str(entry["package"])] = dict(entry.get("outputs") or {})
        except (ValueError, TypeError, AttributeError):
            raise AuditError(f"{audit_path}: line {number}: not an entry with a package and its outputs") from None
    for partner in sorted(partners.iterdir()):
        rel_partner = partner.relative_to(out).as_posix()
        if partner.is_symlink() or not partner.is_dir():
            found.append(Uncovered(rel_partner, "not a partner folder"))
            continue
        for item in sorted(partner.iterdir()):
            found += _check(item, item.relative_to(out).as_posix(), latest)
    return found


def _check(item: Path, rel: str, latest: dict[str, dict[str, object]]) -> list[Uncovered]:
    if item.is_symlink():
        return [Uncovered(rel, "a link, not a package")]
    if item.is_dir():
        outputs = latest.get(rel)
        if outputs is None:
            return [Uncovered(rel, "no audit entry for this package")]
        for name in (RELEASE_JSON, TAGMANIFEST):
            if not (item / name).is_file():
                return [Uncovered(rel, f"no {name}: not a whole package")]
            if outputs.get(name) != sha256_file(item / name):
                return [Uncovered(rel, f"its {name} is not the one the latest audit entry for it records")]
        return []
    if item.is_file() and item.name.endswith(ENCRYPTED_SUFFIX):
        outputs = latest.get(rel[: -len(ENCRYPTED_SUFFIX)])
        if outputs is None:
            return [Uncovered(rel, "no audit entry for this encrypted package")]
        if outputs.get(item.name) != sha256_file(item):
            return [Uncovered(rel, "not the encrypted package the latest audit entry for it records")]
        return []
    return [Uncovered(rel, "not a package")]


def verify_coverage(audit_path: Path) -> int:
    """Raise :class:`AuditError` naming every uncovered package; return how many packages are covered."""
    audit_path = Path(audit_path)
    missing = uncovered_packages(audit_path)
    if missing:
        shown = "; ".join(f"{u.path} ({u.reason})" for u in missing[:10])
        more = f"; and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise AuditError(
            f"{audit_path}: {len(missing)} path(s) under partners/ that the audit log does not cover: "
            f"{shown}{more}. A run interrupted after moving its packages records them when it is run "
            "again; anything else was put there by hand"
        )
    out = out_of(audit_path)
    partners = out / "partners" if out is not None else None
    if partners is None or not partners.is_dir():
        return 0
    return sum(1 for p in partners.glob("*/*") if p.is_dir())
