"""The district's tamper-evident audit log: ``district/audit.jsonl`` and ``district/audit.head``.

One JSON object per line (sorted keys, no spaces), one line per package released. Each
entry carries ``seq`` (1, 2, ...) and ``prev``, the sha256 of the previous line's exact
bytes without its newline (64 zeros for the first). Editing a line changes its hash and
breaks the next line's ``prev``; swapping or deleting lines breaks ``seq`` and ``prev``.
Deleting the *last* lines leaves a valid shorter chain, so the head of the chain
(``<seq> <sha256 of the last line>``) is also written to ``audit.head`` and checked. Anyone
able to rewrite both files can forge a consistent history: copy the head hash printed by a
run to a place the log's writers cannot change (a ticket, an email, a second system).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from datashare._json import loads as json_loads
from datashare.errors import AuditError

GENESIS = "0" * 64
"""``prev`` of the first entry."""


@dataclass(frozen=True)
class AuditResult:
    """A verified log: how many entries, and the head of the chain."""

    path: Path
    entries: int
    head: str


def head_path(audit_path: Path) -> Path:
    """Where the anchor of ``audit_path`` lives (``audit.head`` beside it)."""
    return Path(audit_path).with_name(Path(audit_path).stem + ".head")


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def verify_audit(audit_path: Path) -> AuditResult:
    """Check the hash chain and its anchor; raise :class:`AuditError` naming the first bad line."""
    audit_path = Path(audit_path)
    if not audit_path.is_file():
        raise AuditError(f"{audit_path}: audit log not found")
    data = audit_path.read_bytes()
    if data and not data.endswith(b"\n"):
        raise AuditError(f"{audit_path}: the last line is incomplete (no newline)")
    lines = data.split(b"\n")[:-1] if data else []
    prev = GENESIS
    heads = [f"0 {GENESIS}"]  # the anchor each length of the chain would have
    for number, line in enumerate(lines, start=1):
        where = f"{audit_path}: line {number}"
        try:
            entry = json_loads(line)
        except ValueError:
            raise AuditError(f"{where}: not a JSON object") from None
        if not isinstance(entry, dict):
            raise AuditError(f"{where}: not a JSON object")
        if entry.get("seq") != number:
            raise AuditError(
                f"{where}: entry seq {entry.get('seq')} where {number} was expected "
                "(an entry was deleted, inserted or moved)"
            )
        if entry.get("prev") != prev:
            raise AuditError(
                f"{where} (entry {number}): prev does not match the sha256 of line {number - 1}"
                if number > 1
                else f"{where} (entry 1): prev is not the start of a chain (64 zeros)"
            )
        if _canonical(entry) != line:
            raise AuditError(f"{where} (entry {number}): not in canonical form (edited by hand?)")
        prev = _line_hash(line)
        heads.append(f"{number} {prev}")
    anchor = head_path(audit_path)
    expected = f"{len(lines)} {prev}"
    if not anchor.is_file():
        if lines:
            raise AuditError(
                f"{anchor}: missing; without it deleted entries at the end cannot be detected"
            )
    else:
        recorded = anchor.read_text(encoding="utf-8").strip()
        if recorded != expected and recorded in heads:
            # The anchor is an earlier head of this chain: entries were appended after it,
            # by a run stopped between writing its entries and moving the anchor, or by hand.
            kept = int(recorded.split(" ")[0])
            added = f"entry {len(lines)} follows" if len(lines) == kept + 1 else f"entries {kept + 1} to {len(lines)} follow"
            raise AuditError(
                f"{audit_path}: {added} the entry {anchor.name} records "
                f"({kept}): a run was stopped after writing them and before moving the anchor, or they "
                f"were added by hand. Check them against OUT/partners; if they are true, write the "
                f"line '{expected}' to {anchor.name}"
            )
        if recorded != expected:
            raise AuditError(
                f"{audit_path}: the chain ends at entry {len(lines)} but {anchor.name} records "
                f"{recorded.split(' ')[0]} entries and another head hash (the last entries were "
                "deleted or edited)"
            )
    return AuditResult(path=audit_path, entries=len(lines), head=prev)


def _canonical(entry: Mapping[str, object]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def append_entries(audit_path: Path, entries: Iterable[Mapping[str, object]]) -> AuditResult:
    """Append ``entries`` to the log, chaining each to the previous line, and move the anchor.

    The existing log is verified first: nothing is appended to a broken chain. The new lines
    are written with one write and synced; on failure the file is cut back to its old size.
    """
    audit_path = Path(audit_path)
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    if audit_path.exists():
        current = verify_audit(audit_path)
        seq, prev = current.entries, current.head
    else:
        seq, prev = 0, GENESIS
    chunk = bytearray()
    for entry in entries:
        if "seq" in entry or "prev" in entry:
            raise AuditError("an audit entry may not set seq or prev; the log assigns them")
        seq += 1
        line = _canonical({**entry, "seq": seq, "prev": prev})
        chunk += line + b"\n"
        prev = _line_hash(line)
    old_size = audit_path.stat().st_size if audit_path.exists() else 0
    try:
        with audit_path.open("ab") as handle:
            handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        anchor = head_path(audit_path)
        tmp = anchor.with_name(anchor.name + ".tmp")
        tmp.write_text(f"{seq} {prev}\n", encoding="utf-8")
        os.replace(tmp, anchor)
    except BaseException:
        with audit_path.open("ab") as handle:
            handle.truncate(old_size)
        raise
    return AuditResult(path=audit_path, entries=seq, head=prev)
