"""Individual tables for the consented, eligible students of an agreement.

Each table carries ``student_key``, ``school_id`` and only the fields the agreement's
``individual.fields`` names, checked against the catalog of
:mod:`datashare.agreement.fields` (fail closed: a name outside the catalog, or a direct
identifier, refuses the release). Only the covered schools' rows are kept; tables the
agreement does not name are not produced.

- ``students``: one row per released student per covered school of enrollment;
- ``attendance``: one row per released student per covered school (the derived summary);
- ``discipline``: one row per incident of the school year (the incident id is dropped);
- ``grades``: one row per course grade of the school year.

Rows are sorted by every column in order, starting with ``student_key``, so the order
says nothing about ``student_id`` and two runs give identical files. The tables of every
agreement in a run are built together: one join per table, one sort per table and list of
fields (agreements made from one template share it), then a slice per agreement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from datashare.agreement.fields import field_info, is_direct_identifier
from datashare.agreement.model import Agreement
from datashare.errors import ReleaseError
from datashare.release.types import AGREEMENT_INDEX, split_by_agreement

INDIVIDUAL_TABLES: tuple[str, ...] = ("students", "attendance", "discipline", "grades")


def check_fields(agreement: Agreement) -> dict[str, tuple[str, ...]]:
    """The agreement's individual tables and fields, refused unless all are releasable."""
    if agreement.individual is None:
        return {}
    tables = agreement.individual.fields.tables()
    for table, fields in tables.items():
        for name in fields:
            if is_direct_identifier(name) or field_info(table, name) is None:
                raise ReleaseError(
                    f"agreement {agreement.id}: individual.fields.{table} names {name!r}, "
                    "which is not a releasable field of that table; remove it from the agreement"
                )
    return tables


SOURCE_TABLES: tuple[str, ...] = ("enrollments", *INDIVIDUAL_TABLES)
"""The frames :func:`individual_tables` reads, keyed by ``student_id``."""


def sources_needed(agreements: Sequence[Agreement]) -> list[str]:
    """The :data:`SOURCE_TABLES` that the agreements' individual tables are made from."""
    named = {table for agreement in agreements for table in check_fields(agreement)}
    return [name for name in SOURCE_TABLES if name in named or (name == "enrollments" and "students" in named)]


def individual_tables(
    agreements: Sequence[Agreement],
    keys: pl.DataFrame,
    sources: Mapping[str, pl.DataFrame],
) -> dict[int, dict[str, pl.DataFrame]]:
    """Every agreement's individual tables, projected to ``student_key``, ``school_id`` and
    the fields it lists, in one join and one sort per table and field list.

    ``keys``: ``agreement_index`` (position in ``agreements``), ``student_id`` and
    ``student_key`` of the released students; ``sources``: the frames of
    :func:`sources_needed`, already restricted to the covered schools and the school
    year: ``enrollments`` (school_id, student_id), ``students``, ``attendance`` (the
    derived summaries), ``discipline`` and ``grades``. Returns position -> table -> rows;
    an agreement gets every table it names, empty when it released nobody.
    """
    out: dict[int, dict[str, pl.DataFrame]] = {}
    named = {position: check_fields(agreement) for position, agreement in enumerate(agreements)}
    for table in INDIVIDUAL_TABLES:
        groups: dict[tuple[str, ...], list[int]] = {}
        for position, tables in named.items():
            if table in tables:
                groups.setdefault(tuple(dict.fromkeys(tables[table])), []).append(position)
        if not groups:
            continue
        rows = sources[table].lazy()
        if table == "students":
            rows = sources["enrollments"].lazy().select("school_id", "student_id").unique().join(
                rows, on="student_id", how="inner"
            )
        names = set(rows.collect_schema().names())
        missing = [name for fields in groups for name in fields if name not in names]
        if missing:
            raise ReleaseError(f"the {table} table has no column {missing[0]!r} to release")
        keyed = keys.lazy().join(rows, on="student_id", how="inner")
        for fields, positions in groups.items():
            columns = ["student_key", "school_id", *fields]
            chosen = keyed.filter(pl.col(AGREEMENT_INDEX).is_in(positions)) if len(groups) > 1 else keyed
            frame = chosen.select(AGREEMENT_INDEX, *columns).sort(AGREEMENT_INDEX, *columns, nulls_last=True).collect()
            parts = split_by_agreement(frame)
            for position in positions:
                out.setdefault(position, {})[table] = parts.get(position, frame.clear().drop(AGREEMENT_INDEX))
    return out
