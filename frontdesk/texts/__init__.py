"""The service's own patient-facing texts, in every language Frontdesk answers in.

What the bot says lives in `bot/domain`; what the service composes without Rasa (reminders,
follow-ups, waitlist offers, one-time codes and identity answers, "one moment" notices) lives
here, one YAML file per language (`en.yml`, `es.yml`) with the same dotted keys and the same
named placeholders. `text("reminder.lead", Language.ES, practice=..., when=...)` looks one up;
a key missing in a language is an error, never an English fallback (the catalogue test checks
every key and placeholder). `for_sms` makes a text GSM-7 friendly before it is texted.
"""

from __future__ import annotations

import functools
import re
import string
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from frontdesk.language import DEFAULT_LANGUAGE, Language

__all__ = [
    "MissingTextError",
    "catalogue",
    "clock",
    "for_sms",
    "moment",
    "month_name",
    "placeholders",
    "remembered_language",
    "text",
    "tidy",
    "weekday_name",
]

# GSM-7 has é ñ ü à ¿ ¡ (and É Ñ Ü), not á í ó ú: those four alone would turn a whole SMS into
# UCS-2 (70 characters a segment instead of 160), so texts lose only those accents.
_UCS2_VOWELS = str.maketrans("áíóúÁÍÓÚ", "aiouAIOU")
_DOUBLED_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")


class MissingTextError(KeyError):
    """A text key that a language's catalogue lacks (or that names a section, not a text)."""


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            raise TypeError(f"text {name!r} is not a string")
    return flat


@functools.cache
def catalogue(language: Language) -> dict[str, str]:
    """Every text of one language, by dotted key (read once from the package's YAML)."""
    raw = resources.files("frontdesk.texts").joinpath(f"{language.value}.yml").read_text("utf-8")
    loaded = yaml.safe_load(raw)
    if not isinstance(loaded, dict):
        raise TypeError(f"{language.value}.yml is not a mapping of texts")
    return _flatten(loaded)


def placeholders(template: str) -> frozenset[str]:
    """The named placeholders a text expects ("{practice}" -> "practice")."""
    return frozenset(
        field for _, field, _, _ in string.Formatter().parse(template) if field is not None
    )


def text(key: str, language: Language | str, /, **params: object) -> str:
    """The text `key` in `language`, its placeholders filled from `params`.

    Raises:
        MissingTextError: the language has no such text.
        KeyError: a placeholder the text needs was not given.
    """
    texts = catalogue(Language(language))
    try:
        template = texts[key]
    except KeyError:
        raise MissingTextError(f"no text {key!r} in {Language(language).value}") from None
    if not (params or placeholders(template)):
        return template
    return tidy(template.format(**params))


def tidy(filled: str) -> str:
    """A filled-in text with the period of a sentence-ending abbreviation not doubled.

    "… a la 1:45 p. m.. ¡Nos vemos!" becomes "… p. m. ¡Nos vemos!": a placeholder that ends a
    sentence with an abbreviation absorbs the sentence's period (as Spanish writes it). The
    bot's own responses, filled in by Rasa, pass here too (`connectors.bridge`).
    """
    return _DOUBLED_PERIOD.sub(".", filled)


def remembered_language(code: str | None) -> Language:
    """A stored language preference ("es", "es-MX", "ES", None) as a language we answer in.

    A preference we do not serve (or none) gets the default language.
    """
    primary = (code or "").strip().lower().split("-")[0]
    return (
        Language(primary)
        if primary in {language.value for language in Language}
        else (DEFAULT_LANGUAGE)
    )


def for_sms(body: str) -> str:
    """The same text with á í ó ú unaccented, so that it travels as GSM-7 (see the note)."""
    return body.translate(_UCS2_VOWELS)


def moment(when: datetime, tz: ZoneInfo, language: Language | str) -> str:
    """A moment as patients read it in a sentence, local time: `Tue, Dec 1 at 3:00 PM`,
    `martes 1 de diciembre a las 3:00 p. m.`."""
    local = when.astimezone(tz)
    weekday = text("date.weekdays", language).split("|")[local.weekday()]
    month = text("date.months", language).split("|")[local.month - 1]
    return text(
        "date.moment",
        language,
        weekday=weekday,
        month=month,
        day=local.day,
        clock=clock(local, language),
    )


def clock(local: datetime, language: Language | str) -> str:
    """A local time of day: `3:05 PM`, `3:05 p. m.`."""
    am_pm = text("date.am" if local.hour < 12 else "date.pm", language)
    return text(
        "date.clock",
        language,
        hour=local.hour % 12 or 12,
        minute=f"{local.minute:02d}",
        am_pm=am_pm,
    )


def month_name(local: datetime, language: Language | str) -> str:
    """The month of a local date as the catalogue spells it (`Dec`, `diciembre`)."""
    return text("date.months", language).split("|")[local.month - 1]


def weekday_name(local: datetime, language: Language | str) -> str:
    """The weekday of a local date as the catalogue spells it (`Tue`, `martes`)."""
    return text("date.weekdays", language).split("|")[local.weekday()]
