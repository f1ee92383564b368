"""A deterministic two-level emergency decision, made before the NLU model sees a message.

The intent classifier is good but not perfect, and a missed emergency is the one error we
cannot afford; but a false alarm that ends the patient's task ("my bill gave me a heart
attack lol") is not free either. So the decision has two levels (docs/safety.md):

- **strong**: emergency words about something happening now. The turn goes to the bot as
  the `medical_emergency` intent: the 911 (and 988) line, an urgent escalation, the task
  stops.
- **weak**: the same words in a context that makes them something else: a joke or
  hyperbole, a bill, a symptom from weeks ago, a form or a medicine named after a condition,
  a question about what to do after hours. The service sends the 911 line itself and the
  patient's words go to the bot as they are, so the task carries on; nobody is paged.

Anything happening now ("right now", "won't stop", "is having") keeps a match strong unless
the words themselves name a thing or a past ("seizure meds", "a seizure last week"), and words
about self-harm are never softened by a joke: only by being clearly in the past or ruled out
("not suicidal"). The NLU model alone never makes a strong decision
at moderate confidence; see `actions.handoff.emergency_confirmed`.

Spanish wording lives in a data file (`data/safety_es.yml`): its patterns join the English
ones of the same rule or context, and every message is matched with its accents removed, so
"está convulsionando" and "esta convulsionando" read alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

import yaml

MAX_SCAN_CHARS = 2000

# The line a patient gets on any emergency signal, strong or weak, per language. Each is the
# bot's `utter_emergency` response in that language word for word (a test keeps them in step),
# so a weak turn the NLU also reads as an emergency does not show the patient the line twice.
SAFETY_LINES = {
    "en": (
        "If this is an emergency, please call 911 now or go to the nearest emergency room. "
        "If you are thinking about harming yourself, call or text 988. "
        "This chat can't help in an emergency."
    ),
    "es": (
        "Si es una emergencia, llame al 911 ahora o vaya a la sala de emergencias más cercana. "
        "Si está pensando en hacerse daño, llame o mande un mensaje al 988. "
        "Este chat no puede ayudarle en una emergencia."
    ),
}
SAFETY_LINE = SAFETY_LINES["en"]


class Signal(StrEnum):
    """How strongly a message signals an emergency."""

    NONE = "none"
    WEAK = "weak"  # 911 line, then the task carries on
    STRONG = "strong"  # 911 line, urgent escalation, the task stops


@dataclass(frozen=True)
class Assessment:
    """The decision for one message, with the rule that made it (never the patient's words)."""

    signal: Signal
    rule: str = ""
    self_harm: bool = False


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _load_words(file_name: str) -> dict[str, Any]:
    text = resources.files("frontdesk.conversations").joinpath("data", file_name).read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


# Other languages' wording, added to the English patterns below (see the module docstring).
_SPANISH = _load_words("safety_es.yml")


def _also(pattern: re.Pattern[str], more: list[str]) -> re.Pattern[str]:
    """The pattern, or any of `more` (accent-free patterns from a data file)."""
    return _any(pattern.pattern, *more) if more else pattern


def _context(name: str, pattern: re.Pattern[str]) -> re.Pattern[str]:
    return _also(pattern, list(_SPANISH["context"].get(name, [])))


def _fold(text: str) -> str:
    """The text without accents: "está" -> "esta", "niño" -> "nino"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_WHO = r"(my|his|her|their|your)"
# Emergency wording, by rule name. A match is strong unless its context softens it.
_ALARMS: dict[str, re.Pattern[str]] = {
    "chest": _any(
        r"\bchest\b.{0,25}\b(pain|pian|pains|hurts?|hurting|pressure|tight(ness)?|crushing|"
        r"squeez\w*)",
        r"\b(pain|pressure|tightness)\b.{0,15}\bchest\b",
        r"\bheart attack\b",
    ),
    "breathing": _any(
        r"\b(can'?t|cannot|cant|unable to|hard to|struggling to|trouble|difficulty)\s+"
        r"(catch\s+" + _WHO + r"\s+)?breath(e|ing)?\b",
        r"\b(not|isn'?t|stopped|stop)\s+breathing\b",
        r"\bshort(ness)? of breath\b",
        r"\b(choking|suffocating|gasping for air)\b",
        r"\blips?\b.{0,15}\bblue\b",
        r"\b(turning|turned|going) blue\b",
        r"\basthma attack\b",
    ),
    "stroke": _any(
        r"\bstroke\b",
        r"\bface\b.{0,15}\bdroop",
        r"\bslurr(ed|ing)\b",
        r"\b(can'?t|cannot) (move|feel) (one|the left|the right|my left|my right) side\b",
        r"\b(numb|weak)\w*\b.{0,25}\bone side\b",
        r"\bone side\b.{0,25}\b(numb|weak)\w*",
        r"\b(can'?t|cant|cannot|unable to) (speak|talk)\b(?!\s+(right\s+)?now|\s+at the|\s+to)",
        r"\bworst headache\b",
    ),
    "unresponsive": _any(
        r"\b(unconscious|unresponsive|passed out|collapsed|won'?t wake up|wont wake up|"
        r"not waking up|not responding|isn'?t responding|not making sense|limp|fainted)\b",
        r"\b(about to|going to|gonna) pass out\b",
        r"\bhit " + _WHO + r" head\b.{0,40}\b(throw\w* up|vomit\w*|confus\w*|passed out)",
    ),
    "seizure": _any(r"\bseizure|\bseizing\b|\bconvuls"),
    "bleeding": _any(
        r"\bbleeding\b.{0,20}\b(heavily|a lot|won'?t stop|wont stop|not stopping|everywhere)\b",
        r"\b(bleeding|bleed) (heavily|a lot)\b",
        r"\b(won'?t|wont|can'?t|cant) stop (the )?bleeding\b",
        r"\bblood everywhere\b",
        r"\bpregnant\b.{0,25}\bbleed",
        r"\bbleed\w*\b.{0,25}\bpregnan",
    ),
    "poisoning": _any(
        r"\boverdos",
        r"\bpoison(ed|ing|ous)?\b(?!\s+(ivy|oak|sumac|control))",
        r"\bswallowed\b.{0,20}\b(pills|bottle|bleach|detergent|battery)\b",
        r"\b(took|take|taken|ate|eaten|swallowed)\b.{0,20}\btoo many\b",
        r"\b(ate|eaten|drank|drunk|swallowed)\b.{0,25}\b(pills|bleach|cleaning|detergent|"
        r"antifreeze|chemicals?|batter(y|ies))\b",
        r"\b(took|taken|ate|swallowed|drank)\b.{0,15}\b(a bunch|a handful|a whole bottle|"
        r"a bottle|bunch|handful|all)\s+of\b",
        r"\b(windshield|washer|lighter|brake|cleaning) fluid\b",
        r"\bgot into\b.{0,20}\b(cleaning|bleach|chemicals?|pills|medicines?|meds|detergent)\b",
    ),
    "allergy": _any(
        r"\b(throat|tongue|lips?|face)\b.{0,20}\b(closing|swell\w*|swollen)\b",
        r"\banaphyla",
        r"\ballergic reaction\b",
        r"\bepi-?pen\b.{0,20}\b(not working|didn'?t work|isn'?t working)\b",
    ),
    "infant_fever": _any(
        r"\b(newborn|infant|\d{1,2}[- ]?(day|week|wk)s?[- ]?old|[12][- ]?(month|mo)s?[- ]?old)"
        r"\b.{0,40}\b(fever|temp\w*)\b",
        r"\b(fever|temp\w*)\b.{0,40}\b(newborn|infant)\b",
    ),
    "call_for_help": _any(
        r"\b(ambulance|911|sos)\b",
        r"(?<!\bif )\b(it'?s|its|this is) an emergency\b",
        r"^\W*emergency\b",
    ),
}
_SELF_HARM: dict[str, re.Pattern[str]] = {
    "self_harm": _any(
        r"\bsuicid",
        r"\bkill(ing)? (myself|my self|himself|herself|themselves)\b",
        r"\b(end(ing)? (my life|it all)|(want|wants|wanna) to die|better off dead)\b",
        r"\b(hurt(ing)?|harm(ing)?|cut(ting)?) (myself|my self)\b",
        r"\bself[- ]harm",
        r"\b(don'?t|do not|dont) want to (be alive|live)\b",
        r"\b(plan|going|gonna) to end\b.{0,10}\b(my life|it)\b",
    ),
}
# Words that alarm only as a figure of speech: at most a weak signal, whatever the context.
_FIGURES = _any(
    r"\bkill(s|ing)? me\b",
    r"\b(i'?m|im) (gonna|going to) die\b",
    r"\bpoison control\b",
    *_SPANISH["figures"],
)
for _rule, _more in _SPANISH["alarms"].items():
    _ALARMS[_rule] = _also(_ALARMS[_rule], list(_more))
_SELF_HARM["self_harm"] = _also(_SELF_HARM["self_harm"], list(_SPANISH["self_harm"]))

# --- context -------------------------------------------------------------------------------
# "no chest pain", "not suicidal": the patient is ruling something out (no signal at all).
_NEGATED = re.compile(r"\b(no|not|never|without|denies|deny)\s+(\w+\s+){0,2}$", re.IGNORECASE)
# Happening now: keeps a match strong. Looked for close to the match only.
_NOW = _any(
    r"\b(right now|rn|now|currently|at the moment|today|tonight|this (morning|afternoon|evening)"
    r"|just|won'?t stop|wont stop|getting worse|hurry)\b",
    r"(?<!you )\bhelp\b",  # "please help", "help!!"; not "can you help with my bill"
    r"\b(i'?m|im|is|are|he'?s|she'?s|hes|shes|they'?re) having\b",
)
NOW_WINDOW = 30
PAST_WINDOW = 30  # "chest pain i had a few weeks ago": the time right after the words
# Jokes and hyperbole: soften anything but self-harm.
_JOKE = _any(r"\b(lol|lmao|lmfao|rofl|haha\w*|jk|kidding|joking)\b", r"[😂🤣🙃😅😆]")
# A figure of speech just before the match: "gave me a heart attack".
_FIGURE_BEFORE = re.compile(
    r"\b(gave|give|gives|giving|almost gave|nearly gave)\s+(me|him|her|us)\s+an?\s*$", re.I
)
# Over and done with: "3 weeks ago", "last year", "in march", "after her stroke".
_PAST = _any(
    r"\b(\d+|a|an|one|two|three|four|five|six|a few|few|a couple( of)?|couple( of)?|several)"
    r"\s+(days?|weeks?|months?|years?)\s+ago\b",
    r"\byears ago\b",
    r"\blast (week|month|year|summer|spring|fall|autumn|winter)\b",
    r"\bin (january|february|march|april|may|june|july|august|september|october|november|"
    r"december|20\d\d)\b",
    r"\b(history of|survivor)\b",
    r"\bafter " + _WHO + r" (stroke|heart attack|seizure|overdose)\b",
)
_ONGOING_BEFORE = re.compile(r"\b(since|for)\s+(\w+\s+){0,3}$", re.IGNORECASE)
# A condition named as a thing: "seizure meds", "chest pain evaluation", "stroke survivor".
_AS_A_NAME_AFTER = re.compile(
    r"^\s*(meds?|medications?|medicines?|action plan|plan|survivor|screening|risk|evaluation|"
    r"follow[- ]?up|results?|x-?rays?|therapy|history|specialist|clinic|disorder)\b",
    re.IGNORECASE,
)
_HAD_BEFORE = re.compile(r"\bhad\s+(an?\s+)?$", re.IGNORECASE)
# Front-desk business that names a condition without it happening.
_BUSINESS = _any(
    r"\bfollow[- ]?ups?\b",
    r"\b(referral|records|refill|screening|survivor|after hours|nurse line|website)\b",
    r"\b(bill|bills|billed|billing|copay|invoice|statement|charge|charged)\b",
)
# The same contexts in Spanish words (data/safety_es.yml).
_NEGATED = _context("negated", _NEGATED)
_NOW = _context("now", _NOW)
_JOKE = _context("joke", _JOKE)
_FIGURE_BEFORE = _context("figure_before", _FIGURE_BEFORE)
_PAST = _context("past", _PAST)
_ONGOING_BEFORE = _context("ongoing_before", _ONGOING_BEFORE)
_AS_A_NAME_AFTER = _context("as_a_name_after", _AS_A_NAME_AFTER)
# "medicina para las convulsiones": Spanish names the thing before the condition.
_AS_A_NAME_BEFORE = _any(*_SPANISH["context"]["as_a_name_before"])
_HAD_BEFORE = _context("had_before", _HAD_BEFORE)
_BUSINESS = _context("business", _BUSINESS)
_SENTENCE_END = re.compile(r"[.!?;\n]+")


def assess(text: str) -> Assessment:
    """How strongly a patient message signals an emergency (see the module docstring)."""
    text = _fold(text[:MAX_SCAN_CHARS].replace("’", "'"))
    weak: Assessment | None = None
    for rule, pattern, self_harm in _rules():
        for match in pattern.finditer(text):
            if _NEGATED.search(text[max(0, match.start() - 40) : match.start()]):
                continue
            if _softened(text, match, self_harm=self_harm):
                weak = weak or Assessment(Signal.WEAK, rule, self_harm)
                continue
            return Assessment(Signal.STRONG, rule, self_harm)
    if weak is not None:
        return weak
    if _FIGURES.search(text):
        return Assessment(Signal.WEAK, "figure_of_speech")
    return Assessment(Signal.NONE)


def is_emergency(text: str) -> bool:
    """Whether a message is a strong emergency signal: 911, urgent escalation, stop."""
    return assess(text).signal is Signal.STRONG


def _rules() -> list[tuple[str, re.Pattern[str], bool]]:
    # Self-harm first: its rule name and the 988 flag win when a message has both.
    return [(r, p, True) for r, p in _SELF_HARM.items()] + [
        (r, p, False) for r, p in _ALARMS.items()
    ]


def _softened(text: str, match: re.Match[str], *, self_harm: bool) -> bool:
    """Whether the match's context makes it something other than an emergency now.

    In order: what the words themselves are (a thing named after a condition, a figure of
    speech), a past time right after them ("a seizure last week"), then anything happening
    now close by keeps them strong, and only then the rest of the sentence and message.
    """
    before, after = text[: match.start()], text[match.end() :]
    if _AS_A_NAME_AFTER.search(after) or _AS_A_NAME_BEFORE.search(before):
        return True
    if not self_harm and _FIGURE_BEFORE.search(before):
        return True
    if _in_the_past(after[:PAST_WINDOW]):
        return True
    near = text[max(0, match.start() - NOW_WINDOW) : match.end() + NOW_WINDOW]
    if _NOW.search(near):
        return False
    sentence = _sentence_around(text, match)
    if _in_the_past(sentence):
        return True
    if self_harm:
        return False
    return bool(_JOKE.search(text) or _HAD_BEFORE.search(before) or _BUSINESS.search(sentence))


def _sentence_around(text: str, match: re.Match[str]) -> str:
    starts = [m.end() for m in _SENTENCE_END.finditer(text, 0, match.start())]
    start = starts[-1] if starts else 0
    end_match = _SENTENCE_END.search(text, match.end())
    return text[start : end_match.start() if end_match else len(text)]


def _in_the_past(sentence: str) -> bool:
    """A past time in the sentence that is not the start of something ongoing ("since")."""
    return any(
        not _ONGOING_BEFORE.search(sentence[: past.start()]) for past in _PAST.finditer(sentence)
    )
