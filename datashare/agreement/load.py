"""Read agreement YAML files: line numbers, ``extends``, the merge, and clear errors.

Loading an agreement file:

0. refuse, before anything is built, a file larger than :data:`MAX_AGREEMENT_BYTES`, and
   any anchor, alias (``&x``, ``*x``), merge key (``<<``) or explicit tag (``!!python/...``,
   ``!!str``): an agreement is plain keys and values, and aliases let a few hundred bytes
   expand into gigabytes (the "billion laughs");
1. parse it with ruamel.yaml's round-trip loader, which keeps the line of every key and
   refuses a key given twice in one mapping (most YAML loaders keep the later one silently,
   which in an agreement could widen a release);
2. resolve ``extends`` (below), merging the chain from the oldest template to the file;
3. validate the merged data against :class:`~datashare.agreement.model.Agreement`, turning
   each pydantic error into a message with the file, the YAML path and the line;
4. lint the result (:mod:`datashare.agreement.lint`); findings are returned, not raised, so
   that a reviewer still gets a document for a broken agreement.

``extends`` resolution. A value with a ``/`` or ending in ``.yaml``/``.yml`` is a path,
read relative to the folder of the file that names it. A bare name ``NAME`` is looked up,
in order, as ``templates/NAME.yaml`` beside that file, ``../templates/NAME.yaml`` (the
``templates`` folder that is a sibling of the file's folder: this is how
``agreements/examples/*.yaml`` find ``agreements/templates/``, both in a checkout and in an
installed wheel, where both folders sit under ``datashare/_data/agreements/``), then among
the templates shipped with datashare. A template may itself extend another; a cycle is
refused, naming the files.

The merge. Mappings merge key by key, recursively, and the extending file wins; a list or
a scalar replaces the template's value whole (so a template's field list is never partly
kept); the ``extends`` key itself is not inherited. The resolved agreement has
``extends`` unset: it is self-contained, and :attr:`LoadedAgreement.sources` records the
chain.

The hash. :attr:`LoadedAgreement.sha256` is the SHA-256 of :func:`canonical_json`: the
resolved model dumped in JSON mode (defaults included, dates as ``YYYY-MM-DD``) with sorted
keys, no whitespace, UTF-8. Two files that resolve to the same agreement have the same hash,
however they are spelled or split into templates.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from datashare import _resources
from datashare.agreement.lint import LintFinding, lint_loaded
from datashare.agreement.model import Agreement
from datashare.errors import AgreementError, AgreementRefused

Location = tuple[Path, int]
"""A file and a 1-based line."""

_MAX_CHAIN = 16

MAX_AGREEMENT_BYTES = 64 * 1024
"""The largest agreement or template file read (a real one is about 2 KB; the YAML parser
needs about a second per 25 KB of keys, so the limit also bounds the time to refuse one)."""

_MAX_PROBLEMS = 20
"""Validation problems listed in one message; the rest are counted."""


@dataclass(frozen=True)
class LoadedAgreement:
    """An agreement as loaded: the resolved model, where it came from, and its lint findings.

    ``sources`` lists the files of the extends chain, the loaded file first. ``locations``
    maps each YAML path of the resolved data (``aggregate.min_cell_size``,
    ``individual.fields.students[1]``) to the file and line that set it. ``template`` is
    true for a file under a ``templates/`` folder or without a ``partner``: such a file is
    linted as a template (parties and dates may be absent).
    """

    agreement: Agreement
    path: Path
    sha256: str
    sources: tuple[Path, ...]
    findings: tuple[LintFinding, ...] = ()
    locations: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)
    template: bool = False

    @property
    def errors(self) -> list[LintFinding]:
        """The lint findings of severity ``error``."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[LintFinding]:
        """The lint findings of severity ``warning``."""
        return [f for f in self.findings if f.severity == "warning"]

    def line_of(self, path: str) -> int | None:
        """The line that set a YAML path, or ``None`` when the key is absent."""
        location = self.locations.get(path)
        return location[1] if location else None

    def require_releasable(self) -> None:
        """Raise :class:`AgreementRefused` when lint found errors (or it is a template)."""
        problems = [f"{f.path} (line {f.line}): {f.message}" for f in self.errors]
        if self.template:
            problems.insert(0, "a template cannot be released; write an agreement that extends it")
        if problems:
            raise AgreementRefused(f"{self.path}: agreement refused:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- YAML


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _read_yaml(path: Path) -> CommentedMap:
    try:
        if path.is_dir():
            raise AgreementError(f"{path}: is a folder; give an agreement file (*.yaml)")
        if not path.is_file():
            raise FileNotFoundError(path)
        size = path.stat().st_size
        if size > MAX_AGREEMENT_BYTES:
            raise AgreementError(
                f"{path}: the agreement file holds {size:,} bytes, more than the limit of "
                f"{MAX_AGREEMENT_BYTES:,}; an agreement is a short YAML file"
            )
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise AgreementError(f"{path}: agreement file not found") from None
    except UnicodeDecodeError:
        raise AgreementError(f"{path}: the agreement file is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise AgreementError(f"{path}: cannot read the agreement file ({exc.strerror or exc.__class__.__name__})") from None
    return _parse_yaml(str(path), text)


MAX_NESTING = 32
"""Deepest nesting of ``[`` and ``{`` read; an agreement needs three or four levels, and the
YAML scanner slows quadratically on thousands of unclosed brackets."""


def _refuse_deep_nesting(path: str, text: str) -> None:
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if match[0] in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            line = text.count("\n", 0, match.start()) + 1
            raise AgreementError(
                f"{path}, line {line}: brackets nested more than {MAX_NESTING} deep; an agreement "
                "is a few levels of keys and lists (is a closing ] or } missing?)"
            )


_DATE = re.compile(
    r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:$|(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?$)"
)
"""A plain scalar YAML reads as a date (or timestamp): checked here, with its line, because
the YAML library fails on ``2026-02-30`` with a bare ``ValueError``."""


def _refuse_constructs(path: str, text: str) -> None:
    """Refuse anchors, aliases, merge keys and explicit tags, from the parser's events alone
    (nothing is constructed, so an alias bomb costs no memory)."""
    yaml = _yaml()
    for event in yaml.parse(text):
        mark = event.start_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else path
        kind = type(event).__name__
        if kind == "AliasEvent" or getattr(event, "anchor", None) is not None:
            raise AgreementError(
                f"{where}: YAML anchors and aliases (&name, *name) are not allowed in an agreement; "
                "write each value out in full (a template is shared with extends:)"
            )
        if getattr(event, "tag", None) is not None and kind in ("ScalarEvent", "MappingStartEvent", "SequenceStartEvent"):
            raise AgreementError(
                f"{where}: explicit YAML tags (such as !!python/... or !!str) are not allowed in an "
                "agreement; write plain values (quote a value to keep it text)"
            )
        if kind == "ScalarEvent" and event.style is None and (day := _DATE.match(event.value)):
            try:
                dt.date(int(day[1]), int(day[2]), int(day[3]))
            except ValueError:
                raise AgreementError(
                    f"{where}: {event.value!r} is not a calendar date; expected YYYY-MM-DD"
                ) from None
        if kind == "ScalarEvent" and event.value == "<<" and event.style is None:
            raise AgreementError(
                f"{where}: YAML merge keys (<<) are not allowed in an agreement; write the keys out "
                "(a template is shared with extends:)"
            )


@functools.lru_cache(maxsize=256)
def _parse_yaml(path: str, text: str) -> CommentedMap:
    """Parse one file's text, cached by path and content: a run of 200 agreements made from
    one template parses the template once. The result is shared: read it, never change it."""
    try:
        _refuse_deep_nesting(path, text)
        _refuse_constructs(path, text)
        data = _yaml().load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = re.search(r'duplicate key "(.*?)"', exc.problem or "")
        name = f" {key[1]!r}" if key else ""
        raise AgreementError(
            f"{path}, line {mark.line + 1}: duplicate key{name} in one mapping; "
            "give each key once (a repeated key could silently change what is released)"
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise AgreementError(f"{path}{where}: YAML syntax error: {problem}") from None
    except YAMLError as exc:
        raise AgreementError(f"{path}: YAML syntax error: {exc}") from None
    except RecursionError:
        raise AgreementError(f"{path}: YAML nested too deeply; an agreement is a few levels of keys") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value the YAML library cannot build
        raise AgreementError(f"{path}: a value cannot be read ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, CommentedMap):
        raise AgreementError(f"{path}: expected a mapping of agreement keys at the top of the file")
    return data


def _plain(value: Any) -> Any:
    """ruamel's round-trip types as plain Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, dt.date):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _lines(node: Any, prefix: str, out: dict[str, int]) -> None:
    """Record the 1-based line of every YAML path under ``node``."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out[path] = node.lc.key(key)[0] + 1
            _lines(value, path, out)
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            path = f"{prefix}[{index}]"
            out[path] = node.lc.item(index)[0] + 1
            _lines(value, path, out)


def yaml_path(parts: Iterable[str | int]) -> str:
    """``("individual", "fields", "students", 2)`` -> ``individual.fields.students[2]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


# --------------------------------------------------------------------------- extends


def _is_path(reference: str) -> bool:
    return "/" in reference or "\\" in reference or reference.endswith((".yaml", ".yml"))


def _is_absolute(reference: str) -> bool:
    """``/x``, ``\\x``, ``~/x``, ``C:x``: anything not relative to the naming file's folder."""
    return (
        reference.startswith(("/", "\\", "~"))
        or PureWindowsPath(reference).drive != ""
        or PurePosixPath(reference).is_absolute()
    )


def resolve_extends(reference: str, naming_file: Path, *, template_dirs: Iterable[Path] = ()) -> Path:
    """The template file an ``extends`` value names (see the module docstring for the order).

    ``template_dirs`` are searched for a bare name after the file's own ``templates/``
    folders and before the shipped templates.
    """
    folder = naming_file.parent
    if "\0" in reference:  # no file name holds one; the OS refuses it with a ValueError
        raise AgreementError(f"{naming_file}: extends: the value holds a NUL character; give a template name or a relative path")
    if _is_absolute(reference):
        raise AgreementError(
            f"{naming_file}: extends: {reference!r} is an absolute path; give a template name or a "
            "path relative to this file's folder"
        )
    if _is_path(reference):
        candidate = (folder / reference).resolve()
        if not candidate.is_file():
            raise AgreementError(f"{naming_file}: extends: template file {reference!r} not found (looked for {candidate})")
        return candidate
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", reference):
        raise AgreementError(
            f"{naming_file}: extends: {reference!r} is neither a template name ([a-z0-9-]) nor a relative path"
        )
    candidates = [folder / "templates", folder.parent / "templates", *map(Path, template_dirs)]
    try:
        candidates.append(_resources.templates_dir())
    except FileNotFoundError:
        pass
    for candidate_dir in candidates:
        candidate = candidate_dir / f"{reference}.yaml"
        if candidate.is_file():
            return candidate.resolve()
    looked = ", ".join(str(d) for d in candidates)
    raise AgreementError(f"{naming_file}: extends: no template named {reference!r} (looked in {looked})")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge two mappings: recursively key by key, ``override`` wins; lists and scalars replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _chain(path: Path, extra_dirs: tuple[Path, ...] = ()) -> list[tuple[Path, CommentedMap]]:
    """The file and each template it extends, the file first."""
    chain: list[tuple[Path, CommentedMap]] = []
    current = path.resolve()
    while True:
        seen = [p for p, _ in chain]
        if current in seen:
            names = " -> ".join(str(p) for p in [*seen, current])
            raise AgreementError(f"{path}: extends forms a cycle: {names}; a template cannot extend itself")
        if len(chain) >= _MAX_CHAIN:
            raise AgreementError(f"{path}: extends chain longer than {_MAX_CHAIN} files")
        data = _read_yaml(current)
        chain.append((current, data))
        reference = data.get("extends")
        if reference is None:
            return chain
        if not isinstance(reference, str):
            line = data.lc.key("extends")[0] + 1
            raise AgreementError(f"{current}, line {line}: extends: expected a template name or a relative path")
        current = resolve_extends(reference, current, template_dirs=extra_dirs)


# --------------------------------------------------------------------------- validation


def _model_at(parts: list[str | int]) -> type[BaseModel] | None:
    """The pydantic model that describes the mapping at a YAML path, if any."""
    model: type[BaseModel] | None = Agreement
    for part in parts:
        if model is None or isinstance(part, int) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = None
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
    return model


def _error_parts(loc: tuple, data: Any, missing: bool) -> list[str | int]:
    """Keep the parts of a pydantic location that exist in the data (drop union tags)."""
    parts: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, Mapping) and part in node:
            parts.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parts.append(part)
            node = node[part]
        elif missing and index == len(loc) - 1 and isinstance(part, str):
            parts.append(part)
    return parts


def _describe(error: dict, parts: list[str | int]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(parts[:-1])
        allowed = f"; expected one of: {', '.join(parent.model_fields)}" if parent else ""
        return f"unknown key {parts[-1]!r}{allowed}"
    if kind == "missing":
        return f"missing required key {parts[-1]!r}" if parts else "missing required key"
    if kind == "too_short":
        return "list at least one entry, or remove the key"
    if kind == "string_pattern_mismatch":
        return "expected lowercase letters, digits and inner hyphens only ([a-z0-9-])"
    message = error["msg"]
    return message[0].lower() + message[1:] if message else kind


def _validation_error(
    exc: ValidationError, data: dict, locations: Mapping[str, Location], path: Path
) -> AgreementError:
    seen: set[str] = set()
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        parts = _error_parts(error["loc"], data, error["type"] == "missing")
        key_path = yaml_path(parts)
        where = locations.get(key_path)
        probe = list(parts)
        while where is None and probe:
            probe.pop()
            where = locations.get(yaml_path(probe))
        text = f"{key_path or '(top level)'}"
        if where:
            text += f" ({where[0].name}, line {where[1]})"
        text += f": {_describe(error, parts)}"
        if text not in seen:
            seen.add(text)
            problems.append(text)
    if len(problems) > _MAX_PROBLEMS:
        problems = [*problems[:_MAX_PROBLEMS], f"... and {len(problems) - _MAX_PROBLEMS} more problem(s)"]
    return AgreementError(f"{path}: invalid agreement:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- public


def canonical_json(agreement: Agreement) -> bytes:
    """The resolved agreement as canonical JSON bytes (sorted keys, compact, UTF-8)."""
    data = agreement.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def agreement_sha256(agreement: Agreement) -> str:
    """Hex SHA-256 of :func:`canonical_json`: the identity of what was agreed."""
    return hashlib.sha256(canonical_json(agreement)).hexdigest()


def _is_template(path: Path, agreement: Agreement) -> bool:
    return path.parent.name == "templates" or agreement.partner is None


def load_agreement(path: str | Path, *, template_dirs: Iterable[str | Path] = ()) -> LoadedAgreement:
    """Load, resolve, validate and lint one agreement (or template) file.

    ``template_dirs`` are extra folders searched for a bare ``extends`` name after the
    file's own ``templates/`` folders and before the shipped templates.
    Raises :class:`AgreementError` when the file cannot be read, parsed, resolved or
    validated; lint findings are returned in :attr:`LoadedAgreement.findings`.
    """
    path = Path(path)
    extra_dirs = tuple(Path(d) for d in template_dirs)
    chain = _chain(path, extra_dirs)
    merged: dict[str, Any] = {}
    for _, data in reversed(chain):
        plain = _plain(data)
        plain.pop("extends", None)
        merged = deep_merge(merged, plain)
    per_file = []
    for source, data in chain:
        lines: dict[str, int] = {}
        _lines(data, "", lines)
        per_file.append((source, lines))
    locations: dict[str, Location] = {}
    _locate(merged, "", per_file, locations)
    try:
        agreement = Agreement.model_validate(merged)
    except ValidationError as exc:
        raise _validation_error(exc, merged, locations, path) from None
    loaded = LoadedAgreement(
        agreement=agreement,
        path=path,
        sha256=agreement_sha256(agreement),
        sources=tuple(source for source, _ in chain),
        locations=locations,
        template=_is_template(path, agreement),
    )
    return replace(loaded, findings=tuple(lint_loaded(loaded)))


def _locate(node: Any, prefix: str, per_file: list[tuple[Path, dict[str, int]]], out: dict[str, Location]) -> None:
    """For each path of the merged data, the first file in the chain (child first) that sets it."""
    if prefix:
        for source, lines in per_file:
            if prefix in lines:
                out[prefix] = (source, lines[prefix])
                break
    if isinstance(node, Mapping):
        for key, value in node.items():
            _locate(value, f"{prefix}.{key}" if prefix else str(key), per_file, out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _locate(value, f"{prefix}[{index}]", per_file, out)


def load_agreements(paths: Iterable[str | Path], *, template_dirs: Iterable[str | Path] = ()) -> list[LoadedAgreement]:
    """Load many agreements; a folder stands for every ``*.yaml`` directly in it, sorted.

    Sub-folders (``templates/`` among them) are not searched; a folder without any
    ``*.yaml`` is an error naming it. Two files with the same agreement id are an error
    naming both.
    """
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found = sorted(p for p in entry.glob("*.yaml") if p.is_file())
            if not found:
                raise AgreementError(
                    f"{entry}: no agreement file (*.yaml) in this folder; sub-folders such as "
                    "templates/ are not searched. Give an agreement file or a folder that holds them"
                )
            files.extend(found)
        else:
            files.append(entry)
    template_dirs = tuple(template_dirs)
    loaded = [load_agreement(p, template_dirs=template_dirs) for p in files]
    by_id: dict[str, Path] = {}
    for item in loaded:
        agreement_id = item.agreement.id
        if agreement_id is None:
            continue
        if agreement_id in by_id:
            raise AgreementError(
                f"agreement id {agreement_id!r} appears in two files: {by_id[agreement_id]} and {item.path}; "
                "each agreement needs its own id"
            )
        by_id[agreement_id] = item.path
    return loaded


def dump_agreement(agreement: Agreement) -> str:
    """The agreement as YAML (defaults included) that loads back to an equal model."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, str) and not all(c.isprintable() for c in value):
            return DoubleQuotedScalarString(value)  # line breaks and controls as escapes
        return value

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump(plain(agreement.model_dump(mode="python")), stream)
    return stream.getvalue()


__all__ = [
    "LoadedAgreement",
    "agreement_sha256",
    "canonical_json",
    "deep_merge",
    "dump_agreement",
    "load_agreement",
    "load_agreements",
    "resolve_extends",
    "yaml_path",
]
