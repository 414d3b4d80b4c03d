"""The school calendar of a synthetic year: its bounds, its school days and its two terms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from datashare.errors import SynthError
from datashare.schoolyear import SchoolYear

SCHOOL_DAYS = 180


@dataclass(frozen=True)
class Calendar:
    """A school year as the contract defines it (July 1 to June 30) and its instructional days."""

    label: str
    first_year: int
    start: np.datetime64
    end: np.datetime64
    days: np.ndarray  # datetime64[D] school days, ascending
    s1_last: int  # index into ``days`` of the last day of term S1

    @property
    def last(self) -> int:
        """Index of the last school day."""
        return len(self.days) - 1


def calendar(school_year: str) -> Calendar:
    """Weekdays from mid-August to late May, minus the usual holidays: 180 school days."""
    try:
        y1 = SchoolYear.parse(school_year).start.year
    except ValueError as exc:
        raise SynthError(str(exc)) from None
    first = dt.date(y1, 8, 13)  # the first weekday on or after August 13
    first = _on_or_after(first, 0) if first.weekday() > 4 else first
    span = np.arange(np.datetime64(first), np.datetime64(f"{y1 + 1}-06-30"))
    weekday = (span.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    holiday = np.isin(span, np.array(_holidays(y1), dtype="datetime64[D]"))
    days = span[(weekday < 5) & ~holiday][:SCHOOL_DAYS]
    s1_last = int(np.searchsorted(days, np.datetime64(f"{y1 + 1}-01-01"))) - 1
    return Calendar(
        label=school_year,
        first_year=y1,
        start=np.datetime64(f"{y1}-07-01"),
        end=np.datetime64(f"{y1 + 1}-06-30"),
        days=days,
        s1_last=s1_last,
    )


def _on_or_after(day: dt.date, weekday: int) -> dt.date:
    return day + dt.timedelta((weekday - day.weekday()) % 7)


def _nth(year: int, month: int, weekday: int, n: int) -> dt.date:
    return _on_or_after(dt.date(year, month, 1), weekday) + dt.timedelta(7 * (n - 1))


def _holidays(y1: int) -> list[dt.date]:
    """Labor Day, Thanksgiving, winter break, MLK Day, Presidents Day, spring break."""
    y2 = y1 + 1
    thanksgiving = _nth(y1, 11, 3, 4)
    spring = _on_or_after(dt.date(y2, 3, 9), 0)
    days = [_nth(y1, 9, 0, 1), _nth(y2, 1, 0, 3), _nth(y2, 2, 0, 3)]
    days += [thanksgiving + dt.timedelta(k) for k in (-1, 0, 1)]
    days += [dt.date(y1, 12, 22) + dt.timedelta(k) for k in range(12)]
    days += [spring + dt.timedelta(k) for k in range(5)]
    return days
