"""Tests for Spanish time preferences (frontdesk.scheduling.timeprefs with language="es").

The same interpretation rules as English (tests/scheduling/test_timeprefs.py), so most cases
use the same fixed Saturday, 2026-11-28 10:00 in New York; others a Wednesday, the last days
of a month and of the year, and both daylight-saving changes. Spanish is written as patients
text it: with and without accents, with "q", "prox", "dsp", "mñn".
"""

from __future__ import annotations

import random
import string
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from frontdesk.language import Language
from frontdesk.scheduling.timeprefs import (
    MAX_HORIZON_DAYS,
    TimePreference,
    TimePreferenceError,
    parse_time_preference,
)

NY = ZoneInfo("America/New_York")
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=NY)
WEDNESDAY = datetime(2026, 12, 2, 9, 30, tzinfo=NY)
NEW_YEARS_EVE = datetime(2026, 12, 31, 16, 0, tzinfo=NY)  # a Thursday
END_OF_JANUARY = datetime(2027, 1, 31, 11, 0, tzinfo=NY)  # a Sunday
BEFORE_SPRING_FORWARD = datetime(2026, 3, 7, 22, 0, tzinfo=NY)  # clocks jump at 02:00 Mar 8
BEFORE_FALL_BACK = datetime(2026, 10, 31, 23, 30, tzinfo=NY)  # clocks go back at 02:00 Nov 1


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def span(first: date, last: date) -> tuple[date, ...]:
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def es(text: str, now: datetime = SATURDAY) -> TimePreference:
    return parse_time_preference(text, now=now, tz=NY, language="es")


def en(text: str, now: datetime = SATURDAY) -> TimePreference:
    return parse_time_preference(text, now=now, tz=NY)


def reason(text: str, now: datetime = SATURDAY) -> str:
    with pytest.raises(TimePreferenceError) as caught:
        es(text, now)
    return caught.value.reason


# Saturday Nov 28 plus 13 days: the default horizon.
HORIZON = span(d(11, 28), d(12, 11))


# --------------------------------------------------------------------------- headline cases


@pytest.mark.parametrize(
    ("text", "days", "earliest", "latest", "exact"),
    [
        ("el martes después de las 3", (d(12, 1),), time(15), None, None),
        ("el martes despues de las 3", (d(12, 1),), time(15), None, None),
        ("EL MARTES DESPUÉS DE LAS 3", (d(12, 1),), time(15), None, None),
        ("mañana por la mañana", (d(11, 29),), None, time(12), None),
        ("manana en la manana", (d(11, 29),), None, time(12), None),
        ("lo antes posible", HORIZON, None, None, None),
        ("el 14 de marzo", (d(3, 14, 2027),), None, None, None),
        ("la próxima semana", span(d(11, 30), d(12, 6)), None, None, None),
        (
            "cualquier día menos el lunes",
            tuple(x for x in HORIZON if x.weekday() != 0),
            None,
            None,
            None,
        ),
        ("manana en la tarde", (d(11, 29),), time(12), time(17), None),
        ("el prox martes", (d(12, 1),), None, None, None),
        ("despues de las 3", HORIZON, time(15), None, None),
        ("q sea en la mañana", HORIZON, None, time(12), None),
        ("el viernes a las 10", (d(12, 4),), time(9), time(11, 1), time(10)),
        ("entre semana", tuple(x for x in HORIZON if x.weekday() < 5), None, None, None),
        ("fin de semana", (d(11, 28), d(11, 29)), None, None, None),
        ("el 3 de dic", (d(12, 3),), None, None, None),
        ("14/3", (d(3, 14, 2027),), None, None, None),
        ("a partir del lunes", span(d(11, 30), d(12, 13)), None, None, None),
        ("antes del jueves", span(d(11, 28), d(12, 2)), None, None, None),
        ("no puedo los lunes", tuple(x for x in HORIZON if x.weekday() != 0), None, None, None),
        ("hoy", (d(11, 28),), None, None, None),
        ("pasado mañana", (d(11, 30),), None, None, None),
        ("en dos semanas", span(d(12, 12), d(12, 18)), None, None, None),
        ("al mediodía", HORIZON, time(11, 30), time(13, 30), None),
        ("en la noche", HORIZON, time(17), None, None),
        ("temprano", HORIZON, None, time(12), None),
    ],
)
def test_headline_examples(
    text: str,
    days: tuple[date, ...],
    earliest: time | None,
    latest: time | None,
    exact: time | None,
) -> None:
    assert es(text) == TimePreference(days=days, earliest=earliest, latest=latest, exact=exact)


# --------------------------------------------------------------------------- same rules as English


@pytest.mark.parametrize(
    ("spanish", "english"),
    [
        # Days relative to today.
        ("mañana", "tomorrow"),
        ("mañana mismo", "tomorrow"),
        ("mnn", "tomorrow"),
        ("mñn en la tarde", "tomorrow afternoon"),
        ("hoy en la tarde", "today afternoon"),
        ("esta tarde", "this afternoon"),
        ("esta noche", "tonight"),
        ("mañana o pasado", "tomorrow or the day after tomorrow"),
        # Weekdays and their modifiers.
        ("el lunes", "monday"),
        ("lunes", "monday"),
        ("el miércoles", "wednesday"),
        ("el miercoles", "wednesday"),
        ("el mie", "wednesday"),
        ("el sábado", "saturday"),  # today, as "saturday" is in English
        ("el próximo martes", "next tuesday"),
        ("el proximo martes", "next tuesday"),
        ("el martes que viene", "next tuesday"),
        ("el martes próximo", "next tuesday"),
        ("el siguiente martes", "next tuesday"),
        ("el próximo sábado", "next saturday"),  # never today
        ("el lunes o el miércoles", "monday or wednesday"),
        ("jueves, viernes o sábado", "thursday, friday or saturday"),
        ("el lunes o el miércoles en la tarde", "monday or wednesday afternoon"),
        ("el martes de la semana que viene", "tuesday next week"),
        ("el martes de la próxima semana", "tuesday next week"),
        ("de lunes a miércoles", "monday to wednesday"),
        ("lunes a miércoles", "monday to wednesday"),
        ("entre el lunes y el miércoles", "between monday and wednesday"),
        ("los lunes", "mondays"),
        ("todos los lunes", "every monday"),
        ("los martes y jueves en la tarde", "tuesdays and thursdays afternoon"),
        ("los lunes, miércoles y viernes", "mondays, wednesdays and fridays"),
        ("los viernes de diciembre", "fridays in december"),
        ("los sábados por la mañana", "saturdays morning"),
        ("hasta el viernes", "until friday"),
        ("a más tardar el viernes", "by friday"),
        ("después del miércoles", "after wednesday"),
        ("desde el lunes", "from monday"),
        # Weeks, weekends, months.
        ("la semana que viene", "next week"),
        ("la semana próxima", "next week"),
        ("la otra semana", "next week"),
        ("esta semana", "this week"),
        ("el resto de la semana", "this week"),
        ("la semana después de la próxima", "week after next"),
        ("a principios de la próxima semana", "early next week"),
        ("a finales de la semana", "late this week"),
        ("el fin de semana", "weekend"),
        ("el finde", "weekend"),
        ("el próximo fin de semana", "next weekend"),
        ("el fin de semana que viene", "next weekend"),
        ("los fines de semana", "weekends"),
        ("los findes", "weekends"),
        ("días de semana", "weekdays"),
        ("de lunes a viernes", "weekdays"),
        ("durante la semana", "weekdays"),
        ("el mes que viene", "next month"),
        ("el mes entrante", "next month"),
        ("este fin", "weekend"),
        ("en quince días", "in 15 days"),
        ("el próximo mes", "next month"),
        ("este mes", "this month"),
        ("en diciembre", "in december"),
        ("a principios de diciembre", "early december"),
        ("a mediados de enero", "mid january"),
        ("a finales de enero", "late january"),
        # Quantities.
        ("en 3 días", "in 3 days"),
        ("dentro de 3 días", "in 3 days"),
        ("en una semana", "in a week"),
        ("en 2 semanas", "in 2 weeks"),
        ("en un par de semanas", "in a couple of weeks"),
        ("dentro de un mes", "in a month"),
        ("en los próximos 3 días", "within the next 3 days"),
        ("el martes en dos semanas", "tuesday in 2 weeks"),
        # Explicit dates: day before month, as Spanish writes them.
        ("el 25 de diciembre", "december 25"),
        ("25 de diciembre", "december 25"),
        ("el día 25 de diciembre", "december 25"),
        ("el 1ro de diciembre", "december 1"),
        ("el primero de diciembre", "december 1"),
        ("el dos de diciembre", "december 2"),
        ("el 4 de dic. a las 9 a.m.", "dec 4 at 9am"),
        ("el 4 de dic a las 9 a. m.", "dec 4 at 9am"),
        ("el 3 de mayo", "may 3rd"),
        ("el 14 de marzo de 2027", "march 14 2027"),
        ("4/12", "12/4"),
        ("el 4/12", "12/4"),
        ("12/4", "4/12"),
        ("14/03/2027", "3/14/2027"),
        ("2026-12-03", "2026-12-03"),
        ("el 15", "the 15th"),
        ("el día 15", "the 15th"),
        ("el viernes 4", "friday the 4th"),  # a date in Spanish, not 4 PM
        ("el sábado 12 a las 11", "saturday dec 12 at 11"),  # "a" is not "a.m." here
        ("el 12 a las 3", "the 12th at 3"),
        ("el lunes 7 de diciembre", "monday december 7"),
        ("sábado 5 de diciembre a las 10:30", "saturday dec 5 at 10:30"),
        ("del 7 al 11 de diciembre", "december 7 to 11"),
        ("entre el 7 y el 11 de diciembre", "between december 7 and 11"),
        ("el 14 o el 15 de diciembre", "december 14 or 15"),
        ("después del 10 de diciembre", "after december 10"),
        ("antes del 10 de diciembre", "before december 10"),
        ("desde el 3 de diciembre", "from december 3"),
        ("después del 15", "after the 15th"),  # a day of the month, not 3 PM
        ("antes del 3", "before the 3rd"),
        ("a partir del 10", "from the 10th"),
        ("3 mar", "march 3"),
        ("mar 1 dic", "tuesday dec 1"),  # "mar" is also martes
        ("lun o mar", "monday or tuesday"),
        ("mar o jue", "tuesday or thursday"),
        # Times.
        ("a las 3", "at 3"),  # bare hours 1-7 are PM, as in English
        ("a las 8", "at 8"),  # and 8-11 AM
        ("a la una", "at 1"),
        ("a las 3 y media", "at 3:30"),
        ("a las 3 y cuarto", "at 3:15"),
        ("a las 5 de la tarde", "at 5pm"),
        ("2 de la tarde", "2pm"),
        ("a las 8 de la noche", "at 8pm"),
        ("a las 8 de la mañana", "at 8am"),
        ("a las 7 de la mañana", "at 7am"),  # "de la mañana" overrides the PM guess
        ("3 y media de la tarde", "3:30pm"),
        ("a las 15 hrs", "at 15:00"),
        ("a las 10 en punto", "at 10 oclock"),
        ("a las 12 del mediodía", "at 12pm"),
        ("a eso de las 4", "around 4"),
        ("como a las 4", "around 4"),
        ("tipo 4", "around 4"),
        ("a las 10 o a las 2", "at 10 or at 2"),
        ("a las 9 o 10", "at 9 or at 10"),
        ("tipo 10 u 11", "around 10 or around 11"),
        ("cerca de las 2", "around 2"),
        ("a las 5 o más tarde", "5 or later"),
        ("entre las 2 y las 4", "between 2 and 4"),
        ("de 9 a 12", "from 9 to 12"),
        ("de 10 a 12 el martes", "from 10 to 12 tuesday"),
        ("antes de las 11 de la mañana", "before 11am"),
        ("a partir de las 2", "from 2"),
        ("desde las 2", "from 2"),
        ("hasta las 4", "until 4"),
        ("dsp de las 3", "after 3"),
        ("el martes despues d las 3", "tuesday after 3"),
        ("después del mediodía", "after noon"),
        ("antes del mediodía", "before noon"),
        ("a mediodía", "noon"),
        ("a la hora del almuerzo", "lunch"),
        ("después del trabajo", "after work"),
        ("saliendo del trabajo", "after work"),
        ("después de la escuela", "after school"),
        ("antes de comer", "before lunch"),
        # Parts of the day.
        ("por la mañana", "morning"),
        ("en la mañana", "morning"),
        ("de mañana", "tomorrow"),  # "de mañana" without the article is not the morning
        ("las mañanas", "mornings"),
        ("en las tardes", "afternoons"),
        ("por la tarde", "afternoon"),
        ("x la tarde", "afternoon"),
        ("en la tardecita", "afternoon"),
        ("por la noche", "evening"),
        ("de noche", "evening"),
        ("temprano en la mañana", "early morning"),
        ("a primera hora", "early morning"),
        ("el sabado en la mañanita", "saturday morning"),
        ("lo más tarde posible", "late"),
        ("por la mañana o por la tarde", "morning or afternoon"),
        ("entre semana en la mañana", "weekdays morning"),
        # Flexible answers.
        ("lo más pronto posible", "asap"),
        ("cuanto antes", "asap"),
        ("en cuanto puedan", "asap"),
        ("lo antes q se pueda", "asap"),
        ("la primera cita disponible", "first available"),
        ("cuando sea", "whenever"),
        ("cuando puedan", "whenever"),
        ("cualquier día", "any day"),
        ("a cualquier hora", "anytime"),
        ("me da igual", "doesnt matter"),
        ("no importa", "doesnt matter"),
        ("no tengo preferencia", "no preference"),
        ("sin prisa", "no rush"),
        ("soy flexible", "flexible"),
        ("urgente", "urgent"),
        ("ahora mismo", "right now"),
        # Negations, before or after what they negate.
        ("que no sea el lunes", "not monday"),
        ("cualquier dia menos lunes y viernes", "any day except monday and friday"),
        ("excepto el viernes", "except friday"),
        ("no puedo el lunes", "cant monday"),
        ("el lunes no puedo", "not monday"),
        ("los lunes no me sirven", "not mondays"),
        ("el lunes no, el martes sí", "not monday, tuesday"),
        ("el martes estoy ocupada", "busy tuesday"),
        ("trabajo los lunes", "busy mondays"),
        ("nada de lunes", "not monday"),
        ("no en la mañana", "not morning"),
        ("no puedo en las mañanas", "cant mornings"),
        ("en la mañana no", "not morning"),
        ("no los fines de semana", "not weekends"),
        # Politeness and chatter around the preference.
        ("hola, quiero una cita para el martes por favor", "tuesday"),
        ("¿Tiene algo el MARTES después de las 3?", "tuesday after 3"),
        ("Mañana temprano 🙂", "tomorrow early"),
        ("LO ANTES POSIBLE!!", "asap"),
    ],
)
def test_spanish_reads_as_its_english_equivalent(spanish: str, english: str) -> None:
    assert es(spanish) == en(english)


def test_day_words_on_a_wednesday() -> None:
    assert es("el próximo miércoles", WEDNESDAY).days == (d(12, 9),)
    assert es("el miércoles", WEDNESDAY).days == (d(12, 2),)
    assert es("esta semana", WEDNESDAY).days == span(d(12, 2), d(12, 6))
    assert es("el fin de semana", WEDNESDAY).days == (d(12, 5), d(12, 6))


# --------------------------------------------------------------------------- month and year ends


def test_month_and_year_ends() -> None:
    assert es("mañana", NEW_YEARS_EVE).days == (d(1, 1, 2027),)
    assert es("pasado mañana", NEW_YEARS_EVE).days == (d(1, 2, 2027),)
    assert es("la próxima semana", NEW_YEARS_EVE).days == span(d(1, 4, 2027), d(1, 10, 2027))
    assert es("el 15", NEW_YEARS_EVE).days == (d(1, 15, 2027),)
    assert es("el mes que viene", NEW_YEARS_EVE).days == span(d(1, 1, 2027), d(1, 31, 2027))
    assert es("el 5/1", NEW_YEARS_EVE).days == (d(1, 5, 2027),)
    assert es("mañana", END_OF_JANUARY).days == (d(2, 1, 2027),)
    assert es("el 15", END_OF_JANUARY).days == (d(2, 15, 2027),)
    assert es("el mes que viene", END_OF_JANUARY).days == span(d(2, 1, 2027), d(2, 28, 2027))
    assert es("en un mes", END_OF_JANUARY).days == span(d(2, 28, 2027), d(3, 6, 2027))


def test_a_past_month_day_rolls_to_next_year() -> None:
    # "el 5 de enero" said in November is next January, as "jan 5" is.
    assert es("el 5 de enero").days == (d(1, 5, 2027),)
    assert es("5/1").days == (d(1, 5, 2027),)
    assert es("el 5 de enero", datetime(2026, 11, 2, 9, 0, tzinfo=NY)).days == (d(1, 5, 2027),)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Nothing usable, or contradictory, or a negation that cannot be applied.
        ("", "unrecognised"),
        ("hola", "unrecognised"),
        ("no sé", "unrecognised"),
        ("ni idea", "unrecognised"),
        ("gracias 🙂", "unrecognised"),
        ("el 31 de noviembre", "unrecognised"),
        ("el 30 de febrero", "unrecognised"),
        ("el martes 7 de diciembre", "unrecognised"),  # Dec 7 is a Monday
        ("el viernes 3", "unrecognised"),  # the 3rd is a Thursday
        ("a las 4 menos cuarto", "unrecognised"),  # asked again rather than guessed
        ("hoy no", "unrecognised"),  # a date cannot be excluded: ask again
        ("mañana no puedo", "unrecognised"),
        ("el 4 de dic no", "unrecognised"),
        ("no en la tarde", "unrecognised"),  # would need two windows a day
        ("después de las 5 y antes de las 3", "unrecognised"),
        ("el 14 de marzu", "unrecognised"),  # a month the parser cannot place
        ("mar 1", "unrecognised"),  # March 1 or Tuesday the 1st: ask
        # The past.
        ("ayer", "in_past"),
        ("anteayer", "in_past"),
        ("el lunes pasado", "in_past"),
        ("la semana pasada", "in_past"),
        ("el mes pasado", "in_past"),
        ("este lunes", "in_past"),  # Monday of this week was Nov 23
        ("el 15 de noviembre", "in_past"),  # 13 days ago: a slip, not next year
        ("15/11", "in_past"),
        ("antes del 20 de noviembre", "in_past"),
        ("el 3 de diciembre de 2025", "in_past"),
        # Too far ahead.
        ("el 28 de septiembre", "too_far"),  # 61 days ago, so next year
        ("el 1 de julio de 2027", "too_far"),
        ("1/7/2027", "too_far"),
        ("en 7 meses", "too_far"),
        ("dentro de 181 días", "too_far"),
        ("en 26 semanas", "too_far"),
    ],
)
def test_errors(text: str, expected: str) -> None:
    assert reason(text) == expected


def test_this_weekday_in_the_past_on_a_wednesday() -> None:
    assert reason("este lunes", WEDNESDAY) == "in_past"
    assert reason("el 1 de diciembre", WEDNESDAY) == "in_past"
    assert reason("el viernes pasado", WEDNESDAY) == "in_past"


def test_horizon_limits_with_day_month_order() -> None:
    last = SATURDAY.date() + timedelta(days=MAX_HORIZON_DAYS)
    assert es(f"{last:%d/%m/%Y}").days == (last,)
    assert reason(f"{last + timedelta(days=1):%d/%m/%Y}") == "too_far"


def test_error_messages_do_not_echo_the_text() -> None:
    secret = "mi cita de vih fue ayer"
    with pytest.raises(TimePreferenceError) as caught:
        es(secret)
    assert caught.value.reason == "in_past"
    assert "vih" not in str(caught.value)


# --------------------------------------------------------------------------- language switch


def test_spanish_is_read_only_when_asked_for() -> None:
    assert parse_time_preference("el lunes", now=SATURDAY, tz=NY, language=Language.ES).days == (
        d(11, 30),
    )
    with pytest.raises(TimePreferenceError):
        en("el lunes")  # English by default: "lunes" means nothing there
    # English text in a Spanish conversation still works where the words coincide or pass
    # through untouched ("ok 3pm", a pasted date).
    assert es("dec 3 at 3pm") == en("dec 3 at 3pm")
    assert es("next week") == en("next week")


@pytest.mark.parametrize(
    "text", ["in a week", "ok next tue after 3", "the 15th at 10am", "no mornings please"]
)
def test_english_in_a_spanish_conversation_reads_as_english(text: str) -> None:
    # "in a week" loses its "a" to the Spanish rewrite ("a" is a Spanish preposition) and
    # is then read again as English.
    assert es(text) == en(text)


def test_english_fallback_does_not_override_a_spanish_answer_or_error() -> None:
    assert reason("el 14 de marzp") == "unrecognised"  # unreadable Spanish is never guessed
    assert reason("ayer") == "in_past"  # a Spanish error other than unrecognised stands


def test_unknown_languages_read_as_english() -> None:
    assert parse_time_preference("next tue after 3", now=SATURDAY, tz=NY, language="fr") == en(
        "next tue after 3"
    )


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "text",
    [
        "a" * 5000,
        "mañana " * 700,
        "el 3 de diciembre " * 300,
        "ñ" * 5000,
        "🙂" * 5000,
        "¿" * 5000,
        "después de las " * 400,
        "entre las 1 y " * 400,
        "no " * 1700,
        "de la de las del " * 300,
        "lo antes posible 🙂🙂🙂 " * 250,
    ],
)
@pytest.mark.timeout(10)  # a hang or catastrophic backtracking fails here; speed is for bench/
def test_long_inputs_do_not_crash(text: str) -> None:
    try:
        result = es(text)
    except TimePreferenceError as exc:
        assert exc.reason in {"unrecognised", "in_past", "too_far"}
    else:
        assert result.days


def test_only_the_start_of_a_long_text_is_read() -> None:
    assert es("el prox martes después de las 3 " + "x" * 5000).days == (d(12, 1),)
    assert reason("x" * 300 + " mañana") == "unrecognised"


def test_random_spanish_garbage_only_ever_raises_time_preference_error() -> None:
    rng = random.Random(20261128)
    words = [
        *("el", "la", "las", "de", "del", "a", "y", "o", "no", "menos", "mañana", "manana"),
        *("lunes", "martes", "próximo", "prox", "semana", "fin", "después", "antes", "entre"),
        *("3", "14/3", "31", "dic", "marzo", "mayo", "mar", "hoy", "pasado", "tarde", "noche"),
        *("mediodía", "en", "dos", "semanas", "q", "sea", "cualquier", "día", "🙂", ",", "?"),
    ]
    alphabet = string.printable + "🙂ñáéíóúü¿¡–’"
    for i in range(400):
        if i % 2:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 250)))
        try:
            preference = es(text)
        except TimePreferenceError as error:
            assert error.reason in {"unrecognised", "in_past", "too_far"}
            continue
        assert preference.days
        assert preference.days[0] >= SATURDAY.date()
        assert preference.days[-1] <= SATURDAY.date() + timedelta(days=MAX_HORIZON_DAYS)


# --------------------------------------------------------------------------- time zones


def test_today_is_decided_in_the_practice_time_zone() -> None:
    # 03:00 UTC on Nov 29 is still 22:00 on Nov 28 in New York.
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert parse_time_preference("hoy", now=now, tz=NY, language="es").days == (d(11, 28),)
    assert parse_time_preference("mañana", now=now, tz=NY, language="es").days == (d(11, 29),)


def test_spring_forward_keeps_dates_and_wall_clock_times() -> None:
    now = BEFORE_SPRING_FORWARD
    assert es("mañana a las 2:30 de la mañana", now) == TimePreference(
        days=(d(3, 8),), earliest=time(1, 30), latest=time(3, 31), exact=time(2, 30)
    )
    assert es("pasado mañana", now).days == (d(3, 9),)
    assert es("en 2 días", now).days == (d(3, 9),)
    assert es("la próxima semana", now).days == span(d(3, 9), d(3, 15))
    assert es("el domingo después de las 3", now) == TimePreference(
        days=(d(3, 8),), earliest=time(15)
    )


def test_fall_back_keeps_dates_and_wall_clock_times() -> None:
    now = BEFORE_FALL_BACK
    assert es("mañana a la 1:30 de la madrugada", now) == TimePreference(
        days=(d(11, 1),), earliest=time(0, 30), latest=time(2, 31), exact=time(1, 30)
    )
    assert es("mañana", now).days == (d(11, 1),)
    assert es("el lunes en la tarde", now) == TimePreference(
        days=(d(11, 2),), earliest=time(12), latest=time(17)
    )
    assert es("la semana que viene", now).days == span(d(11, 2), d(11, 8))


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("text", "described"),
    [
        (
            "el martes 8 de diciembre después de las 3",
            "el martes 8 de diciembre, después de las 3 p. m.",
        ),
        ("el prox martes despues de las 3", "el martes 1 de diciembre, después de las 3 p. m."),
        ("mañana por la mañana", "el domingo 29 de noviembre, por la mañana"),
        ("el viernes a las 2", "el viernes 4 de diciembre, a las 2 p. m."),
        ("el viernes a la una", "el viernes 4 de diciembre, a la 1 p. m."),
        ("el viernes a las 10:30", "el viernes 4 de diciembre, a las 10:30 a. m."),
        ("el viernes a las 12", "el viernes 4 de diciembre, a las 12 del mediodía"),
        ("mañana entre la 1 y las 3", "el domingo 29 de noviembre, entre la 1 p. m. y las 3 p. m."),
        ("el viernes antes de las 11", "el viernes 4 de diciembre, antes de las 11 a. m."),
        ("la próxima semana", "del lunes 30 de noviembre al domingo 6 de diciembre"),
        (
            "de lunes a viernes de la semana que viene",
            "del lunes 30 de noviembre al viernes 4 de diciembre",
        ),
        (
            "lunes o miércoles en la tarde",
            "el lunes 30 de noviembre o el miércoles 2 de diciembre, por la tarde",
        ),
        (
            "lunes, martes y viernes",
            "el lunes 30 de noviembre, el martes 1 de diciembre o el viernes 4 de diciembre",
        ),
        ("lo antes posible", "del sábado 28 de noviembre al viernes 11 de diciembre"),
        ("en la noche", "del sábado 28 de noviembre al viernes 11 de diciembre, por la noche"),
        (
            "al mediodía",
            "del sábado 28 de noviembre al viernes 11 de diciembre, alrededor del mediodía",
        ),
        (
            "entre semana",
            "del lunes 30 de noviembre al viernes 11 de diciembre (solo entre semana)",
        ),
        (
            "los fines de semana",
            "del sábado 28 de noviembre al domingo 6 de diciembre (solo fines de semana)",
        ),
        (
            "los viernes de diciembre",
            "del viernes 4 de diciembre al viernes 25 de diciembre (solo los viernes)",
        ),
        (
            "los lunes y sábados",
            "del sábado 28 de noviembre al lunes 7 de diciembre (solo los lunes y sábados)",
        ),
        (
            "menos el lunes",
            "del sábado 28 de noviembre al viernes 11 de diciembre (menos los lunes)",
        ),
    ],
)
def test_describe_in_spanish(text: str, described: str) -> None:
    assert es(text).describe("es") == described


def test_describe_in_spanish_without_a_pattern() -> None:
    gappy = TimePreference(days=(d(12, 1), d(12, 3), d(12, 9), d(12, 10), d(12, 30)))
    assert gappy.describe("es") == "del martes 1 de diciembre al miércoles 30 de diciembre (5 días)"
    assert gappy.describe() == "Tue, Dec 1 – Wed, Dec 30 (5 days)"  # English stays the default
    assert TimePreference(days=(d(12, 1),), exact=time(0, 5)).describe("es") == (
        "el martes 1 de diciembre, a las 12:05 a. m."
    )
