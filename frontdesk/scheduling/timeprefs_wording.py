"""How a `TimePreference` is read back to the patient, in English or Spanish.

`describe` decides the shape once (one day, a run of days, a weekly pattern, a short list,
a long gappy run) and each language words it: "Tuesday, Dec 1 after 3:00 PM" / "el martes 1
de diciembre, después de las 3 p. m.". Years are left out: every preference lies within the
parser's horizon, so month and day are unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from itertools import pairwise
from typing import Final

__all__ = ["describe"]

_WEEKDAYS_EN: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS_EN: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_WEEKDAYS_ES: Final = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_WEEKDAYS_ES_PLURAL: Final = (
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábados",
    "domingos",
)
_MONTHS_ES: Final = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip

_MORNING: Final = (None, time(12))
_AFTERNOON: Final = (time(12), time(17))
_EVENING: Final = (time(17), None)
_NOON: Final = (time(11, 30), time(13, 30))


@dataclass(frozen=True)
class _Shape:
    """What kind of set of days a preference covers, before any wording."""

    kind: str  # "one", "span", "weekdays", "weekends", "only", "not", "list", "count"
    days: tuple[date, ...]
    weekdays: tuple[int, ...] = ()


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _shape(days: tuple[date, ...]) -> _Shape:
    first, last = days[0], days[-1]
    if len(days) == 1:
        return _Shape("one", days)
    if (last - first).days == len(days) - 1:
        return _Shape("span", days)
    weekdays = sorted({d.weekday() for d in days})
    every = tuple(d for d in _span(first, last) if d.weekday() in weekdays)
    if every == days and len(days) > len(weekdays):
        # A weekly pattern ("mondays", "not fridays") reads better than a list of dates.
        if weekdays == [0, 1, 2, 3, 4]:
            return _Shape("weekdays", days)
        if weekdays == [5, 6]:
            return _Shape("weekends", days)
        if len(weekdays) <= 3:
            return _Shape("only", days, tuple(weekdays))
        return _Shape("not", days, tuple(w for w in range(7) if w not in weekdays))
    if len(days) <= 4:
        return _Shape("list", days)
    return _Shape("count", days)


def _join(words: list[str], conjunction: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


# --------------------------------------------------------------------------- English


def _en_long(day: date) -> str:
    return f"{_WEEKDAYS_EN[day.weekday()]}, {_MONTHS_EN[day.month - 1]} {day.day}"


def _en_short(day: date) -> str:
    return f"{_WEEKDAYS_EN[day.weekday()][:3]}, {_MONTHS_EN[day.month - 1]} {day.day}"


def _en_clock(value: time) -> str:
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"


def _en_plural(weekdays: tuple[int, ...], conjunction: str) -> str:
    return _join([_WEEKDAYS_EN[w] + "s" for w in weekdays], conjunction)


def _en_days(shape: _Shape) -> str:
    days = shape.days
    if shape.kind == "one":
        return _en_long(days[0])
    span = f"{_en_short(days[0])} – {_en_short(days[-1])}"
    if shape.kind == "list":
        items = [_en_short(d) for d in days]
        if len(items) == 2:
            return " or ".join(items)
        # Items contain commas themselves, so longer lists are separated with semicolons.
        return "; ".join(items[:-1]) + "; or " + items[-1]
    if shape.kind == "weekdays":
        return f"{span} (weekdays only)"
    if shape.kind == "weekends":
        return f"{span} (weekends only)"
    if shape.kind == "only":
        return f"{span} ({_en_plural(shape.weekdays, 'and')} only)"
    if shape.kind == "not":
        return f"{span} (not {_en_plural(shape.weekdays, 'or')})"
    if shape.kind == "count":
        return f"{span} ({len(days)} days)"
    return span


def _en_window(earliest: time | None, latest: time | None, exact: time | None) -> str:
    if exact is not None:
        return f"at {_en_clock(exact)}"
    named = {
        _MORNING: "in the morning",
        _AFTERNOON: "in the afternoon",
        _EVENING: "in the evening",
        _NOON: "around noon",
    }.get((earliest, latest))
    if named is not None:
        return named
    if earliest is not None and latest is not None:
        return f"between {_en_clock(earliest)} and {_en_clock(latest)}"
    if earliest is not None:
        return f"after {_en_clock(earliest)}"
    if latest is not None:
        return f"before {_en_clock(latest)}"
    return ""


# --------------------------------------------------------------------------- Spanish


def _es_day(day: date) -> str:
    return f"{_WEEKDAYS_ES[day.weekday()]} {day.day} de {_MONTHS_ES[day.month - 1]}"


def _es_clock(value: time) -> str:
    """ "las 3 p. m.", "las 10:30 a. m.", "la 1 p. m.", "las 12 del mediodía"."""
    if value == time(12):
        return "las 12 del mediodía"
    hour = value.hour % 12 or 12
    minutes = f":{value.minute:02d}" if value.minute else ""
    article = "la" if hour == 1 else "las"
    return f"{article} {hour}{minutes} {'a. m.' if value.hour < 12 else 'p. m.'}"


def _es_plural(weekdays: tuple[int, ...], conjunction: str) -> str:
    return "los " + _join([_WEEKDAYS_ES_PLURAL[w] for w in weekdays], conjunction)


def _es_days(shape: _Shape) -> str:
    days = shape.days
    if shape.kind == "one":
        return f"el {_es_day(days[0])}"
    if shape.kind == "list":
        return _join([f"el {_es_day(d)}" for d in days], "o")
    span = f"del {_es_day(days[0])} al {_es_day(days[-1])}"
    if shape.kind == "weekdays":
        return f"{span} (solo entre semana)"
    if shape.kind == "weekends":
        return f"{span} (solo fines de semana)"
    if shape.kind == "only":
        return f"{span} (solo {_es_plural(shape.weekdays, 'y')})"
    if shape.kind == "not":
        return f"{span} (menos {_es_plural(shape.weekdays, 'y')})"
    if shape.kind == "count":
        return f"{span} ({len(days)} días)"
    return span


def _es_window(earliest: time | None, latest: time | None, exact: time | None) -> str:
    if exact is not None:
        return f"a {_es_clock(exact)}"
    named = {
        _MORNING: "por la mañana",
        _AFTERNOON: "por la tarde",
        _EVENING: "por la noche",
        _NOON: "alrededor del mediodía",
    }.get((earliest, latest))
    if named is not None:
        return named
    if earliest is not None and latest is not None:
        return f"entre {_es_clock(earliest)} y {_es_clock(latest)}"
    if earliest is not None:
        return f"después de {_es_clock(earliest)}"
    if latest is not None:
        return f"antes de {_es_clock(latest)}"
    return ""


def describe(
    days: tuple[date, ...],
    earliest: time | None,
    latest: time | None,
    exact: time | None,
    *,
    language: str = "en",
) -> str:
    """Short text for confirmations.

    Args:
        days: The preference's days, ascending and unique (at least one).
        earliest: Inclusive lower bound of the window, or None.
        latest: Exclusive upper bound of the window, or None.
        exact: The exact time named, or None.
        language: ``"en"`` or ``"es"``; anything else is read as English.

    Returns:
        For example ``"Tuesday, Dec 1 after 3:00 PM"`` or, in Spanish, ``"el martes 1 de
        diciembre, después de las 3 p. m."``.
    """
    if any(a >= b for a, b in pairwise(days)) or not days:
        raise ValueError("days must be non-empty, ascending and unique")
    shape = _shape(days)
    if language == "es":
        when = _es_window(earliest, latest, exact)
        text = _es_days(shape)
        return f"{text}, {when}" if when else text
    when = _en_window(earliest, latest, exact)
    text = _en_days(shape)
    return f"{text} {when}" if when else text
