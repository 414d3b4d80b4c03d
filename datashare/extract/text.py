"""The text rules of id and text columns: NUL bytes or bytes that are not UTF-8
(``invalid_text``), ids with surrounding whitespace (``id_whitespace``), and the one-regex
screen per column that counts them (and an empty id) in a table's own pass.

CSV is read lossily, so bytes that are not UTF-8 arrive as U+FFFD. A read is the
validator's table read (``schema``, ``usable_source``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from datashare.extract.cross import Flag
from datashare.extract.schema import ColumnSpec

EMPTY = r"^\s*$"
"""An id with nothing but whitespace (the ``empty_id`` cell rule), which the screen counts too."""


def text_specs(read: Any) -> list[ColumnSpec]:
    """The id and text columns the file holds as text: those the text rules apply to."""
    return [s for s in read.schema.columns if s.type in ("id", "text") and read.usable_source.get(s.name) == pl.String]


def table_text_flags(read: Any) -> list[Flag]:
    """The text rules of every id and text column the file holds as text."""
    specs = text_specs(read)
    return [flag for spec in specs for flag in text_flags(spec)]


NOT_TEXT = r"[\x00\x{FFFD}]"
"""A NUL byte, or U+FFFD: a byte that is not UTF-8, as the lossy CSV reader gives it."""
ID_WHITESPACE = r"^\s+\S|\S\s+$"
"""Whitespace first or last, and something else (an id of only whitespace is empty)."""


def text_screens(read: Any, vouched: Mapping[str, str] | None = None) -> dict[str, pl.Expr]:
    """Per id or text column the file holds as text: whether a cell breaks any of its text
    rules, as one regex. The rules are told apart (:func:`text_flags`) only in a column
    with a hit: on a clean table each cell is searched once, not once per rule.

    ``vouched`` (:attr:`~.cross.RowRules.vouched`): id column -> the marker of its join with
    the clean ids of students or schools; an id found there is clean text itself, so only
    the other cells are searched (the screen is then a filtered column: aggregate it)."""
    vouched = vouched or {}
    return {
        spec.name: text_screen(spec, pl.col(spec.name).filter(pl.col(vouched[spec.name]).is_null()))
        if spec.name in vouched
        else text_screen(spec)
        for spec in text_specs(read)
    }


def text_screen(spec: ColumnSpec, cells: pl.Expr | None = None) -> pl.Expr:
    """Whether a cell of an id or text column (or of ``cells``, some of its cells) breaks
    one of its :func:`text_flags`, or (an id) is empty: the ``empty_id`` rule, left out of
    :meth:`~.tableread.TableRead.invalid_flag`."""
    pattern = NOT_TEXT + (f"|{ID_WHITESPACE}|{EMPTY}" if spec.type == "id" else "")
    return (pl.col(spec.name) if cells is None else cells).str.contains(pattern).fill_null(False)


def text_flags(spec: ColumnSpec) -> list[Flag]:
    """The text rules of one id or text column."""
    col = pl.col(spec.name)
    flags = [Flag(
        "invalid_text", spec.name, col.str.contains(NOT_TEXT),
        f"column {spec.name} has cells with a NUL byte or bytes that are not UTF-8",
    )]
    if spec.type == "id":
        # Whitespace first or last, and something else (an id of only whitespace is
        # empty_id): one regex, rather than stripping every id and comparing.
        flags.append(Flag(
            "id_whitespace", spec.name, col.str.contains(ID_WHITESPACE),
            f"column {spec.name} has identifiers with leading or trailing whitespace "
            "(000007 and '000007 ' would be two students)",
        ))
    return flags
