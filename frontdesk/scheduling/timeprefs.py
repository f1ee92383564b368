"""Turn a patient's free-text time preference into a structured `TimePreference`.

Patients answer "when would you like to come in?" with text such as "next tue after 3",
"tomorrow morning", "asap" or "monday or wednesday afternoon". `parse_time_preference`
reads that text in the practice's time zone, relative to a caller-supplied ``now``, and
returns candidate local dates plus a local wall-clock window for the slot finder.

The parser works only with calendar dates and wall-clock times, never with datetime
arithmetic, so daylight-saving changes cannot shift a day or an hour. It is pure: no I/O,
no logging, and error messages never repeat the patient's text (it may contain PHI).

Spanish (``language="es"``) is read by the same rules: `frontdesk.scheduling.timeprefs_es`
rewrites it into this parser's wording first and lists the few Spanish-specific readings
(day/month dates, "el viernes 4" as a date). `TimePreference.describe` speaks both.

Interpretation choices (one place for confirmations, tests and support to point at):

* Weeks run Monday to Sunday.
* ``<weekday>`` alone is its next occurrence, today included. ``next <weekday>`` (also
  ``coming`` / ``this coming``) is the first such weekday strictly after today, never today:
  on a Saturday "next tue" is the Tuesday three days away. ``this <weekday>`` is that day of
  the current week and fails with ``in_past`` once it has gone; ``last <weekday>`` always
  fails with ``in_past``. Several weekdays ("monday or wed", "mon, tue and fri") give
  several days, and a leading ``next``/``this`` carries over the list.
* A bare weekday next to a period narrows the period: "tuesday next week", "fridays in
  december", "thursday in 2 weeks". Plurals ("mondays", "every monday") mean every such day
  in the period, or in the default horizon when no period is named.
* "this week" is today..Sunday; "next week" is next Monday..Sunday; "weekend" / "this
  weekend" is the current weekend's remaining days on a Saturday or Sunday, else the coming
  Saturday and Sunday; "next weekend" is the weekend of next week. "early next week" is
  Monday..Wednesday, "late/later/end of the week" is Thursday..Sunday.
* "in N days" is that single day; "in N weeks" / "in N months" is the 7 days starting then,
  because patients rarely mean that exact date. "within N days/weeks" and "the next N
  days" run from today.
* Explicit dates: "dec 3", "december 3rd", "3 dec", "december third", "12/3" (US
  month/day), "12/3/2026", "2026-12-03", "the 15th". A month/day without a year that has
  already passed this year is read as a typo and fails with ``in_past`` if it is at most
  `PAST_DATE_GRACE_DAYS` days ago; older ones roll to next year ("jan 5" said in November).
  A bare day of month ("the 15th") is the next date with that day number. A weekday in
  front of a date must agree with it ("fri dec 4"); otherwise the text is ``unrecognised``.
  "dec 3-5" and "dec 28 to jan 3" are ranges, "dec 3 or 5" two days, "in december" /
  "early december" the month or its first ten days. A month name the parser cannot place
  makes the text ``unrecognised`` rather than being dropped.
  ``dateparser`` is only consulted, last, for month-name dates the rules above missed.
* "by <day>" / "until <day>" is today..that day; "before <day>" stops the day before;
  "after <day>" and "from <day>" open a `DEFAULT_HORIZON_DAYS` window after / from it.
* Times: morning 00:00-12:00, afternoon 12:00-17:00, evening / night / tonight / after
  work 17:00-end, noon / lunch 11:30-13:30, "early" / "first thing" = morning, "late" =
  15:00-end. A bare hour 1-7 is PM, 8-11 AM, 12 noon (clinic hours), unless a part of day
  says otherwise ("at 8 in the evening"). A named time ("at 10", "2pm", "14:00") sets
  `TimePreference.exact` with a window of one hour either side; exact times override
  other time words. Several exact times ("10am or 2pm") give one window over all of them
  and no single exact time. Several parts of day ("morning or evening") widen to their span. A bare
  number is only taken as a time when it directly follows a day ("friday 3"); otherwise it
  is ignored, and it never becomes a date.
* Negations exclude weekdays or parts of day ("not monday", "no mornings", "busy
  friday"). A negation the parser cannot apply makes the text ``unrecognised`` rather than
  silently inverting what the patient said.
* With no day words, the preference covers `DEFAULT_HORIZON_DAYS` days from today, today
  included even if its window has passed (the slot finder drops past times). Days more
  than `MAX_HORIZON_DAYS` ahead fail with ``too_far`` when named explicitly; periods that
  run past the limit are cut short.
"""

from __future__ import annotations

import calendar
import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfo

from frontdesk.scheduling.timeprefs_es import to_canonical
from frontdesk.scheduling.timeprefs_wording import describe

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "MAX_HORIZON_DAYS",
    "MAX_INPUT_CHARS",
    "PAST_DATE_GRACE_DAYS",
    "TimePreference",
    "TimePreferenceError",
    "parse_time_preference",
]

DEFAULT_HORIZON_DAYS: Final = 14
MAX_HORIZON_DAYS: Final = 180
# Real preferences are short; capping the input bounds the work done on pasted text.
MAX_INPUT_CHARS: Final = 200
PAST_DATE_GRACE_DAYS: Final = 60

_END_OF_DAY: Final = 24 * 60  # minutes; internal stand-in for "latest = None"
_EXACT_BEFORE: Final = 60
_EXACT_AFTER: Final = 61  # latest is exclusive, so the slot exactly one hour later still fits

_WEEKDAY_NAMES: Final = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


class TimePreferenceError(ValueError):
    """The text could not be turned into a usable time preference.

    Attributes:
        reason: Machine-readable cause: ``"unrecognised"``, ``"in_past"`` or ``"too_far"``.
        message: Explanation for logs and developers; never contains the patient's text.
    """

    def __init__(self, reason: str, message: str) -> None:
        """Create the error.

        Args:
            reason: One of ``"unrecognised"``, ``"in_past"``, ``"too_far"``.
            message: Human-readable explanation.
        """
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[type[TimePreferenceError], tuple[str, str]]:
        # The default reduction replays ``args`` (the message only), which does not fit
        # this two-argument constructor, so pickling across processes would break.
        return (type(self), (self.reason, self.message))


@dataclass(frozen=True)
class TimePreference:
    """When a patient would like an appointment, in the practice's local time.

    Attributes:
        days: Candidate local calendar dates, ascending and unique.
        earliest: Inclusive local lower bound; None means start of day.
        latest: Exclusive local upper bound; None means end of day.
        exact: The specific time the patient named, if any; `earliest` and `latest` then
            hold a window of about an hour either side of it.
    """

    days: tuple[date, ...]
    earliest: time | None = None
    latest: time | None = None
    exact: time | None = None

    def __post_init__(self) -> None:
        """Reject shapes the slot finder cannot use.

        Raises:
            ValueError: If `days` is empty or not strictly ascending, or the window is empty.
        """
        if not self.days:
            raise ValueError("a time preference needs at least one day")
        if any(a >= b for a, b in pairwise(self.days)):
            raise ValueError("days must be ascending and unique")
        if self.earliest is not None and self.latest is not None and self.earliest >= self.latest:
            raise ValueError("earliest must be before latest")

    def describe(self, language: str = "en") -> str:
        """Short text for confirmations, in the conversation's language.

        Args:
            language: ``"en"`` (the default) or ``"es"``.

        Returns:
            For example ``"Tuesday, Dec 1 after 3:00 PM"`` or
            ``"Mon, Nov 30 – Sun, Dec 6 in the afternoon"``; in Spanish ``"el martes 1 de
            diciembre, después de las 3 p. m."``. Years are left out: every preference lies
            within `MAX_HORIZON_DAYS`, so month and day are unambiguous.
        """
        return describe(self.days, self.earliest, self.latest, self.exact, language=language)


def parse_time_preference(
    text: str, *, now: datetime, tz: ZoneInfo, language: str = "en"
) -> TimePreference:
    """Interpret a patient's free-text time preference.

    See the module docstring for the interpretation rules; Spanish follows the same rules
    (`frontdesk.scheduling.timeprefs_es` lists the few Spanish-specific readings).

    Args:
        text: What the patient typed. Only the first `MAX_INPUT_CHARS` characters are read.
        now: The current instant; must be timezone-aware. It is converted to `tz` to decide
            what "today" is.
        tz: The practice's time zone.
        language: The conversation's language, ``"en"`` (the default) or ``"es"``; anything
            else is read as English. Spanish text is rewritten into the English wording
            first. Patients mix languages, so when that reading finds nothing the text is
            read once more as English ("ok next tue after 3" in a Spanish conversation).

    Returns:
        The structured preference.

    Raises:
        ValueError: If `now` is naive.
        TimePreferenceError: With reason ``"unrecognised"`` when nothing usable was found
            (or the text contradicts itself), ``"in_past"`` when it names only past days,
            ``"too_far"`` when it names days beyond `MAX_HORIZON_DAYS`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    local_now = now.astimezone(tz)
    if language != "es":
        return _Parser(_normalise(text), local_now).parse()
    canonical = to_canonical(text, max_chars=MAX_INPUT_CHARS)
    if canonical is None:
        # Something Spanish we know we cannot read ("el 14 de marzp"): never guess around it.
        raise _unrecognised("Could not read the Spanish date or time.")
    try:
        return _Parser(_normalise(canonical), local_now).parse()
    except TimePreferenceError as spanish_error:
        if spanish_error.reason != "unrecognised":
            raise
        try:
            return _Parser(_normalise(text), local_now).parse()
        except TimePreferenceError:
            raise spanish_error from None


# --------------------------------------------------------------------------- vocabulary

_WEEKDAY_WORDS: Final[dict[str, int]] = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "weds": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
_MONTH_WORDS: Final[dict[str, int]] = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
_ORDINAL_WORDS: Final[dict[str, int]] = {
    word: number
    for number, word in enumerate(
        [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
            "eleventh",
            "twelfth",
            "thirteenth",
            "fourteenth",
            "fifteenth",
            "sixteenth",
            "seventeenth",
            "eighteenth",
            "nineteenth",
            "twentieth",
        ],
        start=1,
    )
} | {
    **{f"twenty{w}": 20 + n for w, n in (("first", 1), ("second", 2), ("third", 3))},
    **{
        f"twenty{w}": 20 + n
        for n, w in enumerate(("fourth", "fifth", "sixth", "seventh", "eighth", "ninth"), 4)
    },
    "thirtieth": 30,
    "thirtyfirst": 31,
}
_NUMBER_WORDS: Final[dict[str, int]] = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "couple": 2,
    "few": 3,
}

# Close misspellings of these are corrected before parsing ("tomorow", "wensday").
_FUZZY_VOCAB: Final = (
    *(name.lower() for name in _WEEKDAY_NAMES),
    *(name.lower() + "s" for name in _WEEKDAY_NAMES),
    "tomorrow",
    "yesterday",
    "morning",
    "mornings",
    "afternoon",
    "afternoons",
    "evening",
    "evenings",
    "tonight",
    "weekend",
    "weekends",
    "weekday",
    "weekdays",
    "anytime",
    "whenever",
    "january",
    "february",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_FUZZY_MIN_LENGTH: Final = 6  # shorter words ("right" ~ "night") are too easily confused
_FUZZY_CUTOFF: Final = 0.8


@lru_cache(maxsize=1024)
def _correct_word(word: str) -> str:
    if len(word) < _FUZZY_MIN_LENGTH or word in _FUZZY_VOCAB:
        return word
    matches = difflib.get_close_matches(word, _FUZZY_VOCAB, n=1, cutoff=_FUZZY_CUTOFF)
    return matches[0] if matches else word


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:MAX_INPUT_CHARS]).lower()
    text = re.sub(r"['‘’`´]", "", text)  # can't -> cant, o'clock -> oclock
    text = re.sub(r"[‐‑‒–—―−~]", "-", text)
    text = text.replace("@", " at ").replace("&", " and ")
    text = re.sub(r"\b([ap])\s*\.\s*m\b\.?", r"\1m", text)  # a.m. -> am
    # Dots only matter inside clock times ("2.30"); elsewhere they end abbreviations.
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    text = re.sub(r"[^a-z0-9:/,\-\s.]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"[a-z]+", lambda m: _correct_word(m.group(0)), text)
    text = re.sub(r"\bo\s*clock\b", "oclock", text)
    text = re.sub(r"(\d)\s*-?\s*ish\b", r"\1 ish", text)
    text = re.sub(r"\b12\s*noon\b", "noon", text)
    text = re.sub(r"\b(twenty|thirty)[\s-]+(?=[a-z]+(?:st|nd|rd|th)\b)", r"\1", text)
    return text


# --------------------------------------------------------------------------- patterns

_WD: Final = (
    r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)days?|mon|tues?|weds?|thu(?:rs?)?|fri|sat|sun)"
)
_MONTH: Final = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
)
_ORDW: Final = "(?:" + "|".join(sorted(_ORDINAL_WORDS, key=len, reverse=True)) + ")"
_QTY: Final = (
    r"(?:\d{1,3}|a\s+couple(?:\s+of)?|couple(?:\s+of)?|a\s+few|few|an?|one|two|three|four|"
    r"five|six|seven|eight|nine|ten|eleven|twelve)"
)
_SEP: Final = r"(?:\s*,\s*(?:or\s+|and\s+)?|\s*/\s*|\s+(?:or|and|nor)\s+)"
# No commas: in "busy friday, thursday after 2" the comma ends the negation.
_NEG_SEP: Final = r"(?:\s*/\s*|\s+(?:or|and|nor)\s+)"
_MOD: Final = r"(?:this\s+coming|next|this|coming|last|every|any|on)"
_WD_ITEM: Final = rf"(?:(?P<mod>{_MOD})\s+)?(?P<wd>{_WD})\b"
_WD_ITEM_PLAIN: Final = rf"(?:{_MOD}\s+)?{_WD}\b"
_DEADLINE: Final = (
    r"(?:(?P<pre>by|before|until|till|til|after|from|starting(?:\s+(?:on|from))?|beginning)"
    r"\s+(?:on\s+)?)?"
)
_DATE_WD: Final = rf"(?:(?P<dwd>{_WD})\b\s*,?\s*(?:the\s+)?)?"
_YEAR: Final = r"(?:\s*,?\s*(?P<y>20\d{2})\b)?"
_NEG_TRIGGER: Final = (
    r"(?:not|except(?:\s+for)?|excluding|other\s+than|besides|but\s+not|anything\s+but|"
    r"any\s*(?:day|time)\s+but|no|never|cant|cannot|can\s+not|dont|do\s+not|wont|will\s+not|"
    r"unavailable|busy|avoid)"
)
_NEG_FILLER: Final = (
    r"(?:(?:do|make\s+it|come\s+in|come|go|work|available|free|able\s+to\s+(?:do|come|go)|"
    r"good|ok|okay)\s+)?"
)
_NEG_PART: Final = (
    r"(?:early\s+mornings?|mornings?|afternoons?|evenings?|nights?|weekends?|early|late|"
    r"lunch\s*time|lunch|am|pm)"
)
_UNIT_EXCLUSION: Final = r"(?!\s*(?:days?|weeks?|months?|hours?|hrs?|minutes?|mins?)\b)"


def _t(p: str) -> str:
    """A clock-time pattern whose groups are prefixed with `p` (several per pattern)."""
    return (
        rf"(?:\b(?P<{p}noon>noon|midday)\b|(?<![\w/:.])(?P<{p}h>\d{{1,2}})"
        rf"(?:[:.](?P<{p}m>\d{{2}}))?(?!\d)(?:\s*(?P<{p}mer>am|pm)|(?P<{p}ap>[ap]))?(?![a-z0-9]))"
    )


def _c(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_FLEXIBLE: Final = _c(
    r"\b(?:asap|a\s?s\s?a\s?p|as\s+soon\s+as\s+(?:possible|poss|you\s+can|available)|soonest|"
    r"(?<!at\s)(?<!at\sthe\s)(?:the\s+)?earliest(?:\s+(?:available|possible|slot|appointment|opening|time))?|"
    r"(?:first|1st|next)\s+(?:available|possible|opening|open\s+slot|slot|appointment)|soon|"
    r"whenever|(?:any\s*time|any\s+day|anything|any\s+slot)(?!\s+(?:but|except|other))|"
    r"whatever(?:\s+works)?|no\s+(?:preference|pref|rush|hurry)|"
    r"(?:doesnt|does\s+not|dont|do\s+not)\s+(?:matter|mind|care)|not\s+(?:fussy|picky|bothered)|"
    r"flexible|either|24\s*/\s*7|right\s+now|(?<!from\s)now|right\s+away|immediately|urgent(?:ly)?)\b"
)
_FILLER: Final = _c(r"\b(?:not\s+sure|dont\s+know|do\s+not\s+know|not\s+certain)\b")
_NEGATION: Final = _c(
    rf"\b{_NEG_TRIGGER}\s+{_NEG_FILLER}(?:(?:on|in\s+the|the|any|during\s+the)\s+)?"
    rf"(?P<what>{_WD}\b(?:{_NEG_SEP}{_WD}\b)*|{_NEG_PART}\b)"
)
_NEG_LEFTOVER: Final = _c(
    r"\b(?:not|except|excluding|other\s+than|besides|never|cant|cannot|dont|wont|"
    r"unavailable|busy|avoid)\b"
)

_ISO_DATE: Final = _c(
    rf"\b{_DEADLINE}{_DATE_WD}(?P<y>\d{{4}})-(?P<mo>\d{{1,2}})-(?P<d>\d{{1,2}})(?![\d/-])"
)
_SLASH_DATE: Final = _c(
    rf"\b{_DEADLINE}{_DATE_WD}(?<![\d/])(?P<mo>\d{{1,2}})/(?P<d>\d{{1,2}})"
    rf"(?:/(?P<y>\d{{4}}|\d{{2}}))?(?![\d/])"
)
_MONTH_DAY: Final = _c(
    rf"\b{_DEADLINE}{_DATE_WD}(?P<mon>{_MONTH})\s*,?\s*(?:the\s+)?(?P<d>\d{{1,2}})"
    rf"(?:st|nd|rd|th)?\b(?![:.]\d){_YEAR}"
)
_MONTH_ORDW: Final = _c(
    rf"\b{_DEADLINE}{_DATE_WD}(?P<mon>{_MONTH})\s*,?\s*(?:the\s+)?(?P<w>{_ORDW})\b{_YEAR}"
)
_ORDW_MONTH: Final = _c(
    rf"\b{_DEADLINE}{_DATE_WD}(?:the\s+)?(?P<w>{_ORDW})\s+(?:of\s+)?(?P<mon>{_MONTH})\b{_YEAR}"
)
_DAY_MONTH: Final = _c(
    rf"\b{_DEADLINE}{_DATE_WD}(?:the\s+)?(?<![\w/:.])(?P<d>\d{{1,2}})(?P<suf>st|nd|rd|th)?"
    rf"\s*(?P<of>(?:day\s+)?of\s+)?(?P<mon>{_MONTH})\b{_YEAR}"
)
_ORDINAL_DAY: Final = _c(
    rf"\b{_DEADLINE}{_DATE_WD}(?:the\s+)?(?<![\w/:.])(?P<d>\d{{1,2}})(?:st|nd|rd|th)\b"
)
_IN_MONTH: Final = _c(
    rf"\b(?:(?P<when>early|mid|late|end\s+of|beginning\s+of|start\s+of)|in|during|"
    rf"sometime\s+in|some\s+time\s+in|anytime\s+in|for)\s+(?:the\s+month\s+of\s+)?"
    rf"(?:(?:in|of)\s+)?(?P<mon>{_MONTH})\b(?!\s*\d)"
)
_MONTH_TOKEN: Final = _c(rf"\b{_MONTH}\b")
_VERB_MONTHS: Final = frozenset({"may", "march", "mar"})
_FALLBACK_TRIES: Final = 3
_DATE_RANGE: Final = _c(
    rf"\b(?:(?P<between>between)\s+|from\s+)?(?P<mon>{_MONTH})\s*(?:the\s+)?(?P<d>\d{{1,2}})"
    rf"(?:st|nd|rd|th)?\s*(?:-|to\b|through\b|thru\b|until\b|till\b|(?P<and>and\b|or\b|,))\s*"
    rf"(?:(?P<mon2>{_MONTH})\s*)?(?:the\s+)?(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\b"
    rf"(?!\s*(?:am|pm|[ap]\b|[:.]\d|oclock))"
)

_WEEKDAY_RANGE: Final = _c(
    rf"\b(?:(?:between|from)\s+)?(?:(?P<mod>next|this\s+coming|this|coming)\s+)?(?P<a>{_WD})"
    rf"(?:\s*-\s*|\s+(?:to|through|thru|till|until|til)\s+)(?P<b>{_WD})\b"
)
_WEEKDAY_BETWEEN: Final = _c(
    rf"\bbetween\s+(?:(?P<mod>next|this\s+coming|this|coming)\s+)?(?P<a>{_WD})\s+and\s+"
    rf"(?P<b>{_WD})\b"
)
_WEEKDAY_DEADLINE: Final = _c(
    rf"\b(?P<pre>by|before|until|till|til|after|from|starting(?:\s+(?:on|from))?|beginning)"
    rf"\s+(?:on\s+)?(?:(?P<mod>next|this\s+coming|this|coming)\s+)?(?P<wd>{_WD})\b"
)
_WEEKDAY_LIST: Final = _c(rf"\b{_WD_ITEM_PLAIN}(?:{_SEP}{_WD_ITEM_PLAIN})*")
_WEEKDAY_ITEM: Final = _c(_WD_ITEM)

_TIME_ANCHOR: Final = _c(
    r"\b(?P<op>after|before|by|until|till|til|not\s+before|not\s+after|no\s+earlier\s+than|"
    r"no\s+later\s+than|earlier\s+than|later\s+than)\s+(?:the\s+)?"
    r"(?P<what>noon|midday|lunch\s*time|lunch|work|school)\b"
)
_TIME_BETWEEN: Final = _c(
    rf"\b(?:between|from)\s+{_t('a')}(?:\s*-\s*|\s+(?:and|to|until|till|til)\s+){_t('b')}"
)
_TIME_RANGE: Final = _c(
    rf"{_t('a')}(?:\s*-\s*|\s+(?:to|until|till|til)\s+){_t('b')}{_UNIT_EXCLUSION}"
)
_TIME_LOWER: Final = _c(
    # The lookbehinds leave "not after 3" and "no later than 3" to the upper-bound rule.
    rf"\b(?:(?<!not\s)after|not\s+before|no\s+earlier\s+than|(?<!no\s)later\s+than|from|"
    rf"starting(?:\s+(?:at|from))?)"
    rf"\s+(?:about\s+|around\s+)?{_t('a')}(?:\s*oclock)?{_UNIT_EXCLUSION}"
)
_TIME_LOWER_SUFFIX: Final = _c(
    rf"{_t('a')}\s*(?:oclock\s*)?(?:or\s+(?:later|after)|onwards?|and\s+(?:later|after)|"
    rf"at\s+the\s+earliest)\b"
)
_TIME_UPPER: Final = _c(
    rf"\b(?:before|by|until|till|til|not\s+after|no\s+later\s+than|earlier\s+than)"
    rf"\s+(?:about\s+|around\s+)?{_t('a')}(?:\s*oclock)?{_UNIT_EXCLUSION}"
)
_TIME_UPPER_SUFFIX: Final = _c(
    rf"{_t('a')}\s*(?:oclock\s*)?(?:or\s+(?:earlier|before)|at\s+the\s+latest)\b"
)
_TIME_EXACT_PREP: Final = _c(
    rf"\b(?:at|around|about|approx(?:imately)?|circa)\s+{_t('a')}(?:\s*oclock)?(?:\s+ish)?"
    rf"{_UNIT_EXCLUSION}"
)
_TIME_EXACT_SUFFIX: Final = _c(rf"{_t('a')}\s*(?:oclock|ish)\b")
_TIME_EXACT_MERIDIEM: Final = _c(
    r"(?<![\w/:.])(?P<ah>\d{1,2})(?:[:.](?P<am>\d{2}))?(?:\s*(?P<amer>am|pm)|(?P<aap>[ap]))"
    r"(?![a-z0-9])"
)
_TIME_EXACT_COLON: Final = _c(r"(?<![\w/:.])(?P<ah>\d{1,2})[:.](?P<am>\d{2})(?![\d:.])")
_TIME_AFTER_DAY: Final = _c(
    rf"#\s*,?\s*(?P<ah>\d{{1,2}})(?:[:.](?P<am>\d{{2}}))?(?![\w/:.]){_UNIT_EXCLUSION}"
)
_NOON: Final = _c(r"\b(?:around\s+|about\s+)?(?:noon|midday|lunch\s*time|lunch)\b")
_PART_COMPOUND: Final = _c(
    r"\b(?P<a>early|late|mid)\s*-?\s*(?:in\s+the\s+)?(?P<b>morning|afternoon|evening)s?\b"
)
_PART_SIMPLE: Final = _c(
    r"\b(?P<p>first\s+thing|mornings?|afternoons?|evenings?|nights?|early|late|am|pm)\b"
)

# (earliest, latest) in minutes, and which half of the day a bare hour then belongs to.
_PARTS: Final[dict[str, tuple[int, int, str | None]]] = {
    "morning": (0, 12 * 60, "am"),
    "afternoon": (12 * 60, 17 * 60, "pm"),
    "evening": (17 * 60, _END_OF_DAY, "pm"),
    "night": (17 * 60, _END_OF_DAY, "pm"),
    "early": (0, 12 * 60, "am"),
    "first thing": (0, 12 * 60, "am"),
    "late": (15 * 60, _END_OF_DAY, "pm"),
    "am": (0, 12 * 60, "am"),
    "pm": (12 * 60, _END_OF_DAY, "pm"),
    "lunch": (11 * 60 + 30, 13 * 60 + 30, None),
    "early morning": (0, 10 * 60, "am"),
    "mid morning": (9 * 60, 11 * 60, "am"),
    "late morning": (10 * 60, 12 * 60, "am"),
    "early afternoon": (12 * 60, 14 * 60, "pm"),
    "mid afternoon": (13 * 60, 16 * 60, "pm"),
    "late afternoon": (15 * 60, 17 * 60, "pm"),
    "early evening": (17 * 60, 19 * 60, "pm"),
    "mid evening": (18 * 60, 20 * 60, "pm"),
    "late evening": (19 * 60, _END_OF_DAY, "pm"),
}
# Bounds implied by "after work", "before lunch" and the like: (lower, upper) per anchor.
_ANCHORS: Final[dict[str, tuple[int, int]]] = {
    "noon": (12 * 60, 12 * 60),
    "midday": (12 * 60, 12 * 60),
    "lunch": (13 * 60, 12 * 60),
    "work": (17 * 60, 9 * 60),
    "school": (15 * 60, 8 * 60),
}
_LOWER_OPS: Final = frozenset({"after", "not before", "no earlier than", "later than"})


# --------------------------------------------------------------------------- date helpers


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _strictly_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday() - 1) % 7 + 1)


def _strictly_before(day: date, weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - weekday - 1) % 7 + 1)


def _week(today: date, offset: int) -> list[date]:
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
    return _span(monday, monday + timedelta(days=6))


def _month(year: int, month: int) -> list[date]:
    last = calendar.monthrange(year, month)[1]
    return _span(date(year, month, 1), date(year, month, last))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if year > date.max.year:
        raise TimePreferenceError("too_far", "That is too far ahead to book.")
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _cycle(first: int, last: int) -> set[int]:
    return {(first + i) % 7 for i in range((last - first) % 7 + 1)}


def _weekday_word(word: str) -> tuple[int, bool]:
    """Weekday index for a matched weekday word, and whether it was plural ("mondays")."""
    if word in _WEEKDAY_WORDS:
        return _WEEKDAY_WORDS[word], False
    return _WEEKDAY_WORDS[word[:-1]], True


def _quantity(text: str) -> int:
    words = re.sub(r"\s+of$", "", text.strip()).split()
    return int(words[-1]) if words[-1].isdigit() else _NUMBER_WORDS[words[-1]]


def _unrecognised(message: str) -> TimePreferenceError:
    return TimePreferenceError("unrecognised", message)


def _in_past() -> TimePreferenceError:
    return TimePreferenceError("in_past", "That day has already passed.")


def _too_far() -> TimePreferenceError:
    return TimePreferenceError(
        "too_far", f"That is more than {MAX_HORIZON_DAYS} days ahead, too far to book."
    )


# --------------------------------------------------------------------------- times


@dataclass(frozen=True)
class _RawTime:
    """A clock time as written, before deciding whether a bare hour is AM or PM."""

    hour: int
    minute: int
    meridiem: str | None
    fixed: bool = False  # noon/midday: already unambiguous


def _raw_time(match: re.Match[str], prefix: str) -> _RawTime:
    groups = match.groupdict()
    if groups.get(prefix + "noon"):
        return _RawTime(12, 0, None, fixed=True)
    hour = int(groups[prefix + "h"])
    minute = int(groups.get(prefix + "m") or 0)
    meridiem = groups.get(prefix + "mer") or {"a": "am", "p": "pm"}.get(
        groups.get(prefix + "ap") or ""
    )
    return _RawTime(hour, minute, meridiem)


def _clock_minutes(raw: _RawTime, context: str | None) -> int:
    """Minutes after midnight for a written time, using clinic-hours rules for bare hours."""
    hour, minute = raw.hour, raw.minute
    if raw.fixed:
        return hour * 60 + minute
    if minute > 59:
        raise _unrecognised("That is not a valid time.")
    if raw.meridiem is not None:
        if not 1 <= hour <= 12:
            raise _unrecognised("That is not a valid time.")
        hour = hour % 12 + (12 if raw.meridiem == "pm" else 0)
    elif hour > 23:
        raise _unrecognised("That is not a valid time.")
    elif hour == 0 or hour >= 12:
        pass  # midnight, noon or already a 24-hour time
    elif context == "pm" or (context is None and hour <= 7):
        # Nobody books a 3 AM visit: without a hint, 1-7 means afternoon/evening.
        hour += 12
    return hour * 60 + minute


def _pair_minutes(start: _RawTime, end: _RawTime, context: str | None) -> tuple[int, int]:
    """Resolve "between 1 and 3pm" style pairs, letting one side's am/pm inform the other."""
    if start.meridiem is None and not start.fixed and end.meridiem and 1 <= start.hour <= 12:
        last = _clock_minutes(end, context)
        first = _clock_minutes(dataclass_replace(start, meridiem=end.meridiem), context)
        if first >= last:  # "between 11 and 1pm": 11 is in the morning
            first = _clock_minutes(start, context)
    elif end.meridiem is None and not end.fixed and start.meridiem and 1 <= end.hour <= 12:
        first = _clock_minutes(start, context)
        last = _clock_minutes(dataclass_replace(end, meridiem=start.meridiem), context)
        if last <= first:  # "between 10am and 2": 2 is in the afternoon
            last = _clock_minutes(end, context)
    else:
        first = _clock_minutes(start, context)
        last = _clock_minutes(end, context)
        bare_start = start.meridiem is None and not start.fixed and 1 <= start.hour <= 7
        if first >= last and bare_start and context is None and first - 12 * 60 < last <= 12 * 60:
            # "between 7 and 9": the clinic-hours PM guess for 7 made a morning range backwards.
            first -= 12 * 60
    if first >= last:
        raise _unrecognised("The time range is backwards.")
    return first, last


def _as_time(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


# --------------------------------------------------------------------------- parser


_Handler = Callable[[re.Match[str]], bool | None]


class _Parser:
    """One parse of one normalised text.

    Rules run in a fixed order. Each consumes what it matched, replacing day expressions
    with a ``#`` marker (so "friday 3" can still tell that 3 followed a day) and everything
    else with a space, so later, looser rules cannot re-read the same words.
    """

    def __init__(self, text: str, local_now: datetime) -> None:
        self.text = text
        self.today = local_now.date()
        # dateparser wants a naive base in the practice's zone; only its date part matters.
        self.naive_now = local_now.replace(tzinfo=None)
        self.recognised = False
        self.points: list[date] = []
        self.ranges: list[list[date]] = []
        self.spans: list[tuple[int, int]] = []
        self.bare_weekdays: set[int] = set()
        self.plural_weekdays: set[int] = set()
        self.class_filter: set[int] | None = None
        self.excluded: set[int] = set()
        self.parts: list[tuple[int, int, str | None]] = []
        self.lower: list[int] = []
        self.upper: list[int] = []
        self.lower_raw: list[_RawTime] = []
        self.upper_raw: list[_RawTime] = []
        self.pairs_raw: list[tuple[_RawTime, _RawTime]] = []
        self.exact_raw: list[_RawTime] = []

    # ----------------------------------------------------------------- driver

    def parse(self) -> TimePreference:
        self.text = _FILLER.sub(" ", self.text)
        rules: list[tuple[re.Pattern[str], _Handler, str]] = [
            (_FLEXIBLE, self._flexible, " "),
            (_NEGATION, self._negation, " "),
            (_DATE_RANGE, self._date_range, "#"),
            (_ISO_DATE, self._numeric_date, "#"),
            (_SLASH_DATE, self._numeric_date, "#"),
            (_MONTH_DAY, self._month_date, "#"),
            (_MONTH_ORDW, self._month_date, "#"),
            (_ORDW_MONTH, self._month_date, "#"),
            (_DAY_MONTH, self._month_date, "#"),
            (_ORDINAL_DAY, self._ordinal_day, "#"),
            *((pattern, handler, "#") for pattern, handler in self._relative_rules()),
            (_IN_MONTH, self._in_month, "#"),
            (_WEEKDAY_RANGE, self._weekday_range, "#"),
            (_WEEKDAY_BETWEEN, self._weekday_range, "#"),
            (_WEEKDAY_DEADLINE, self._weekday_deadline, "#"),
            (_WEEKDAY_LIST, self._weekday_list, "#"),
            (_TIME_ANCHOR, self._time_anchor, " "),
            (_TIME_BETWEEN, self._time_pair, " "),
            (_TIME_RANGE, self._time_pair, " "),
            (_TIME_LOWER, self._time_lower, " "),
            (_TIME_LOWER_SUFFIX, self._time_lower, " "),
            (_TIME_UPPER, self._time_upper, " "),
            (_TIME_UPPER_SUFFIX, self._time_upper, " "),
            (_TIME_EXACT_PREP, self._time_exact, " "),
            (_TIME_EXACT_SUFFIX, self._time_exact, " "),
            (_TIME_EXACT_MERIDIEM, self._time_exact, " "),
            (_TIME_EXACT_COLON, self._time_exact, " "),
            (_NOON, self._noon, " "),
            (_PART_COMPOUND, self._part_compound, " "),
            (_PART_SIMPLE, self._part_simple, " "),
            (_TIME_AFTER_DAY, self._time_after_day, " "),
        ]
        for pattern, handler, marker in rules:
            self._apply(pattern, handler, marker)
        self._dateparser_fallback()
        if any(t not in _VERB_MONTHS for t in _MONTH_TOKEN.findall(self.text)):
            # A month we could not place: asking again beats silently dropping it.
            raise _unrecognised("Could not read the date.")
        if _NEG_LEFTOVER.search(self.text):
            raise _unrecognised("Could not tell which days or times to avoid.")
        if not self.recognised:
            raise _unrecognised("No day or time was recognised.")
        days = self._days()
        earliest, latest, exact = self._window()
        return TimePreference(days=tuple(days), earliest=earliest, latest=latest, exact=exact)

    def _apply(self, pattern: re.Pattern[str], handler: _Handler, marker: str) -> None:
        def replace(match: re.Match[str]) -> str:
            if handler(match) is False:
                return match.group(0)
            self.recognised = True
            return f" {marker} "

        self.text = pattern.sub(replace, self.text)

    # ----------------------------------------------------------------- day rules

    def _flexible(self, match: re.Match[str]) -> None:
        """Flexible words ("asap", "whenever") count as recognised but add no days."""

    def _negation(self, match: re.Match[str]) -> None:
        what = match.group("what")
        if re.fullmatch(r"weekends?", what):
            self.excluded |= {5, 6}
            return
        if not re.match(rf"{_WD}\b", what):
            self._negate_part(re.sub(r"s$", "", re.sub(r"\s+", " ", what)))
            return
        for item in re.finditer(rf"\b{_WD}\b", what):
            self.excluded.add(_weekday_word(item.group(0))[0])

    def _negate_part(self, part: str) -> None:
        if part in ("morning", "early", "am"):
            self.lower.append(12 * 60)
        elif part == "early morning":
            self.lower.append(10 * 60)
        elif part in ("evening", "night"):
            self.upper.append(17 * 60)
        elif part == "late":
            self.upper.append(15 * 60)
        elif part == "pm":
            self.upper.append(12 * 60)
        else:
            # "not afternoons" would need two windows per day; ask rather than guess.
            raise _unrecognised("Could not tell which times to avoid.")

    def _numeric_date(self, match: re.Match[str]) -> None:
        groups = match.groupdict()
        year_text = groups.get("y")
        year = None if year_text is None else int(year_text)
        if year is not None and year < 100:
            year += 2000
        self._explicit_date(match, int(groups["mo"]), int(groups["d"]), year)

    def _month_date(self, match: re.Match[str]) -> bool | None:
        groups = match.groupdict()
        month = _MONTH_WORDS[groups["mon"]]
        if groups.get("w"):
            day = _ORDINAL_WORDS[groups["w"]]
        else:
            day = int(groups["d"])
            # "3 may work" is not May 3rd: a bare number before "may" needs "3rd" or "of".
            if groups["mon"] == "may" and "suf" in groups and not (groups["suf"] or groups["of"]):
                return False
        year = int(groups["y"]) if groups.get("y") else None
        self._explicit_date(match, month, day, year)
        return None

    def _explicit_date(self, match: re.Match[str], month: int, day: int, year: int | None) -> None:
        try:
            if year is not None:
                resolved = date(year, month, day)
            else:
                resolved = self._month_day_without_year(month, day)
        except ValueError:
            raise _unrecognised("That is not a valid date.") from None
        self._check_weekday(match, resolved)
        self._add_day(resolved, match.group("pre"))

    def _date_range(self, match: re.Match[str]) -> None:
        """Month-day ranges ("dec 3-5", "dec 28 to jan 3"); "dec 3 or 5" is two days."""
        month = _MONTH_WORDS[match.group("mon")]
        end_month = _MONTH_WORDS[match.group("mon2") or match.group("mon")]
        try:
            start = self._month_day_without_year(month, int(match.group("d")))
            end = date(start.year, end_month, int(match.group("d2")))
            if end < start:  # "dec 28 to jan 3" crosses into the next year
                end = date(start.year + 1, end_month, end.day)
        except ValueError:
            raise _unrecognised("That is not a valid date.") from None
        if match.group("and") and not match.group("between"):
            self.points += [start, end]
            return
        if (end - start).days > MAX_HORIZON_DAYS:
            raise _too_far()
        self.ranges.append(_span(start, end))

    def _month_day_without_year(self, month: int, day: int) -> date:
        today = self.today
        try:
            this_year: date | None = date(today.year, month, day)
        except ValueError:  # 29 February outside a leap year
            this_year = None
        # Recently passed: more likely a slip than a booking a year ahead.
        if this_year is not None and (
            this_year >= today or (today - this_year).days <= PAST_DATE_GRACE_DAYS
        ):
            return this_year
        return date(today.year + 1, month, day)

    def _ordinal_day(self, match: re.Match[str]) -> None:
        number = int(match.group("d"))
        if not 1 <= number <= 31:
            raise _unrecognised("That is not a valid date.")
        # The next date with that day number: "the 15th" said on the 28th means next month.
        first_of_month = self.today.replace(day=1)
        for offset in range(3):
            month = _add_months(first_of_month, offset)
            if number <= calendar.monthrange(month.year, month.month)[1]:
                candidate = month.replace(day=number)
                if candidate >= self.today:
                    self._check_weekday(match, candidate)
                    self._add_day(candidate, match.group("pre"))
                    return
        raise _unrecognised("That is not a valid date.")  # pragma: no cover - unreachable

    def _check_weekday(self, match: re.Match[str], day: date) -> None:
        written = match.group("dwd")
        if written is not None and _weekday_word(written)[0] != day.weekday():
            raise _unrecognised("The weekday and the date do not match.")

    def _add_day(self, day: date, deadline: str | None) -> None:
        """Record a named day, or the period it bounds ("by friday", "after dec 3")."""
        if deadline is None:
            self.points.append(day)
            return
        if day < self.today:
            raise _in_past()
        keyword = deadline.split()[0]
        if keyword in ("by", "until", "till", "til"):
            self.ranges.append(_span(self.today, day))
        elif keyword == "before":
            if day <= self.today:
                raise _in_past()
            self.ranges.append(_span(self.today, day - timedelta(days=1)))
        elif keyword == "after":
            start = day + timedelta(days=1)
            self.ranges.append(_span(start, start + timedelta(days=DEFAULT_HORIZON_DAYS - 1)))
        else:  # from / starting / beginning
            self.ranges.append(_span(day, day + timedelta(days=DEFAULT_HORIZON_DAYS - 1)))

    def _relative_rules(self) -> Iterable[tuple[re.Pattern[str], _Handler]]:
        today = self.today

        def point(offset: int) -> _Handler:
            def handler(_match: re.Match[str]) -> None:
                self.points.append(today + timedelta(days=offset))

            return handler

        def period(days: Callable[[re.Match[str]], list[date]]) -> _Handler:
            def handler(match: re.Match[str]) -> None:
                self.ranges.append(days(match))

            return handler

        def part_of_today(match: re.Match[str]) -> None:
            self.points.append(today)
            part = match.groupdict().get("part") or "evening"
            self.parts.append(_PARTS[part])

        def weekday_class(days: set[int]) -> _Handler:
            def handler(_match: re.Match[str]) -> None:
                self.class_filter = days if self.class_filter is None else self.class_filter & days

            return handler

        def plural_weekend(_match: re.Match[str]) -> None:
            self.plural_weekdays |= {5, 6}

        def week_part(match: re.Match[str]) -> list[date]:
            week = _week(today, 1 if match.group("which") == "next" else 0)
            early = match.group("when") in ("early", "beginning of", "start of")
            return week[:3] if early else week[3:]

        def current_weekend(_match: re.Match[str]) -> list[date]:
            if today.weekday() >= 5:
                return _span(today, _week(today, 0)[-1])
            saturday = _on_or_after(today, 5)
            return [saturday, saturday + timedelta(days=1)]

        def in_quantity(match: re.Match[str]) -> None:
            count = _quantity(match.group("n"))
            unit = match.group("unit")
            if unit == "day":
                self.points.append(today + timedelta(days=count))
                return
            start = today + timedelta(weeks=count) if unit == "week" else _add_months(today, count)
            self.ranges.append(_span(start, start + timedelta(days=6)))

        def within(match: re.Match[str]) -> list[date]:
            count = _quantity(match.group("n")) * (7 if match.group("unit") == "week" else 1)
            return _span(today, today + timedelta(days=max(count, 1) - 1))

        def month_of(offset: int) -> Callable[[re.Match[str]], list[date]]:
            def days(_match: re.Match[str]) -> list[date]:
                first = _add_months(today.replace(day=1), offset)
                return _month(first.year, first.month)

            return days

        tomorrow = r"(?:tomorrow|tmrw|tmr|tmw|tomoz|2moro|2morow|2morrow|2mrw)"
        rules: list[tuple[str, _Handler]] = [
            (rf"\b(?:the\s+)?day\s+after\s+{tomorrow}\b", point(2)),
            (r"\b(?:the\s+)?day\s+before\s+yesterday\b", point(-2)),
            (rf"\b{tomorrow}\b", point(1)),
            (r"\b(?:today|tdy|tday)\b", point(0)),
            (
                r"\b(?:tonight|tonite|tnite|this\s+(?P<part>morning|afternoon|evening))\b",
                part_of_today,
            ),
            (r"\byesterday\b", point(-1)),
            (r"\bweek\s+after\s+next\b", period(lambda _m: _week(today, 2))),
            (
                r"\b(?P<when>early|late|later|end\s+of|towards?\s+the\s+end\s+of|beginning\s+of|"
                r"start\s+of)\s+(?:in\s+)?(?:the\s+)?(?P<which>this|next)?\s*week\b",
                period(week_part),
            ),
            (r"\bnext\s+weekend\b", period(lambda _m: _week(today, 1)[5:])),
            (r"\blast\s+weekend\b", period(lambda _m: _week(today, -1)[5:])),
            (r"\bweekends\b", plural_weekend),
            (r"\b(?:this\s+(?:coming\s+)?|the\s+)?weekend\b", period(current_weekend)),
            (r"\b(?:the\s+)?next\s+week\b", period(lambda _m: _week(today, 1))),
            (
                r"\b(?:this\s+week|(?:the\s+)?(?:rest|remainder)\s+of\s+(?:the|this)\s+week)\b",
                period(lambda _m: _week(today, 0)),
            ),
            (r"\blast\s+week\b", period(lambda _m: _week(today, -1))),
            (r"\bnext\s+month\b", period(month_of(1))),
            (r"\b(?:this|the\s+rest\s+of\s+the)\s+month\b", period(month_of(0))),
            (r"\blast\s+month\b", period(month_of(-1))),
            (
                rf"\b(?:within\s+(?:the\s+)?(?:next\s+|coming\s+)?|(?:in\s+|over\s+)?(?:the\s+)?"
                rf"(?:next|coming)\s+)(?P<n>{_QTY})\s+(?P<unit>day|week)s?\b",
                period(within),
            ),
            (
                rf"\b(?:in|after)\s+(?:about\s+|around\s+|roughly\s+)?(?P<n>{_QTY})\s+"
                rf"(?P<unit>day|week|month)s?(?:\s+time)?\b",
                in_quantity,
            ),
            (
                rf"\b(?P<n>{_QTY})\s+(?P<unit>day|week|month)s?\s+(?:from\s+(?:now|today)|out)\b",
                in_quantity,
            ),
            (
                r"\b(?:week\s*-?\s*days?|during\s+the\s+week|on\s+a\s+weekday)\b",
                weekday_class({0, 1, 2, 3, 4}),
            ),
            (r"\bmid\s*-?\s*week\b", weekday_class({1, 2, 3})),
        ]
        return [(_c(pattern), handler) for pattern, handler in rules]

    def _in_month(self, match: re.Match[str]) -> None:
        month = _MONTH_WORDS[match.group("mon")]
        year = self.today.year if month >= self.today.month else self.today.year + 1
        days = _month(year, month)
        when = match.group("when")
        if when in ("early", "beginning of", "start of"):
            days = days[:10]
        elif when == "mid":
            days = days[10:20]
        elif when is not None:
            days = days[20:]
        self.ranges.append(days)

    def _resolve_weekday(self, weekday: int, modifier: str | None) -> date | None:
        """The day a modified weekday names, or None when a bare weekday stays open."""
        if modifier in ("next", "coming", "this coming"):
            return _strictly_after(self.today, weekday)
        if modifier == "this":
            return _week(self.today, 0)[weekday]
        if modifier == "last":
            return _strictly_before(self.today, weekday)
        return None

    def _weekday_range(self, match: re.Match[str]) -> None:
        first = _weekday_word(match.group("a"))[0]
        last = _weekday_word(match.group("b"))[0]
        modifier = match.group("mod")
        start = None if modifier is None else self._resolve_weekday(first, modifier)
        if start is None:
            self.spans.append((first, last))
        else:
            self.ranges.append(_span(start, _on_or_after(start, last)))

    def _weekday_deadline(self, match: re.Match[str]) -> None:
        weekday = _weekday_word(match.group("wd"))[0]
        day = self._resolve_weekday(weekday, match.group("mod"))
        self._add_day(day or _on_or_after(self.today, weekday), match.group("pre"))

    def _weekday_list(self, match: re.Match[str]) -> None:
        modifier: str | None = None
        for item in _WEEKDAY_ITEM.finditer(match.group(0)):
            weekday, plural = _weekday_word(item.group("wd"))
            if item.group("mod") not in (None, "on"):
                # "next monday or wednesday": the modifier carries over the list.
                modifier = re.sub(r"\s+", " ", item.group("mod"))
            if plural or modifier in ("every", "any"):
                self.plural_weekdays.add(weekday)
                continue
            day = self._resolve_weekday(weekday, modifier)
            if day is None:
                self.bare_weekdays.add(weekday)
            else:
                self.points.append(day)

    # ----------------------------------------------------------------- time rules

    def _time_anchor(self, match: re.Match[str]) -> None:
        what = re.sub(r"\s*time$", "", match.group("what"))
        lower, upper = _ANCHORS[what]
        if re.sub(r"\s+", " ", match.group("op")) in _LOWER_OPS:
            self.lower.append(lower)
            if what in ("work", "school"):
                self.parts.append((lower, _END_OF_DAY, "pm"))
        else:
            self.upper.append(upper)

    def _time_pair(self, match: re.Match[str]) -> None:
        self.pairs_raw.append((_raw_time(match, "a"), _raw_time(match, "b")))

    def _time_lower(self, match: re.Match[str]) -> None:
        self.lower_raw.append(_raw_time(match, "a"))

    def _time_upper(self, match: re.Match[str]) -> None:
        self.upper_raw.append(_raw_time(match, "a"))

    def _time_exact(self, match: re.Match[str]) -> None:
        self.exact_raw.append(_raw_time(match, "a"))

    def _noon(self, _match: re.Match[str]) -> None:
        self.parts.append(_PARTS["lunch"])

    def _part_compound(self, match: re.Match[str]) -> None:
        self.parts.append(_PARTS[f"{match.group('a')} {match.group('b')}"])

    def _part_simple(self, match: re.Match[str]) -> bool | None:
        part = re.sub(r"s$", "", re.sub(r"\s+", " ", match.group("p")))
        if part == "am" and re.search(r"\bi\s*$", match.string[: match.start()]):
            return False  # "i am free monday"
        self.parts.append(_PARTS[part])
        return None

    def _time_after_day(self, match: re.Match[str]) -> bool | None:
        """Read a bare number right after a day ("friday 3") as a time, never a date."""
        if self.exact_raw or self.lower_raw or self.upper_raw or self.pairs_raw:
            return False
        self.exact_raw.append(_raw_time(match, "a"))
        return None

    # ----------------------------------------------------------------- fallback

    def _dateparser_fallback(self) -> None:
        """Ask dateparser about leftover month-name dates ("3rd day of december", "dec-03")."""
        tokens = [t for t in self.text.split() if t not in ("#", ",")]
        # "may" and "march" are verbs too often to trust as dates on their own.
        candidates = [
            i for i, t in enumerate(tokens) if _MONTH_TOKEN.search(t) and t not in _VERB_MONTHS
        ]
        # dateparser takes milliseconds per call; a few tries are plenty for real text.
        for index in candidates[:_FALLBACK_TRIES]:
            token = tokens[index]
            window = tokens[max(0, index - 3) : index + 4]
            if not any(re.search(r"\d", t) or t in _ORDINAL_WORDS for t in window):
                continue
            parsed = self._ask_dateparser(" ".join(window))
            if parsed is None:
                continue
            year_given = re.search(r"\b20\d{2}\b", " ".join(window)) is not None
            try:
                day = (
                    parsed if year_given else self._month_day_without_year(parsed.month, parsed.day)
                )
            except ValueError:
                continue
            self.points.append(day)
            self.recognised = True
            self.text = re.sub(rf"(?<!\S){re.escape(token)}(?!\S)", " # ", self.text, count=1)
            return

    def _ask_dateparser(self, text: str) -> date | None:
        # Imported lazily: loading it is slow and most texts never get this far.
        import dateparser

        settings = {
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
            "RELATIVE_BASE": self.naive_now,
            "DATE_ORDER": "MDY",
            "REQUIRE_PARTS": ["day", "month"],
        }
        try:
            result: object = dateparser.parse(text, languages=["en"], settings=settings)
        except Exception:
            # A third-party parser failing on odd input must not break the conversation.
            return None
        return result.date() if isinstance(result, datetime) else None

    # ----------------------------------------------------------------- assembling

    def _days(self) -> list[date]:
        today = self.today
        horizon = today + timedelta(days=MAX_HORIZON_DAYS)
        default = _span(today, today + timedelta(days=DEFAULT_HORIZON_DAYS - 1))
        points = list(self.points)
        # (days, whether weekday words narrow them): "tuesday next week" narrows next week.
        periods = [(list(r), True) for r in self.ranges]
        weekday_filter = set(self.plural_weekdays)
        if periods:
            weekday_filter |= self.bare_weekdays
            for first, last in self.spans:
                weekday_filter |= _cycle(first, last)
        else:
            points += [_on_or_after(today, w) for w in sorted(self.bare_weekdays)]
            for first, last in self.spans:
                start = _on_or_after(today, first)
                periods.append((_span(start, _on_or_after(start, last)), False))
            if self.plural_weekdays or not (points or periods):
                periods.append((default, True))

        chosen: set[date] = set()
        for day in points:
            if day < today:
                raise _in_past()
            if day > horizon:
                raise _too_far()
            chosen.add(day)
        for period, narrowable in periods:
            if narrowable and weekday_filter:
                period = [d for d in period if d.weekday() in weekday_filter]
            if not period:
                continue
            upcoming = [d for d in period if d >= today]
            if not upcoming:
                raise _in_past()
            reachable = [d for d in upcoming if d <= horizon]
            if not reachable:
                raise _too_far()
            chosen.update(reachable)

        days = sorted(
            d
            for d in chosen
            if d.weekday() not in self.excluded
            and (self.class_filter is None or d.weekday() in self.class_filter)
        )
        if not days:
            raise _unrecognised("No day matches all of the conditions.")
        return days

    def _window(self) -> tuple[time | None, time | None, time | None]:
        contexts = {context for _lo, _hi, context in self.parts}
        context = next(iter(contexts)) if len(contexts) == 1 else None
        if self.exact_raw:
            exacts = sorted({_clock_minutes(raw, context) for raw in self.exact_raw})
            # Exact times win over other time words: they are the most specific thing said.
            lowest = max(0, exacts[0] - _EXACT_BEFORE)
            if len(exacts) == 1:
                highest = min(_END_OF_DAY, exacts[0] + _EXACT_AFTER)
                exact: time | None = _as_time(exacts[0])
            else:
                # "10am or 2pm": one window over both, with round bounds for describe().
                highest = min(_END_OF_DAY, exacts[-1] + _EXACT_BEFORE)
                exact = None
            return (*self._bounds(lowest, highest), exact)

        lower = list(self.lower)
        upper = list(self.upper)
        if self.parts:
            lower.append(min(lo for lo, _hi, _ctx in self.parts))
            upper.append(max(hi for _lo, hi, _ctx in self.parts))
        lower += [_clock_minutes(raw, context) for raw in self.lower_raw]
        upper += [_clock_minutes(raw, context) for raw in self.upper_raw]
        for start, end in self.pairs_raw:
            first, last = _pair_minutes(start, end, context)
            lower.append(first)
            upper.append(last)
        earliest = max(lower, default=0)
        latest = min(upper, default=_END_OF_DAY)
        if earliest >= latest:
            raise _unrecognised("The times given contradict each other.")
        return (*self._bounds(earliest, latest), None)

    @staticmethod
    def _bounds(earliest: int, latest: int) -> tuple[time | None, time | None]:
        return (
            None if earliest <= 0 else _as_time(earliest),
            None if latest >= _END_OF_DAY else _as_time(latest),
        )
