"""Read Ed-Fi XML interchanges (Data Standard 5.x) into source frames.

The parser is defusedxml's, so a document type definition or an entity declaration (the
"billion laughs" and external-entity attacks) is refused rather than expanded, and nothing
is fetched from the network. Files are read with ``iterparse`` and each top-level element
is cleared once read, so a large interchange never sits in memory as a tree. A record's
number is its position among the interchange's top-level elements (1 = the first).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import polars as pl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from datashare.edfi.findings import FILE, RECORD, finding
from datashare.edfi.resources import BY_ELEMENT, BY_NAME, Kind
from datashare.extract.report import Finding


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _pattern(path: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in path.split("//")]
    return re.compile("^" + "/(?:.+/)?".join(parts) + "$")


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _flatten(element: Element) -> dict[str, list[str]]:
    """Every text and attribute below ``element`` by its path of local names."""
    out: dict[str, list[str]] = defaultdict(list)

    def walk(node: Element, prefix: str) -> None:
        for name, value in node.attrib.items():
            out[f"{prefix}@{_local(name)}"].append(value)
        for child in node:
            path = prefix + _local(child.tag)
            text = (child.text or "").strip()
            if text:
                out[path].append(text)
            walk(child, path + "/")

    walk(element, "")
    return out


_ROUTES: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {}
"""(kind, flattened path) -> the (field, path priority) pairs it feeds: the patterns are
matched once per distinct path, not once per record."""


def _route(kind: Kind, key: str) -> tuple[tuple[str, int], ...]:
    route = _ROUTES.get((kind.name, key))
    if route is None:
        hits = []
        for field in kind.fields:
            for priority, path in enumerate(field.xml):
                regex = _PATTERNS.setdefault(path, _pattern(path))
                if regex.match(key):
                    hits.append((field.name, priority))
                    break
        route = _ROUTES[(kind.name, key)] = tuple(hits)
    return route


def read_interchange(path: Path) -> tuple[dict[str, pl.DataFrame], list[Finding]]:
    """The records of one interchange file, one frame per kind, and its findings."""
    rows: dict[str, dict[str, list[object]]] = {}
    findings: list[Finding] = []
    depth = 0
    ordinal = 0
    ignored: dict[str, int] = defaultdict(int)
    try:
        for event, element in iterparse(str(path), events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth != 1:
                continue
            ordinal += 1
            kind = BY_ELEMENT.get(_local(element.tag))
            if kind is None:
                ignored[_local(element.tag)] += 1
            else:
                _add(rows, kind, _flatten(element), str(path), ordinal)
            element.clear()
    except (ParseError, DefusedXmlException, OSError, UnicodeDecodeError, LookupError, ValueError) as exc:
        where = f" at line {exc.position[0]}" if isinstance(exc, ParseError) else ""
        reason = "declares a DTD or entities, which are refused" if isinstance(exc, DefusedXmlException) else "is not well-formed XML"
        findings.append(finding(
            "unreadable_file", path.name, f"{path.name} {reason}{where}; {ordinal:,} element(s) before it were read",
            file=path,
        ))
    for name, count in sorted(ignored.items()):
        findings.append(finding(
            "not_imported", name, f"{path.name}: {count:,} {name} element(s) are not used by the extract",
            file=path, count=count, severity="info",
        ))
    frames = {name: _frame(kind_rows, BY_NAME[name]) for name, kind_rows in rows.items()}
    return frames, findings


def _add(rows: dict[str, dict[str, list[object]]], kind: Kind, flat: dict[str, list[str]], file: str, ordinal: int) -> None:
    table = rows.setdefault(kind.name, defaultdict(list))
    found: dict[str, tuple[int, list[str]]] = {}
    for key, values in flat.items():
        for name, priority in _route(kind, key):
            best = found.get(name)
            if best is None or priority < best[0]:
                found[name] = (priority, list(values))
            elif priority == best[0]:
                best[1].extend(values)
    for field in kind.fields:
        values = found.get(field.name, (0, []))[1]
        table[field.name].append(values if field.many else (values[0] if values else None))
    table[FILE].append(file)
    table[RECORD].append(ordinal)


def _frame(columns: dict[str, list[object]], kind: Kind) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {
        f.name: pl.List(pl.String) if f.many else pl.String for f in kind.fields
    }
    schema[FILE] = pl.String
    schema[RECORD] = pl.Int64
    return pl.DataFrame(dict(columns), schema=schema)
