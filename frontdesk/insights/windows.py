"""Reporting windows: consecutive practice-local days, weeks or months, as UTC bounds.

A manager reads "Tuesday" or "March" in the practice's zone, while every stored instant is UTC.
A window turns its local buckets into UTC boundaries once, so that the database can group
rows with a plain `CASE` on indexed columns (the same SQL on SQLite and PostgreSQL) and a
daylight-saving change still lands on local midnight.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, and_, case, literal

from frontdesk.scheduling.localtime import local_day_span


class Period(enum.StrEnum):
    """How wide one bucket is."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# How many buckets the page shows for each period when no range is asked for.
DEFAULT_BUCKETS = {Period.DAY: 30, Period.WEEK: 12, Period.MONTH: 12}
MAX_BUCKETS = 400


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _bucket_start(day: date, period: Period) -> date:
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())  # weeks start on Monday
    return _month_start(day)


def _next_start(day: date, period: Period) -> date:
    if period is Period.DAY:
        return day + timedelta(days=1)
    if period is Period.WEEK:
        return day + timedelta(days=7)
    return _add_months(day, 1)


@dataclass(frozen=True)
class Window:
    """Consecutive buckets: `starts[i]` (local) begins bucket i, `bounds[i]` is its UTC start.

    `bounds` has one more element than `starts`: the end of the last bucket.
    """

    period: Period
    zone: ZoneInfo
    starts: tuple[date, ...]
    bounds: tuple[datetime, ...]

    @classmethod
    def covering(cls, *, period: Period, first: date, last: date, zone: ZoneInfo) -> Window:
        """The buckets from the one holding local day `first` to the one holding `last`.

        Raises:
            ValueError: `last` is before `first`, or the range needs more than MAX_BUCKETS.
        """
        if last < first:
            raise ValueError("the range ends before it starts")
        starts = [_bucket_start(first, period)]
        while (following := _next_start(starts[-1], period)) <= last:
            starts.append(following)
            if len(starts) > MAX_BUCKETS:
                raise ValueError(f"at most {MAX_BUCKETS} {period.value}s at a time")
        days = [*starts, _next_start(starts[-1], period)]
        return cls(period, zone, tuple(starts), tuple(local_day_span(d, zone)[0] for d in days))

    @classmethod
    def recent(cls, *, period: Period, now: datetime, zone: ZoneInfo, count: int = 0) -> Window:
        """The last `count` buckets (DEFAULT_BUCKETS when 0), the current one included."""
        count = count or DEFAULT_BUCKETS[period]
        today = now.astimezone(zone).date()
        first = _bucket_start(today, period)
        for _ in range(count - 1):
            first = _bucket_start(first - timedelta(days=1), period)
        return cls.covering(period=period, first=first, last=today, zone=zone)

    @property
    def start(self) -> datetime:
        """The UTC instant the window begins."""
        return self.bounds[0]

    @property
    def end(self) -> datetime:
        """The UTC instant the window ends (exclusive)."""
        return self.bounds[-1]

    @property
    def last_day(self) -> date:
        """The window's last local day (inclusive)."""
        return _next_start(self.starts[-1], self.period) - timedelta(days=1)

    def __len__(self) -> int:
        return len(self.starts)

    def labels(self) -> list[str]:
        """How each bucket is named on the page and in exports (ISO dates, "2026-11")."""
        if self.period is Period.MONTH:
            return [d.strftime("%Y-%m") for d in self.starts]
        return [d.isoformat() for d in self.starts]

    def within(self, column: Any) -> ColumnElement[bool]:
        """SQL: the column's instant falls inside the window."""
        return and_(column >= self.start, column < self.end)

    def bucket(self, column: Any) -> ColumnElement[int]:
        """SQL: the index of the bucket holding the column's instant (rows inside only)."""
        return self._split(column, 0, len(self.starts))

    def _split(self, column: Any, low: int, high: int) -> ColumnElement[int]:
        """Buckets [low, high) as a balanced tree of CASEs: log2(n) comparisons per row.

        A flat CASE compares a row with every boundary before its own; over a year of
        conversations per day that is most of the page's time.
        """
        if high - low == 1:
            return literal(low, Integer)
        middle = (low + high) // 2
        return case(
            (column < self.bounds[middle], self._split(column, low, middle)),
            else_=self._split(column, middle, high),
        )

    def index_of(self, instant: datetime) -> int | None:
        """The bucket holding `instant`, or None outside the window."""
        if not self.start <= instant < self.end:
            return None
        return bisect.bisect_right(self.bounds, instant) - 1
