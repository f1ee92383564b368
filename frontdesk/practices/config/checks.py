"""Whole-file checks of a practice file: what no single field can know on its own.

Each problem comes with its location in the file (the same path pydantic uses), which
`loading.py` turns into a line number.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from frontdesk.auth.origins import InvalidOriginError, normalize_origin
from frontdesk.practices.config.schema import (
    WEEKDAYS,
    OtherLanguage,
    PracticeFile,
    Week,
    parse_span,
)

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]


def e164_problem(value: str) -> str | None:
    """Why `value` is not an E.164 number (`+15555550100`), or None if it is one."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return f"{value!r} is not a phone number in E.164 form (e.g. +15555550100)"
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_possible_number(number):
        return f"{value!r} has the wrong number of digits for its country"
    if formatted != value:
        return f"{value!r} is not in E.164 form: write it as {formatted}"
    return None


def check_practice(practice: PracticeFile) -> list[tuple[Loc, str]]:
    """Every whole-file problem, in file order."""
    return [
        *_timezone(practice),
        *_phones(practice),
        *_duplicates(practice),
        *_references(practice),
        *_hours(practice),
        *_origins(practice),
        *_experiments(practice),
    ]


def _timezone(practice: PracticeFile) -> Found:
    try:
        ZoneInfo(practice.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        yield (
            ("timezone",),
            (f"{practice.timezone!r} is not a time zone (use an IANA name like America/New_York)"),
        )


def _phones(practice: PracticeFile) -> Found:
    numbers: list[tuple[Loc, str | None]] = [(("phone",), practice.phone)]
    numbers += [(("locations", i, "phone"), loc.phone) for i, loc in enumerate(practice.locations)]
    numbers += [(("sms_numbers", i, "phone"), n.phone) for i, n in enumerate(practice.sms_numbers)]
    if practice.billing is not None:
        numbers.append((("billing", "phone"), practice.billing.phone))
    for loc, value in numbers:
        problem = e164_problem(value) if value is not None else None
        if problem:
            yield loc, problem


def _repeated(section: str, keys: Sequence[str], what: str) -> Found:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            yield (section, index), f"{what} {key!r} is listed twice"
        seen.add(key)


def _duplicates(practice: PracticeFile) -> Found:
    yield from _repeated("locations", [loc.name for loc in practice.locations], "location")
    yield from _repeated("providers", [p.name for p in practice.providers], "provider")
    yield from _repeated("visit_types", [v.code for v in practice.visit_types], "visit type")
    yield from _repeated("sms_numbers", [n.phone for n in practice.sms_numbers], "SMS number")
    yield from _repeated("widget_origins", list(practice.widget_origins), "origin")


def _references(practice: PracticeFile) -> Found:
    locations = {loc.name for loc in practice.locations}
    providers = {provider.name for provider in practice.providers}
    for index, provider in enumerate(practice.providers):
        if provider.location not in locations:
            yield (
                ("providers", index, "location"),
                (f"unknown location {provider.location!r} (locations: {_names(locations)})"),
            )
    for index, visit in enumerate(practice.visit_types):
        for number, name in enumerate(visit.providers):
            if name not in providers:
                yield (
                    ("visit_types", index, "providers", number),
                    (f"unknown provider {name!r} (providers: {_names(providers)})"),
                )
    for index, closure in enumerate(practice.exceptions):
        if closure.provider is not None and closure.provider not in providers:
            yield (
                ("exceptions", index, "provider"),
                (f"unknown provider {closure.provider!r} (providers: {_names(providers)})"),
            )


def _names(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _overlaps(week: Week, loc: Loc) -> Found:
    for name, (_number, spans) in zip(WEEKDAYS, week.days(), strict=True):
        ordered = sorted(enumerate(spans), key=lambda item: parse_span(item[1]))
        for (_, before), (index, after) in pairwise(ordered):
            if parse_span(after)[0] < parse_span(before)[1]:
                yield (*loc, name, index), f"{after} overlaps {before} on {name.capitalize()}"


def _hours(practice: PracticeFile) -> Found:
    if practice.office_hours is not None:
        yield from _overlaps(practice.office_hours, ("office_hours",))
    for index, provider in enumerate(practice.providers):
        yield from _overlaps(provider.hours, ("providers", index, "hours"))


def _origins(practice: PracticeFile) -> Found:
    for index, origin in enumerate(practice.widget_origins):
        try:
            normalized = normalize_origin(origin)
        except InvalidOriginError:
            yield (
                ("widget_origins", index),
                (f"{origin!r} is not an origin (use scheme://host or scheme://host:port)"),
            )
            continue
        if normalized != origin:
            yield ("widget_origins", index), f"write {origin!r} as {normalized!r}"


def _experiments(practice: PracticeFile) -> Found:
    """Keys are unique and no two experiments cover the same day (one arm per reminder)."""
    yield from _repeated(
        "reminder_experiments", [e.key for e in practice.reminder_experiments], "experiment key"
    )
    spans = sorted(
        (e.starts_on, e.ends_on or date.max, index)
        for index, e in enumerate(practice.reminder_experiments)
    )
    latest: tuple[date, int] | None = None  # the furthest end so far, and whose it is
    for start, end, index in spans:
        if latest is not None and start <= latest[0]:
            yield (
                ("reminder_experiments", index, "starts_on"),
                f"overlaps experiment {practice.reminder_experiments[latest[1]].key!r}: "
                "run one experiment at a time",
            )
        if latest is None or end > latest[0]:
            latest = (end, index)


def untranslated(practice: PracticeFile, language: OtherLanguage = "es") -> list[str]:
    """The practice's own texts a patient writing in `language` would read as written.

    Not a problem (a practice may speak one language), but worth telling whoever writes the
    file: `practice validate` lists them.
    """
    translation = practice.translations.get(language)
    written = {
        "cancellation.policy": (practice.cancellation.policy, "cancellation_policy"),
        "cancellation.fee_text": (practice.cancellation.fee_text, "late_cancel_fee"),
        "billing.payment_methods": (
            practice.billing.payment_methods if practice.billing else None,
            "payment_methods",
        ),
        "reminders.post_visit_message": (
            practice.reminders.post_visit_message if practice.reminders else None,
            "post_visit_message",
        ),
    }
    missing = [
        where
        for where, (text, key) in written.items()
        if text and not (translation and getattr(translation, key))
    ]
    missing += [
        f"visit type {visit.code}"
        for visit in practice.visit_types
        if visit.active and language not in visit.names
    ]
    return missing
