"""Practice-local wall-clock times and the UTC instants they name.

Provider hours and patients' preferences are wall-clock times in the practice's zone, while
everything stored is UTC. Converting one day at a time keeps daylight-saving changes right: a
9:00 start stays 9:00 local on both sides of the change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_to_utc(day: date, wall: time, tz: ZoneInfo) -> datetime | None:
    """Convert a local wall-clock time to UTC; None if it does not exist (spring-forward gap)."""
    local = datetime.combine(day, wall, tzinfo=tz)
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return utc


def local_day_span(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants a local calendar day starts and ends (23 or 25 hours around DST)."""
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return start, end


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """The local calendar days the instants [start, end) fall on, in order."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def spoken_when(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as patients read it in a sentence: `Tue, Dec 1 at 3:00 PM` (local time)."""
    local = moment.astimezone(tz)
    hour = local.hour % 12 or 12
    return f"{local:%a, %b} {local.day} at {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"
