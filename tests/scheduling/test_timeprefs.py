"""Tests for free-text time preferences (frontdesk.scheduling.timeprefs).

Most cases use a fixed Saturday, 2026-11-28 10:00 in New York; others a Wednesday, a
Sunday, the end of the year and the spring daylight-saving change.
"""

from __future__ import annotations

import pickle
import random
import string
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from frontdesk.scheduling.timeprefs import (
    DEFAULT_HORIZON_DAYS,
    MAX_HORIZON_DAYS,
    TimePreference,
    TimePreferenceError,
    parse_time_preference,
)

NY = ZoneInfo("America/New_York")
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=NY)
WEDNESDAY = datetime(2026, 12, 2, 9, 30, tzinfo=NY)
SUNDAY = datetime(2026, 11, 29, 12, 0, tzinfo=NY)


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def span(first: date, last: date) -> tuple[date, ...]:
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def parse(text: str, now: datetime = SATURDAY) -> TimePreference:
    return parse_time_preference(text, now=now, tz=NY)


def reason(text: str, now: datetime = SATURDAY) -> str:
    with pytest.raises(TimePreferenceError) as caught:
        parse(text, now)
    return caught.value.reason


# Saturday Nov 28 plus 13 days.
HORIZON = span(d(11, 28), d(12, 11))


# --------------------------------------------------------------------------- headline cases


@pytest.mark.parametrize(
    ("text", "days", "earliest", "latest", "exact"),
    [
        ("next tue after 3", (d(12, 1),), time(15), None, None),
        ("NEXT TUES AFTER 3PM", (d(12, 1),), time(15), None, None),
        ("tomorrow morning", (d(11, 29),), None, time(12), None),
        ("tmrw am", (d(11, 29),), None, time(12), None),
        ("Tomorow mornin", (d(11, 29),), None, time(12), None),
        ("asap", HORIZON, None, None, None),
        ("monday or wednesday afternoon", (d(11, 30), d(12, 2)), time(12), time(17), None),
        ("dec 3 at 10", (d(12, 3),), time(9), time(11, 1), time(10)),
        ("this week", (d(11, 28), d(11, 29)), None, None, None),
        ("next week", span(d(11, 30), d(12, 6)), None, None, None),
        ("any time friday", (d(12, 4),), None, None, None),
        ("fri 2pm", (d(12, 4),), time(13), time(15, 1), time(14)),
        ("the 15th", (d(12, 15),), None, None, None),
        ("12/3", (d(12, 3),), None, None, None),
        ("in 2 weeks", span(d(12, 12), d(12, 18)), None, None, None),
        ("before noon on thursday", (d(12, 3),), None, time(12), None),
        ("evening", HORIZON, time(17), None, None),
        ("anytime", HORIZON, None, None, None),
        ("between 1 and 3 tomorrow", (d(11, 29),), time(13), time(15), None),
        ("weekend", (d(11, 28), d(11, 29)), None, None, None),
    ],
)
def test_headline_examples(
    text: str,
    days: tuple[date, ...],
    earliest: time | None,
    latest: time | None,
    exact: time | None,
) -> None:
    assert parse(text) == TimePreference(days=days, earliest=earliest, latest=latest, exact=exact)


# --------------------------------------------------------------------------- day words


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("today", (d(11, 28),)),
        ("tomorrow", (d(11, 29),)),
        ("tmr", (d(11, 29),)),
        ("2moro", (d(11, 29),)),
        ("day after tomorrow", (d(11, 30),)),
        ("today or tomorrow", (d(11, 28), d(11, 29))),
        ("tomorrow or friday", (d(11, 29), d(12, 4))),
        # Bare weekday: next occurrence, today included (today is Saturday).
        ("saturday", (d(11, 28),)),
        ("sunday", (d(11, 29),)),
        ("mon", (d(11, 30),)),
        ("tue", (d(12, 1),)),
        ("tues", (d(12, 1),)),
        ("wed", (d(12, 2),)),
        ("weds", (d(12, 2),)),
        ("wensday", (d(12, 2),)),
        ("thu", (d(12, 3),)),
        ("thur", (d(12, 3),)),
        ("thurs", (d(12, 3),)),
        ("Thursday", (d(12, 3),)),
        ("fri", (d(12, 4),)),
        ("on friday please", (d(12, 4),)),
        # "next <weekday>": strictly after today, never today.
        ("next saturday", (d(12, 5),)),
        ("next sunday", (d(11, 29),)),
        ("coming tuesday", (d(12, 1),)),
        ("this saturday", (d(11, 28),)),
        ("this sunday", (d(11, 29),)),
        # Lists.
        ("monday and tuesday", (d(11, 30), d(12, 1))),
        ("mon, tue and fri", (d(11, 30), d(12, 1), d(12, 4))),
        ("tues/thurs", (d(12, 1), d(12, 3))),
        ("next monday or wednesday", (d(11, 30), d(12, 2))),
        # Periods.
        ("this weekend", (d(11, 28), d(11, 29))),
        ("next weekend", (d(12, 5), d(12, 6))),
        ("week after next", span(d(12, 7), d(12, 13))),
        ("early next week", span(d(11, 30), d(12, 2))),
        ("end of the week", (d(11, 28), d(11, 29))),
        ("this month", span(d(11, 28), d(11, 30))),
        ("next month", span(d(12, 1), d(12, 31))),
        ("in december", span(d(12, 1), d(12, 31))),
        ("early december", span(d(12, 1), d(12, 10))),
        # A bare weekday narrows a period; plurals repeat.
        ("tuesday next week", (d(12, 1),)),
        ("next week tuesday", (d(12, 1),)),
        ("thursday in 2 weeks", (d(12, 17),)),
        ("fridays in december", (d(12, 4), d(12, 11), d(12, 18), d(12, 25))),
        ("mondays", (d(11, 30), d(12, 7))),
        ("every tuesday", (d(12, 1), d(12, 8))),
        ("weekends", (d(11, 28), d(11, 29), d(12, 5), d(12, 6))),
        ("weekdays", span(d(11, 30), d(12, 4)) + span(d(12, 7), d(12, 11))),
        ("any weekday next week", span(d(11, 30), d(12, 4))),
        # Weekday ranges and deadlines.
        ("mon-fri", span(d(11, 30), d(12, 4))),
        ("mon-fri next week", span(d(11, 30), d(12, 4))),
        ("between tuesday and thursday", span(d(12, 1), d(12, 3))),
        ("by friday", span(d(11, 28), d(12, 4))),
        ("before friday", span(d(11, 28), d(12, 3))),
        ("after monday", span(d(12, 1), d(12, 14))),
        ("from monday", span(d(11, 30), d(12, 13))),
        # "in N ..."
        ("in 3 days", (d(12, 1),)),
        ("in a couple of days", (d(11, 30),)),
        ("in a week", span(d(12, 5), d(12, 11))),
        ("in two weeks", span(d(12, 12), d(12, 18))),
        ("2 weeks from now", span(d(12, 12), d(12, 18))),
        ("in 1 month", span(d(12, 28), d(1, 3, 2027))),
        ("within a week", span(d(11, 28), d(12, 4))),
        ("the next 3 days", span(d(11, 28), d(11, 30))),
        ("in 180 days", (d(5, 27, 2027),)),
        # Periods running past the booking horizon are cut short.
        ("in 25 weeks", span(d(5, 22, 2027), d(5, 27, 2027))),
    ],
)
def test_day_words(text: str, days: tuple[date, ...]) -> None:
    assert parse(text).days == days


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("today", (d(12, 2),)),
        ("wednesday", (d(12, 2),)),
        ("this wednesday", (d(12, 2),)),
        ("next wednesday", (d(12, 9),)),
        ("this friday", (d(12, 4),)),
        ("next friday", (d(12, 4),)),
        ("monday", (d(12, 7),)),
        ("this week", span(d(12, 2), d(12, 6))),
        ("next week", span(d(12, 7), d(12, 13))),
        ("weekend", (d(12, 5), d(12, 6))),
        ("next weekend", (d(12, 12), d(12, 13))),
        ("mon-fri", span(d(12, 7), d(12, 11))),
        ("wed-fri", span(d(12, 2), d(12, 4))),
        ("end of the week", span(d(12, 3), d(12, 6))),
        ("the 15th", (d(12, 15),)),
        ("the 1st", (d(1, 1, 2027),)),
        ("in 2 weeks", span(d(12, 16), d(12, 22))),
        ("asap", span(d(12, 2), d(12, 15))),
    ],
)
def test_day_words_on_a_wednesday(text: str, days: tuple[date, ...]) -> None:
    assert parse(text, WEDNESDAY).days == days


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("this week", (d(11, 29),)),
        ("weekend", (d(11, 29),)),
        ("next weekend", (d(12, 5), d(12, 6))),
        ("next week", span(d(11, 30), d(12, 6))),
        ("sunday", (d(11, 29),)),
        ("next sunday", (d(12, 6),)),
    ],
)
def test_day_words_on_a_sunday(text: str, days: tuple[date, ...]) -> None:
    assert parse(text, SUNDAY).days == days


# --------------------------------------------------------------------------- explicit dates


@pytest.mark.parametrize(
    "text",
    [
        "dec 3",
        "Dec. 3",
        "december 3rd",
        "December 3, 2026",
        "3 dec",
        "3rd of december",
        "3rd day of december",
        "december third",
        "the third of december",
        "12/3",
        "12/3/2026",
        "12/3/26",
        "2026-12-03",
        "thursday dec 3",
        "thu 12/3",
        "on the 3rd",
        "dec-03",  # only dateparser reads this one
    ],
)
def test_explicit_date_forms(text: str) -> None:
    assert parse(text).days == (d(12, 3),)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("15th", (d(12, 15),)),
        ("the 28th", (d(11, 28),)),  # today
        ("the 27th", (d(12, 27),)),  # already passed this month: next month
        ("the 31st", (d(12, 31),)),  # November has no 31st
        ("jan 5", (d(1, 5, 2027),)),  # long past this year: next year
        ("may 3rd", (d(5, 3, 2027),)),
        ("3rd of may", (d(5, 3, 2027),)),
        ("may 27 2027", (d(5, 27, 2027),)),  # the last bookable day
        ("dec 3-5", span(d(12, 3), d(12, 5))),
        ("dec 3 - dec 5", span(d(12, 3), d(12, 5))),
        ("between dec 3 and dec 5", span(d(12, 3), d(12, 5))),
        ("dec 28 to jan 3", span(d(12, 28), d(1, 3, 2027))),
        ("dec 3 or 5", (d(12, 3), d(12, 5))),
        ("by dec 3", span(d(11, 28), d(12, 3))),
    ],
)
def test_explicit_dates(text: str, days: tuple[date, ...]) -> None:
    assert parse(text).days == days


def test_date_rules_across_the_new_year() -> None:
    now = datetime(2026, 12, 30, 12, 0, tzinfo=NY)
    assert parse("next week", now).days == span(d(1, 4, 2027), d(1, 10, 2027))
    assert parse("jan 5", now).days == (d(1, 5, 2027),)
    assert parse("the 2nd", now).days == (d(1, 2, 2027),)
    assert parse("2026-12-31", now).days == (d(12, 31),)
    assert reason("dec 28", now) == "in_past"


def test_february_29th_rolls_to_the_next_leap_year() -> None:
    now = datetime(2027, 12, 1, 12, 0, tzinfo=NY)
    assert parse("feb 29", now).days == (d(2, 29, 2028),)


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("text", "earliest", "latest", "exact"),
    [
        ("morning", None, time(12), None),
        ("mornings", None, time(12), None),
        ("afternoon", time(12), time(17), None),
        ("in the evening", time(17), None, None),
        ("after work", time(17), None, None),
        ("noon", time(11, 30), time(13, 30), None),
        ("lunchtime", time(11, 30), time(13, 30), None),
        ("early", None, time(12), None),
        ("first thing", None, time(12), None),
        ("late", time(15), None, None),
        ("late afternoon", time(15), time(17), None),
        ("early morning", None, time(10), None),
        ("after 3", time(15), None, None),
        ("after 3pm", time(15), None, None),
        ("after 10am", time(10), None, None),
        ("3pm or later", time(15), None, None),
        ("after lunch", time(13), None, None),
        ("before 11", None, time(11), None),
        ("by 11", None, time(11), None),
        ("before noon", None, time(12), None),
        ("no later than 4", None, time(16), None),
        ("not after 3", None, time(15), None),
        ("earlier than 11", None, time(11), None),
        ("not before 10", time(10), None, None),
        ("no earlier than 10", time(10), None, None),
        ("later than 2", time(14), None, None),
        ("between 1 and 3", time(13), time(15), None),
        ("1-3pm", time(13), time(15), None),
        ("from 2 to 4", time(14), time(16), None),
        ("between 10 and 2", time(10), time(14), None),
        ("between 11 and 1pm", time(11), time(13), None),
        ("between 7 and 9", time(7), time(9), None),
        ("between 8 and 10 in the evening", time(20), time(22), None),
        ("evening before 6", time(17), time(18), None),
        ("afternoon after 3", time(15), time(17), None),
        ("after 7 in the morning", time(7), time(12), None),
        # Exact times: a window of an hour either side (latest is exclusive).
        ("at 10", time(9), time(11, 1), time(10)),
        ("10am", time(9), time(11, 1), time(10)),
        ("10a", time(9), time(11, 1), time(10)),
        ("2pm", time(13), time(15, 1), time(14)),
        ("2 p.m.", time(13), time(15, 1), time(14)),
        ("2:30pm", time(13, 30), time(15, 31), time(14, 30)),
        ("14:00", time(13), time(15, 1), time(14)),
        ("11.30am", time(10, 30), time(12, 31), time(11, 30)),
        ("around 3ish", time(14), time(16, 1), time(15)),
        ("at noon", time(11), time(13, 1), time(12)),
        ("at 12", time(11), time(13, 1), time(12)),
        ("at 7", time(18), time(20, 1), time(19)),  # bare 1-7 is PM
        ("at 8", time(7), time(9, 1), time(8)),  # bare 8-11 is AM
        ("3 am", time(2), time(4, 1), time(3)),  # an explicit am/pm wins
        ("at 8 in the evening", time(19), time(21, 1), time(20)),
        ("morning at 8", time(7), time(9, 1), time(8)),
        # Windows are clamped to the day.
        ("at 11:30pm", time(22, 30), None, time(23, 30)),
        ("at 12:30am", None, time(1, 31), time(0, 30)),
        # Several exact times: one window over them, no single exact time.
        ("10am or 2pm", time(9), time(15), None),
    ],
)
def test_time_words_without_a_day_use_the_default_horizon(
    text: str, earliest: time | None, latest: time | None, exact: time | None
) -> None:
    assert parse(text) == TimePreference(
        days=HORIZON, earliest=earliest, latest=latest, exact=exact
    )
    assert len(HORIZON) == DEFAULT_HORIZON_DAYS


@pytest.mark.parametrize(
    ("text", "days", "earliest", "latest", "exact"),
    [
        ("tonight", (d(11, 28),), time(17), None, None),
        ("tonight at 8", (d(11, 28),), time(19), time(21, 1), time(20)),
        ("this afternoon", (d(11, 28),), time(12), time(17), None),
        ("tomorrow night", (d(11, 29),), time(17), None, None),
        ("today at 5", (d(11, 28),), time(16), time(18, 1), time(17)),
        ("friday 3", (d(12, 4),), time(14), time(16, 1), time(15)),
        ("3 oclock friday", (d(12, 4),), time(14), time(16, 1), time(15)),
        ("on the 5th at 2", (d(12, 5),), time(13), time(15, 1), time(14)),
        ("tues or thurs after 4", (d(12, 1), d(12, 3)), time(16), None, None),
        ("by 11 on friday", (d(12, 4),), None, time(11), None),
        ("after 5 on weds", (d(12, 2),), time(17), None, None),
        ("i can come in on monday at 9:15", (d(11, 30),), time(8, 15), time(10, 16), time(9, 15)),
        (
            "Could I come Tuesday, Dec 1 at 3:30 p.m.?",
            (d(12, 1),),
            time(14, 30),
            time(16, 31),
            time(15, 30),
        ),
        ("weekend mornings", (d(11, 28), d(11, 29)), None, time(12), None),
        (
            "sometime next week in the afternoon",
            span(d(11, 30), d(12, 6)),
            time(12),
            time(17),
            None,
        ),
    ],
)
def test_days_and_times_together(
    text: str,
    days: tuple[date, ...],
    earliest: time | None,
    latest: time | None,
    exact: time | None,
) -> None:
    assert parse(text) == TimePreference(days=days, earliest=earliest, latest=latest, exact=exact)


def test_a_window_already_over_today_still_includes_today() -> None:
    late_evening = datetime(2026, 11, 28, 21, 0, tzinfo=NY)
    assert parse("morning", late_evening).days[0] == d(11, 28)
    assert parse("this morning", late_evening).days == (d(11, 28),)


# --------------------------------------------------------------------------- flexible, negation


@pytest.mark.parametrize(
    "text",
    [
        "asap",
        "ASAP!!",
        "as soon as possible",
        "whenever",
        "any time",
        "whatever works",
        "first available",
        "1st available",
        "the earliest you have",
        "no preference",
        "i dont mind",
        "don't care",
        "no rush",
        "24/7",
    ],
)
def test_flexible_words_mean_the_default_horizon(text: str) -> None:
    assert parse(text) == TimePreference(days=HORIZON)


@pytest.mark.parametrize(
    ("text", "days", "earliest", "latest"),
    [
        ("not monday", tuple(x for x in HORIZON if x.weekday() != 0), None, None),
        ("any day but monday", tuple(x for x in HORIZON if x.weekday() != 0), None, None),
        ("anything except fri", tuple(x for x in HORIZON if x.weekday() != 4), None, None),
        ("not monday or tuesday", tuple(x for x in HORIZON if x.weekday() > 1), None, None),
        ("no weekends", tuple(x for x in HORIZON if x.weekday() < 5), None, None),
        ("no mornings", HORIZON, time(12), None),
        ("can't do mornings", HORIZON, time(12), None),
        ("can't do evenings", HORIZON, None, time(17)),
        (
            "I'm free anytime after 4 except wednesdays",
            tuple(x for x in HORIZON if x.weekday() != 2),
            time(16),
            None,
        ),
        # The comma ends the negation: only Friday is excluded.
        ("busy friday, thursday after 2", (d(12, 3),), time(14), None),
        ("not sure, maybe tuesday", (d(12, 1),), None, None),
        ("no, tuesday works better", (d(12, 1),), None, None),
        ("i am free monday", (d(11, 30),), None, None),  # "am" here is not a morning
    ],
)
def test_negations_and_fillers(
    text: str, days: tuple[date, ...], earliest: time | None, latest: time | None
) -> None:
    assert parse(text) == TimePreference(days=days, earliest=earliest, latest=latest)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Nothing usable.
        ("", "unrecognised"),
        ("   ", "unrecognised"),
        ("the first one", "unrecognised"),
        ("the second one", "unrecognised"),
        ("second", "unrecognised"),
        ("hello there", "unrecognised"),
        ("asdfgh", "unrecognised"),
        ("???", "unrecognised"),
        ("🙂", "unrecognised"),
        ("🙂🙂🙂 👍", "unrecognised"),
        # A bare number is never a date (dateparser would read "3" as March).
        ("3", "unrecognised"),
        ("15", "unrecognised"),
        ("2026", "unrecognised"),
        ("3 may work", "unrecognised"),
        # Contradictions and things the parser will not guess at.
        ("mon dec 4", "unrecognised"),
        ("13/12", "unrecognised"),
        ("feb 30", "unrecognised"),
        ("feb 29", "unrecognised"),  # neither 2026 nor 2027 is a leap year
        ("at 25", "unrecognised"),
        ("at 13pm", "unrecognised"),
        ("between 3 and 1", "unrecognised"),
        ("morning after 3pm", "unrecognised"),
        ("weekdays this weekend", "unrecognised"),
        ("not afternoons", "unrecognised"),
        ("not now", "unrecognised"),
        ("not this week", "unrecognised"),
        ("december", "unrecognised"),
        ("dec 10:30", "unrecognised"),
        # The past.
        ("yesterday", "in_past"),
        ("day before yesterday", "in_past"),
        ("last monday", "in_past"),
        ("last week", "in_past"),
        ("this monday", "in_past"),  # Monday of this week was Nov 23
        ("monday this week", "in_past"),
        ("2025-12-03", "in_past"),
        ("12/3/2025", "in_past"),
        ("nov 15", "in_past"),  # 13 days ago: a slip, not next year
        ("sep 30", "in_past"),  # 59 days ago
        ("by nov 20", "in_past"),
        # Too far ahead.
        ("sep 28", "too_far"),  # 61 days ago, so next year, which is too far
        ("jul 1 2027", "too_far"),
        ("may 28 2027", "too_far"),
        ("2027-12-01", "too_far"),
        ("in 181 days", "too_far"),
        ("in 26 weeks", "too_far"),
        ("in 7 months", "too_far"),
        ("in 999 months", "too_far"),
    ],
)
def test_errors(text: str, expected: str) -> None:
    assert reason(text) == expected


def test_this_weekday_in_the_past_on_a_wednesday() -> None:
    assert reason("this monday", WEDNESDAY) == "in_past"
    assert reason("dec 1", WEDNESDAY) == "in_past"
    assert reason("last friday", WEDNESDAY) == "in_past"


def test_horizon_limits() -> None:
    last = SATURDAY.date() + timedelta(days=MAX_HORIZON_DAYS)
    assert parse(f"{last:%m/%d/%Y}").days == (last,)
    assert reason(f"{last + timedelta(days=1):%m/%d/%Y}") == "too_far"


def test_errors_carry_a_reason_and_survive_pickling() -> None:
    error = TimePreferenceError("in_past", "That day has already passed.")
    assert isinstance(error, ValueError)
    assert str(error) == "That day has already passed."
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.message) == ("in_past", "That day has already passed.")


def test_error_messages_do_not_echo_the_text() -> None:
    secret = "my hiv clinic visit yesterday"
    with pytest.raises(TimePreferenceError) as caught:
        parse(secret)
    assert caught.value.reason == "in_past"
    assert "hiv" not in str(caught.value)


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "text",
    [
        "a" * 5000,
        "tomorrow " * 600,
        "december 3 " * 500,
        "1" * 5000,
        "🙂" * 5000,
        "(" * 5000,
        "after " * 1000,
        "between 1 and " * 400,
        "not " * 1500,
        "dec-03 may 3rd " * 400,
    ],
)
@pytest.mark.timeout(10)  # a hang or catastrophic backtracking fails here; speed is for bench/
def test_long_inputs_do_not_crash(text: str) -> None:
    try:
        result = parse(text)
    except TimePreferenceError as exc:
        assert exc.reason in {"unrecognised", "in_past", "too_far"}
    else:
        assert result.days


def test_only_the_start_of_a_long_text_is_read() -> None:
    assert parse("next tue after 3 " + "x" * 5000).days == (d(12, 1),)
    assert reason("x" * 300 + " tomorrow") == "unrecognised"


def test_random_garbage_only_ever_raises_time_preference_error() -> None:
    rng = random.Random(20261128)
    words = [
        *("dec", "3", "may", "12/3", "after", "before", "between", "and", "or", "not"),
        *("monday", "next", "the", "1st", "2pm", "at", ":", "/", "-", ",", "jan", "99"),
        *("0", "13", "2026", "nov", "31", "twenty", "first", "mar", "of", "in", "weeks"),
        *("days", "tonight", "noon", "weekend", "morning", "until", "-", "@", "🙂"),
    ]
    alphabet = string.printable + "🙂éß–’"
    for i in range(400):
        if i % 2:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 250)))
        try:
            preference = parse(text)
        except TimePreferenceError as error:
            assert error.reason in {"unrecognised", "in_past", "too_far"}
            continue
        assert preference.days
        assert preference.days[0] >= SATURDAY.date()
        assert preference.days[-1] <= SATURDAY.date() + timedelta(days=MAX_HORIZON_DAYS)
        assert list(preference.days) == sorted(set(preference.days))


# --------------------------------------------------------------------------- time zones


def test_today_is_decided_in_the_practice_time_zone() -> None:
    # 03:00 UTC on Nov 29 is still 22:00 on Nov 28 in New York.
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert parse_time_preference("today", now=now, tz=NY).days == (d(11, 28),)
    assert parse_time_preference("tomorrow", now=now, tz=NY).days == (d(11, 29),)
    assert parse_time_preference("today", now=now, tz=ZoneInfo("UTC")).days == (d(11, 29),)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_time_preference("today", now=datetime(2026, 11, 28, 10, 0), tz=NY)


def test_daylight_saving_change_keeps_dates_and_wall_clock_times() -> None:
    # Clocks in New York spring forward at 02:00 on Sunday 2026-03-08.
    now = datetime(2026, 3, 7, 22, 0, tzinfo=NY)
    assert parse("tomorrow at 2:30am", now) == TimePreference(
        days=(d(3, 8),), earliest=time(1, 30), latest=time(3, 31), exact=time(2, 30)
    )
    assert parse("in 2 days", now).days == (d(3, 9),)
    assert parse("next week", now).days == span(d(3, 9), d(3, 15))


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("next tue after 3", "Tuesday, Dec 1 after 3:00 PM"),
        ("tomorrow morning", "Sunday, Nov 29 in the morning"),
        ("fri 2pm", "Friday, Dec 4 at 2:00 PM"),
        ("between 1 and 3 tomorrow", "Sunday, Nov 29 between 1:00 PM and 3:00 PM"),
        ("before 11 on friday", "Friday, Dec 4 before 11:00 AM"),
        ("next week", "Mon, Nov 30 – Sun, Dec 6"),
        ("mon-fri", "Mon, Nov 30 – Fri, Dec 4"),
        ("monday or wednesday afternoon", "Mon, Nov 30 or Wed, Dec 2 in the afternoon"),
        ("mon, tue and fri", "Mon, Nov 30; Tue, Dec 1; or Fri, Dec 4"),
        ("asap", "Sat, Nov 28 – Fri, Dec 11"),
        ("evening", "Sat, Nov 28 – Fri, Dec 11 in the evening"),
        ("lunch", "Sat, Nov 28 – Fri, Dec 11 around noon"),
        ("weekdays", "Mon, Nov 30 – Fri, Dec 11 (weekdays only)"),
        ("fridays in december", "Fri, Dec 4 – Fri, Dec 25 (Fridays only)"),
        ("not monday", "Sat, Nov 28 – Fri, Dec 11 (not Mondays)"),
    ],
)
def test_describe(text: str, described: str) -> None:
    assert parse(text).describe() == described


def test_describe_formats_midnight_and_noon() -> None:
    assert TimePreference(days=(d(12, 1),), exact=time(0, 5)).describe() == (
        "Tuesday, Dec 1 at 12:05 AM"
    )
    assert TimePreference(days=(d(12, 1),), earliest=time(12)).describe() == (
        "Tuesday, Dec 1 after 12:00 PM"
    )
    assert TimePreference(days=(d(12, 1), d(12, 3), d(12, 9), d(12, 10), d(12, 30))).describe() == (
        "Tue, Dec 1 – Wed, Dec 30 (5 days)"
    )


# --------------------------------------------------------------------------- the dataclass


@pytest.mark.parametrize(
    "kwargs",
    [
        {"days": ()},
        {"days": (d(12, 2), d(12, 1))},
        {"days": (d(12, 1), d(12, 1))},
        {"days": (d(12, 1),), "earliest": time(15), "latest": time(15)},
    ],
)
def test_time_preference_rejects_malformed_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TimePreference(**kwargs)  # type: ignore[arg-type]


def test_time_preference_is_frozen_and_hashable() -> None:
    preference = parse("next tue after 3")
    with pytest.raises(AttributeError):
        preference.days = ()  # type: ignore[misc]
    assert hash(preference) == hash(parse("next tuesday after 3pm"))
