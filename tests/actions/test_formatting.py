"""Dates, times and offered slots as the patient reads them, in English and in Spanish."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from actions.billing import format_date
from actions.formatting import at_clock_time, clock_time, long_day, short_day, slot_label

NEW_YORK = ZoneInfo("America/New_York")
# Tuesday 8 December 2026, 3:00 PM in New York (20:00 UTC).
TUESDAY_3PM = datetime(2026, 12, 8, 15, 0, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("hour", "minute", "en", "es"),
    [
        (15, 0, "3:00 PM", "3:00 p. m."),
        (9, 5, "9:05 AM", "9:05 a. m."),
        (0, 30, "12:30 AM", "12:30 a. m."),
        (12, 0, "12:00 PM", "12:00 p. m."),
        (13, 15, "1:15 PM", "1:15 p. m."),
    ],
)
def test_clock_times(hour: int, minute: int, en: str, es: str) -> None:
    moment = datetime(2026, 12, 8, hour, minute, tzinfo=NEW_YORK)
    assert clock_time(moment) == en
    assert clock_time(moment, "es") == es


def test_spanish_says_a_la_una_and_a_las_otherwise() -> None:
    assert at_clock_time(datetime(2026, 12, 8, 13, 0, tzinfo=NEW_YORK), "es") == "a la 1:00 p. m."
    assert at_clock_time(datetime(2026, 12, 8, 1, 30, tzinfo=NEW_YORK), "es") == "a la 1:30 a. m."
    assert at_clock_time(TUESDAY_3PM, "es") == "a las 3:00 p. m."
    assert at_clock_time(TUESDAY_3PM) == "at 3:00 PM"


@pytest.mark.parametrize(
    ("day", "en_long", "es_long", "en_short", "es_short"),
    [
        (
            date(2026, 12, 8),
            "Tuesday, December 8",
            "martes 8 de diciembre",
            "Tue, Dec 8",
            "mar 8 de dic",
        ),
        (
            date(2027, 1, 6),
            "Wednesday, January 6",
            "miércoles 6 de enero",
            "Wed, Jan 6",
            "mié 6 de ene",
        ),
        (
            date(2027, 8, 14),
            "Saturday, August 14",
            "sábado 14 de agosto",
            "Sat, Aug 14",
            "sáb 14 de ago",
        ),
        (
            date(2027, 9, 5),
            "Sunday, September 5",
            "domingo 5 de septiembre",
            "Sun, Sep 5",
            "dom 5 de sept",
        ),
    ],
)
def test_day_names_and_months(
    day: date, en_long: str, es_long: str, en_short: str, es_short: str
) -> None:
    moment = datetime(day.year, day.month, day.day, 10, 0, tzinfo=NEW_YORK)
    assert (long_day(moment), long_day(moment, "es")) == (en_long, es_long)
    assert (short_day(moment), short_day(moment, "es")) == (en_short, es_short)


def test_a_slot_button_is_labelled_in_the_practice_time_zone_in_each_language() -> None:
    start = TUESDAY_3PM.astimezone(ZoneInfo("UTC"))
    assert (
        slot_label(start, "Dr. Amara Patel", NEW_YORK) == "Tue, Dec 8 · 3:00 PM · Dr. Amara Patel"
    )
    assert (
        slot_label(start, "Dra. Amara Patel", NEW_YORK, "es")
        == "mar 8 de dic · 3:00 p. m. · Dra. Amara Patel"
    )


def test_statement_dates() -> None:
    assert format_date(date(2026, 11, 1)) == "November 1, 2026"
    assert format_date(date(2026, 11, 1), "es") == "1 de noviembre de 2026"
