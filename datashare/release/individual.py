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
says nothing about ``student_id`` and two runs give identical files.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from datashare.agreement.fields import field_info, is_direct_identifier
from datashare.agreement.model import Agreement
from datashare.errors import ReleaseError

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


def individual_tables(
    agreement: Agreement,
    keys: pl.DataFrame,
    sources: Mapping[str, pl.DataFrame],
) -> dict[str, pl.DataFrame]:
    """Project each named table to ``student_key``, ``school_id`` and the listed fields.

    ``keys`` maps the released students' ``student_id`` to their ``student_key`` (only
    released students are in it); ``sources`` holds, already restricted to the covered
    schools and the school year (and possibly to the released students), ``enrollments`` (distinct school_id, student_id),
    ``students``, ``attendance`` (the derived summaries), ``discipline`` and ``grades``.
    """
    out: dict[str, pl.DataFrame] = {}
    for table, listed in check_fields(agreement).items():
        fields = list(dict.fromkeys(listed))
        rows = sources[table]
        if table == "students":
            rows = sources["enrollments"].select("school_id", "student_id").unique().join(
                rows, on="student_id", how="inner"
            )
        missing = [name for name in fields if name not in rows.columns]
        if missing:
            raise ReleaseError(f"the {table} table has no column {missing[0]!r} to release")
        columns = ["student_key", "school_id", *fields]
        out[table] = (
            rows.lazy()
            .join(keys.lazy(), on="student_id", how="inner")
            .select(columns)
            .sort(columns, nulls_last=True)
            .collect()
        )
    return out
