"""Spanish time preferences: Spanish wording in, the English parser's canonical wording out.

Patients writing in Spanish answer "¿cuándo le gustaría venir?" with "el martes después de
las 3", "mañana por la mañana", "lo antes posible" or, texting, "manana en la tarde", "el prox
martes". Rather than a second parser with rules of its own, `to_canonical` rewrites the
Spanish into the wording `frontdesk.scheduling.timeprefs` already understands ("next tuesday
after 3", "tomorrow morning", "asap"), so one set of interpretation rules (its module
docstring) holds in both languages. The rewrite rules are data: ``data/timeprefs-es.txt``,
applied in order.

Differences from English, decided here:

* Numeric dates are day/month, as Spanish writes them: "14/3" is 14 March.
* "<weekday> <number>" ("el viernes 4") is a date, the 4th, not 4 PM; the weekday must agree
  with it, as in English. "a las 4" is the time, with the English bare-hour rules (1-7 PM).
* "mañana" alone is tomorrow; after an article or preposition ("la mañana", "por la
  mañana", "en la mañana", "de la mañana") it is the morning.
* A negation may follow what it negates: "el lunes no puedo" = "not monday".
* "el 15" (a bare day after the article) is the 15th of the month.
* Something known to be unreadable ("el 14 de marzp", "las 4 menos cuarto") makes the text
  unrecognised, so the bot asks again instead of booking around the missing part.
* When the Spanish reading finds nothing, `parse_time_preference` reads the text once more as
  English: patients mix the two ("ok next tue after 3").

Like the English parser this is pure: no I/O besides reading its data file once, no logging.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Final

__all__ = ["to_canonical"]

_MACROS: Final = {
    "{wd}": "(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)",
    "{mon}": (
        "(?:january|february|march|april|may|june|july|august|september|october|november|december)"
    ),
    "{n}": r"\d{1,2}",
}
_RULE_SEPARATOR: Final = re.compile(r"\s+=>(?:\s+|$)")
_SPACES: Final = re.compile(r"\s+")
_UNREADABLE: Final = "!"


@lru_cache(maxsize=1)
def _rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    text = resources.files("frontdesk.scheduling").joinpath("data", "timeprefs-es.txt")
    rules = []
    for line in text.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = _RULE_SEPARATOR.split(line, maxsplit=1)
        if len(parts) != 2:  # a rule without its arrow would otherwise delete words silently
            raise ValueError(f"timeprefs-es.txt: not a rule: {line!r}")
        pattern, replacement = parts
        for name, value in _MACROS.items():
            pattern = pattern.replace(name, value)
        compiled = re.compile(rf"(?<![a-z0-9])(?:{pattern.strip()})(?![a-z0-9])")
        rules.append((compiled, f" {replacement.strip()} "))
    return tuple(rules)


def _fold(text: str) -> str:
    """Lower-case, accents off ("mañana" -> "manana"), Spanish punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = re.sub(r"\b([ap])\s*\.\s*m\b\.?", r"\1m", text)  # "p. m." -> "pm"
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # dots only matter in "3.30"
    text = re.sub(r"[¿¡!?\"()]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def to_canonical(text: str, *, max_chars: int) -> str | None:
    """Rewrite a Spanish time preference into the English parser's wording.

    Args:
        text: What the patient typed.
        max_chars: Only this many characters are read (the parser's input cap), so pasted
            text costs bounded work.

    Returns:
        English-wording text for `frontdesk.scheduling.timeprefs.parse_time_preference`
        (words with no meaning for a time preference are dropped), or None when the text
        holds something known to be unreadable ("el 14 de marzp"), which must not be
        guessed around.
    """
    text = f" {_fold(text[:max_chars])} "
    for pattern, replacement in _rules():
        # One space between words after every rule, so the next rule's phrases still match.
        text = _SPACES.sub(" ", pattern.sub(replacement, text))
    return None if _UNREADABLE in text.split() else text.strip()
