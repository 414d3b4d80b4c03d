"""The synthetic district: a complete, valid SIS extract (CONTRACT section 1) from a seed.

Districts try datashare on it before touching real records, and the test suite uses it as
a realistic extract: schools of every level including one too small to publish, attendance
near 93% with a fifth of students chronically absent, discipline concentrated in a few
students, failing grades, mid-year transfers, students turning 18, partners whose contact
counts sit right at the nine-contact rule, and consents granted and revoked through the
year.

The same arguments always give byte-identical files. Students are drawn once as numpy
arrays; the big tables are drawn and written chunk by chunk (each chunk has its own random
stream), so a million students never sit in memory as rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from datashare.errors import SynthError
from datashare.synth import _activity, _partners
from datashare.synth._calendar import calendar
from datashare.synth._population import make_enrollments, make_schools, make_students
from datashare.synth._write import TABLES, ExtractWriter

__all__ = ["CHUNK_STUDENTS", "DISTRICT_ID", "TABLES", "SynthSummary", "synthesize"]

CHUNK_STUDENTS = 25_000
DISTRICT_ID = "apple-tree"
# Independent random streams of one chunk.
_ATTENDANCE, _DISCIPLINE, _GRADES, _PARTNERS = range(4)


@dataclass(frozen=True)
class SynthSummary:
    """What was written: one file per table, its row count, and the district's ids."""

    out_dir: Path
    format: str
    school_year: str
    paths: dict[str, Path]
    rows: dict[str, int]
    school_ids: tuple[str, ...]
    partner_ids: tuple[str, ...]

    def __str__(self) -> str:
        lines = [
            f"{self.school_year} extract ({self.format}) in {self.out_dir}",
            f"schools:  {', '.join(self.school_ids)}",
            f"partners: {', '.join(self.partner_ids) or '(none)'}",
        ]
        lines += [f"  {table:<17}{rows:>14,} rows" for table, rows in self.rows.items()]
        return "\n".join(lines)


def synthesize(
    out_dir: Path,
    *,
    students: int = 2000,
    schools: int = 8,
    partners: int = 4,
    seed: int = 7,
    school_year: str = "2025-2026",
    format: Literal["csv", "parquet"] = "csv",  # noqa: A002 - the CLI option's name
    attendance: Literal["daily", "events"] = "daily",
    progress: Callable[[str], None] | None = None,
) -> SynthSummary:
    """Write the eight extract tables of a synthetic district into ``out_dir``.

    ``attendance="daily"`` writes one attendance row per student per school day;
    ``"events"`` writes the calendar form: a ``calendar`` table (every school's instructional
    days) and attendance rows only for the days a student was not simply present. The same
    seed draws the same district either way, so both forms release identical data files.

    ``out_dir`` is created if absent; if it already holds an extract file the call raises
    :class:`~datashare.errors.SynthOutputExists` and writes nothing.
    """
    _check(students, schools, partners, seed, format)
    if attendance not in ("daily", "events"):
        raise SynthError(f"attendance: expected daily or events, got {attendance!r}")
    events = attendance == "events"
    say = progress or (lambda _message: None)
    out_dir = Path(out_dir)
    cal = calendar(school_year)
    rng = np.random.default_rng(seed)
    school_table = make_schools(schools)
    people = make_students(students, school_table, cal, rng)
    enr = make_enrollments(people, school_table, cal, rng)
    partner_list = _partners.make_partners(partners, school_table, rng)

    writer = ExtractWriter(out_dir, format, (*TABLES, "calendar") if events else TABLES)
    try:
        writer.write(
            "schools",
            {
                "school_id": school_table.ids,
                "school_name": school_table.names,
                "district_id": [DISTRICT_ID] * schools,
            },
        )
        if events:
            writer.write("calendar", _activity.calendar_rows(school_table, cal))
        next_incident, next_consent = 1, 1
        for chunk, first in enumerate(range(0, students, CHUNK_STUDENTS)):
            end = min(first + CHUNK_STUDENTS, students)
            rows = enr.rows(first, end)
            streams = [np.random.default_rng([seed, chunk, s]) for s in range(4)]
            args = (enr, rows, people, school_table, cal)
            writer.write("students", {k: v[first:end] for k, v in people.columns.items()})
            writer.write("enrollments", _activity.enrollment_rows(*args))
            days = _activity.attendance(*args, streams[_ATTENDANCE])
            writer.write("attendance", _activity.exceptions_only(days) if events else days)
            incidents, used = _activity.discipline(*args, streams[_DISCIPLINE], next_incident)
            writer.write("discipline", incidents)
            next_incident += used
            writer.write("grades", _activity.grades(*args, streams[_GRADES]))
            stream = streams[_PARTNERS]
            for partner in partner_list:
                served = _partners.served_spells(partner, enr, rows, people, school_table, stream)
                writer.write(
                    "service_contacts",
                    _partners.contacts(partner, served, enr, people, school_table, cal, stream),
                )
                given = _partners.consents(
                    partner, served, enr, rows, people, cal, stream, next_consent
                )
                writer.write("consents", given)
                next_consent += len(given["consent_id"])
            pa.default_memory_pool().release_unused()  # keep the footprint to one chunk
            say(f"students {end:,}/{students:,}: {writer.rows['attendance']:,} attendance rows")
        paths = writer.close()
    except BaseException:
        writer.abort()
        raise
    say(f"wrote {len(writer.tables)} tables to {out_dir}")
    return SynthSummary(
        out_dir=out_dir,
        format=format,
        school_year=school_year,
        paths=paths,
        rows=dict(writer.rows),
        school_ids=tuple(school_table.ids.to_pylist()),
        partner_ids=tuple(p.id for p in partner_list),
    )


def _check(students: int, schools: int, partners: int, seed: int, fmt: str) -> None:
    """Refuse arguments that cannot make a district, naming the argument."""
    if students < 1:
        raise SynthError(f"students: expected at least 1, got {students}")
    if not 1 <= schools <= students:
        raise SynthError(f"schools: expected between 1 and the number of students, got {schools}")
    if partners < 0:
        raise SynthError(f"partners: expected 0 or more, got {partners}")
    if seed < 0:
        raise SynthError(f"seed: expected a non-negative integer, got {seed}")
    if fmt not in ("csv", "parquet"):
        raise SynthError(f"format: expected csv or parquet, got {fmt!r}")
