"""What a patient's free-text reply means: a position, "none of these", "no preference", a slot.

Pure functions of the text (and of what was offered): no database, no Rasa, so every wording
can be tested in a table (tests/actions/test_replies.py, tests/actions/test_replies_es.py).
English and Spanish wordings are both recognised whatever the conversation's language
("la primera", "ninguna", "me da igual", "lista de espera", "otro doctor"): they do not
collide, and patients mix the two. Spanish is matched accent-folded, so "última" = "ultima".
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from frontdesk.scheduling.slots import parse_slot_key
from frontdesk.scheduling.timeprefs import (
    TimePreference,
    TimePreferenceError,
    parse_time_preference,
)

# Positions among offered slots (at most three are offered, so "middle" is the second).
OFFER_ORDINALS = {
    "1": 0, "first": 0, "one": 0, "1st": 0,
    "2": 1, "second": 1, "two": 1, "2nd": 1, "middle": 1,
    "3": 2, "third": 2, "three": 2, "3rd": 2,
}  # fmt: skip
# Positions in a list of upcoming appointments, read as words anywhere in the reply ("the
# second one"); "one" is not a position here ("the one on Tuesday").
LIST_ORDINALS = {"first": 0, "1": 0, "second": 1, "2": 1, "third": 2, "3": 2, "fourth": 3, "4": 3}
# Spanish positions, accent-folded. "una"/"uno" are left out: "la una" is one o'clock.
OFFER_ORDINALS_ES = {
    "primera": 0, "primero": 0, "primer": 0, "1ra": 0, "1ro": 0, "1a": 0, "1o": 0,
    "segunda": 1, "segundo": 1, "2da": 1, "2do": 1, "2a": 1, "2o": 1, "dos": 1, "medio": 1,
    "tercera": 2, "tercero": 2, "tercer": 2, "3ra": 2, "3ro": 2, "3a": 2, "3o": 2, "tres": 2,
    "1": 0, "2": 1, "3": 2,
}  # fmt: skip
LIST_ORDINALS_ES = {
    "primera": 0, "primero": 0, "primer": 0,
    "segunda": 1, "segundo": 1,
    "tercera": 2, "tercero": 2, "tercer": 2,
    "cuarta": 3, "cuarto": 3,
}  # fmt: skip

_POSITION_REPLY = re.compile(
    r"(?:the |option |number |no\.? |#)?(\w+)(?: (?:one|option|slot|time|works|please|pls))*"
)
_NONE_OF_THESE = re.compile(
    r"(none|nothing|neither|no good|not? (one of )?(these|those|them))\b.*"
    r"|(these|those|they|that) (don'?t|do not|won'?t) work.*",
    re.IGNORECASE,
)
_WAITLIST = re.compile(r"\bwait\s*-?\s*list\b|\bwaiting list\b", re.IGNORECASE)
_OTHER_PROVIDER = re.compile(
    r"\b(another|different|other|else|new)\b.*\b(provider|doctor|dr|physician|someone)\b"
    r"|\bsomeone else\b",
    re.IGNORECASE,
)
_POSITION_REPLY_ES = re.compile(
    r"(?:(?:la|el|lo|opcion|numero|num|no|#|de|en|del)\s*)*(\w+)"
    r"(?: (?:opcion|hora|cita|horario|porfa|por favor|gracias|esa|esta|me sirve|esta bien))*"
)
_NONE_OF_THESE_ES = re.compile(
    r"(ningun[oa]?|nada|ni una)\b.*"
    r"|no(?: me)? (?:sirven?|quedan?|funcionan?|convienen?|puedo)\b.*"
    r"|(?:esas?|esos?|estas?|estos?|ningun[oa]) (?:\w+ )?no (?:me )?"
    r"(?:sirven?|quedan?|funcionan?|convienen?)\b.*",
)
_WAITLIST_ES = re.compile(r"\blista de espera\b|\b(?:anot|apunt|pon|agreg)\w* en (?:la )?lista\b")
_OTHER_PROVIDER_ES = re.compile(
    r"\b(?:otr[oa]|diferente|distint[oa]|nuev[oa])\b.*\b(?:doctor|doctora|dr|dra|medic[oa]|"
    r"proveedor|proveedora|persona|especialista|enfermer[oa])\b"
    r"|\b(?:doctor|doctora|medic[oa]|proveedor)\w* (?:diferente|distint[oa])\b"
    r"|\balguien (?:mas|diferente|distinto)\b|\bcon otr[oa]\b"
)
_NO_PREFERENCE_ES = re.compile(
    r"\b(?:cualquier[ao]?|quien sea|(?:el|la) que sea|(?:me )?da (?:igual|lo mismo)|"
    r"no importa|no tengo preferencia|sin preferencia|ningun[oa]? en particular|"
    r"(?:el|la) primer[oa]? (?:disponible|que haya)|(?:el|la) que (?:haya|tengan?))\b"
)
_NO_PREFERENCE = re.compile(
    r"\b(no pref\w*|any(one|body| one| provider| doctor)?|whoever|doesn'?t matter|"
    r"don'?t care|either|no one in particular|first available|not really|nope|no)\b",
    re.IGNORECASE,
)


def _fold(text: str) -> str:
    """Lower case, accents off, Spanish punctuation and dots as spaces, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[¿¡!?.,]", " ", plain).split())


def rejects_all_offers(text: str) -> bool:
    """The whole reply turns every offer down ("none of these", "ninguna de esas")."""
    return (
        _NONE_OF_THESE.fullmatch(text) is not None
        or _NONE_OF_THESE_ES.fullmatch(_fold(text)) is not None
    )


def asks_for_waitlist(text: str) -> bool:
    """The reply mentions the waitlist ("put me on the wait-list", "lista de espera")."""
    return _WAITLIST.search(text) is not None or _WAITLIST_ES.search(_fold(text)) is not None


def asks_for_other_provider(text: str) -> bool:
    """The reply asks for someone else ("a different doctor", "otro doctor")."""
    return (
        _OTHER_PROVIDER.search(text) is not None
        or _OTHER_PROVIDER_ES.search(_fold(text)) is not None
    )


def has_no_preference(text: str) -> bool:
    """The reply says any provider will do ("no preference", "whoever", "me da igual")."""
    return (
        _NO_PREFERENCE.search(text) is not None or _NO_PREFERENCE_ES.search(_fold(text)) is not None
    )


def offer_position(text: str, count: int) -> int | None:
    """The offer a whole reply points at by position ("first", "the 2nd one", "la última")."""
    match = _POSITION_REPLY.fullmatch(text)
    index = None
    if match is not None:
        word = match.group(1)
        index = count - 1 if word == "last" else OFFER_ORDINALS.get(word)
    if index is None:
        spanish = _POSITION_REPLY_ES.fullmatch(_fold(text))
        if spanish is not None:
            word = spanish.group(1)
            last = word in ("ultima", "ultimo")
            index = count - 1 if last else OFFER_ORDINALS_ES.get(word)
    return index if index is not None and 0 <= index < count else None


def list_position(text: str) -> int | None:
    """A position word anywhere in a lower-case reply ("the second one", "la segunda")."""
    words = set(text.replace("-", " ").split())
    found = next((LIST_ORDINALS[w] for w in words if w in LIST_ORDINALS), None)
    if found is not None:
        return found
    # "las 3 y cuarto" is a quarter past three, not the fourth appointment.
    folded = re.sub(r"\b(?:y|menos) cuarto\b", " ", _fold(text).replace("-", " "))
    spanish = [LIST_ORDINALS_ES[w] for w in folded.split() if w in LIST_ORDINALS_ES]
    return spanish[0] if spanish else None


def pick_offered(
    value: str,
    offered: list[str],
    titles: dict[str, str],
    tz: ZoneInfo,
    now: datetime,
    *,
    language: str = "en",
) -> str | None:
    """Which offered slot a reply means, or None when it is not clearly one of them.

    In order: the slot key (a button), a button's title typed or sent back as text, a bare
    hour that one offer starts at ("3" is 3:00 PM: offers are not numbered on screen), a
    whole-reply position ("the second one"), then a day and/or time that only one offer has
    ("the one at 4", "Thursday Dec 3 at 4pm").
    """
    if value in offered:
        return value
    text = " ".join(value.lower().split()).strip(" .!?")
    for key in offered:
        if text == titles.get(key, "").lower():
            return key
    starts = {key: parse_slot_key(key)[1].astimezone(tz) for key in offered}
    if text.isdigit():
        hour = int(text)
        on_the_hour = [k for k, t in starts.items() if t.minute == 0 and t.hour % 12 == hour % 12]
        if on_the_hour:
            return on_the_hour[0]
    position = offer_position(text, len(offered))
    if position is not None:
        return offered[position]
    try:
        preference = parse_time_preference(value, now=now, tz=tz, language=language)
    except TimePreferenceError:
        return None
    matching = [
        key
        for key, start in starts.items()
        if start.date() in preference.days
        and (preference.exact is None or start.time() == preference.exact)
        and (preference.exact is not None or _in_window(start, preference))
    ]
    same_time = {starts[k] for k in matching}
    # Two providers at the very time asked for is still one answer; anything vaguer is not.
    return matching[0] if matching and len(same_time) == 1 else None


def _in_window(start: datetime, preference: TimePreference) -> bool:
    wall = start.time()
    after_start = preference.earliest is None or wall >= preference.earliest
    before_end = preference.latest is None or wall < preference.latest
    return after_start and before_end
