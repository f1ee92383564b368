"""The one place that reads the wall clock.

Everything else takes "now" from a `Clock` it was given: `Services.clock` in the service, the
`clock` of an `ActionContext` in custom actions, a constructor argument in workers, or the
clock of the unit of work (`frontdesk.db.clock_of(session)`) for row timestamps. Tests and
benchmarks pass a fixed clock, so a test frozen at one moment sees that moment everywhere,
whatever the date or hour it runs at. Ruff's banned-API rule (`pyproject.toml`) refuses
`datetime.now`, `date.today` and `time.time` in every other module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current time, aware, in UTC."""


def system_clock() -> datetime:
    """The production clock: the wall clock, aware, in UTC."""
    return datetime.now(UTC)  # noqa: TID251 - the one sanctioned reading of the wall clock


def fixed_clock(moment: datetime) -> Clock:
    """A clock that always says `moment` (tests, benchmarks, replaying a day)."""
    if moment.tzinfo is None:
        raise ValueError("a clock tells aware UTC times; give `moment` a time zone")
    at = moment.astimezone(UTC)
    return lambda: at


def shifted_clock(seconds: float, base: Clock = system_clock) -> Clock:
    """`base` moved by `seconds`: a process started in a test at a chosen hour (the fault
    suite's quiet hours ending mid-fan-out); settings refuse it in production."""
    offset = timedelta(seconds=seconds)
    return lambda: base() + offset
