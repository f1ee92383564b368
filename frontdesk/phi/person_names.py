"""The fast patient-name recognizer: cue phrases, a name gazetteer and name-shaped runs.

Catches what spaCy's small model misses in texts ("hi its maria gonzalez", "this is Bob"),
at regular-expression speed, in English and Spanish ("me llamo Ana Lucía Pérez"), in the
shapes names take in texts and forms: hyphenated and compound surnames ("De La Cruz",
"Al-Sayed", "st. pierre"), the surname first after a comma ("Okonkwo, Chidinma here"), and
names given field by field ("last name Van der Meer first name Pieter"). Names right after
a clinician title ("Dr Patel", "la doctora Morales") are not patient PHI and are left alone.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.lang.en.stop_words import STOP_WORDS as SPACY_STOP_WORDS
from spacy.lang.es.stop_words import STOP_WORDS as SPANISH_STOP_WORDS

from frontdesk.phi.names import (
    AMBIGUOUS,
    CAPITALISED_NON_NAMES,
    GIVEN_NAMES,
    NAME_PARTICLES,
    SURNAMES,
    WORDS_NOT_NAMES,
)

PERSON = "PERSON"
_LETTER = r"[^\W\d_]"
_UPPER = r"[A-ZÀ-ÖØ-Þ]"
# A word: letters, with apostrophes and hyphens inside ("o'sullivan", "Abernathy-Moore").
_WORD = re.compile(rf"{_LETTER}(?:{_LETTER}|['’\-](?={_LETTER}))*")
_NAME = rf"{_UPPER}{_LETTER}*(?:['’\-]{_LETTER}+)*"
# After a firm cue any word that is not an everyday word is a name ("this is zanele").
_NAME_CUE = re.compile(
    r"(?i)\b(?:this\s+is|my\s+name\s+is|my\s+name'?s|name\s*(?:is|:)|names|"
    r"patient\s+name\s*(?:is|:)?|pt\s+name\s*(?:is|:)?|"
    r"for\s+my\s+(?:son|daughter|wife|husband|"
    r"mom|mother|dad|father|child|kid|baby|grandson|granddaughter|partner)|"
    r"(?:son|daughter|wife|husband|mom|dad|child|kid|baby|partner)(?:'s)?\s+name\s+(?:is|:)|"
    r"(?:first|last|sur|given|maiden|married|middle|full)\s*name\s*(?:is|:|was)?(?:\s+now)?|"
    r"name\s+on\s+(?:the\s+|my\s+)?(?:card|insurance|account|file|chart|form)\s+is|"
    r"signed|regards|thanks|thank\s+you|thx|cheers|sincerely|"
    r"me\s+llamo|mi\s+nombre\s+es|se\s+llama|nombre\s*:)\s*[,:\-]?\s+"
)
# After a loose cue an unknown lower-case word is a name only when a known name follows:
# "its siobhan o'sullivan", but not "i'm pregnant and bleeding" or "my dad is unconscious".
_LOOSE_CUE = re.compile(
    r"(?i)\b(?:it'?s|its|i\s+am|i'?m|im|patient\s*(?:is|:)|"
    r"(?:son|daughter|wife|husband|mom|dad|child|kid|baby|partner)(?:'s)?\s+(?:is|:))"
    r"\s*[,:\-]?\s+"
)
# After a soft cue only a capitalised word or a known name is ("booked under Hollister").
_SOFT_CUE = re.compile(
    r"(?i)\b(?:(?:appointment|appt|booking|booked|book|scheduled|it'?s)\s+(?:is\s+)?"
    r"(?:for|under)|from|best|love|"
    r"soy|habla|atentamente|saludos|gracias|de\s+parte\s+de|"
    r"(?:la\s+|el\s+)?(?:mam[aá]|pap[aá]|madre|padre|hij[oa]|espos[oa])\s+de)\s*[,:\-]?\s+"
)
_RELATION_CUE = re.compile(
    r"(?i)\b(?:(?:my|our|her|his)\s+(?:son|daughter|husband|wife|mom|mother|dad|father|child|"
    r"kid|baby|partner|grandson|granddaughter|brother|sister|grandma|grandpa|fianc[eé]e?)|"
    r"mi\s+(?:hij[oa]|espos[oa]|mam[aá]|pap[aá]|madre|padre|abuel[oa]|herman[oa]|niet[oa]))\s+"
)
_RELATIVE_OF = re.compile(
    rf"(?i)\b({_LETTER}+)['’]s\s+(?:mom|mother|dad|father|parent|wife|husband|guardian|"
    r"son|daughter|sister|brother|caregiver|grandma|grandpa)\b"
)
# The surname first: "Okonkwo, Chidinma here", "Name: Delgado Ruiz, Marisol".
_REVERSED = re.compile(
    rf"(?:^|(?<=:\s))(?P<name>{_NAME}(?:\s+{_NAME})?,\s+{_NAME}(?:\s+{_UPPER}\.?)?)"
    r"(?=\s*(?:$|[\-–(]|(?i:here|dob|d\.o\.b|mrn|born|date\s+of\s+birth)\b))"
)
# A name opening the message before "here" or a date of birth: "Grace Achterberg dob ...".
_OPENING_NAME = re.compile(
    rf"^(?:(?i:hi|hey|hello|ok|yes)\b[,!]?\s+)?(?P<name>{_NAME}"
    rf"(?:\s+(?:(?i:de|del|la|los|las|du|da|van|der|von|st\.?)\s+)*{_NAME}){{0,3}})"
    r",?\s+(?i:here|dob|d\.o\.b|born|date\s+of\s+birth)\b"
)
# "can Tariq come in", "this is Minh not Linh".
_NAME_IN_REQUEST = re.compile(
    rf"\b(?i:can|could|will|is)\s+(?P<name>{_NAME})\s+(?i:come|be\s+seen|get|still|also)\b"
)
CLINICIAN_TITLE = re.compile(
    r"(?i)\b(?:dr|doctor|doctora|nurse|np|pa|md|provider|enfermer[oa])\.?\s*$"
)
# Particles inside compound surnames: "Van der Meer", "de los Santos", "du Plessis".
PARTICLES = NAME_PARTICLES
# Word lists, as data (frontdesk/phi/data/; its README says what each holds).
_NOT_NAMES = WORDS_NOT_NAMES
_NON_NAME_CAPS = CAPITALISED_NON_NAMES
# Words that follow a name in a message ("im dave williams born on ...").
_AFTER_NAME = frozenset(
    {"born", "dob", "birthday", "needs", "wants", "needed", "asked", "says", "said", "called"}
)
GIVEN = GIVEN_NAMES - AMBIGUOUS
_NAME_STOP = _NOT_NAMES | _NON_NAME_CAPS | _AFTER_NAME | SPACY_STOP_WORDS
_LOWER_STOP = _NAME_STOP | SPANISH_STOP_WORDS
# Lower-case words with these endings are verbs and adverbs ("i'm feeling better"), not names.
_EVERYDAY_ENDING = re.compile(r"(?:ing|ed|ly)$")
_CONTRACTION = re.compile(r"['’](?:re|ll|ve|d|m|t)$|n['’]t$", re.IGNORECASE)


class NameRecognizer(EntityRecognizer):
    """Cheap patient-name detector: cue phrases, a name gazetteer and capitalised name runs."""

    def __init__(self) -> None:
        """Recognise PERSON."""
        super().__init__(supported_entities=[PERSON], name="NameRecognizer")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Find patient names."""
        words = _words(text)
        flagged: set[int] = set()
        after_cue_index: set[int] = set()
        cue_ends = {m.end() for m in _NAME_CUE.finditer(text)}
        loose_ends = {m.end() for m in _LOOSE_CUE.finditer(text)}
        soft_ends = {m.end() for m in _SOFT_CUE.finditer(text)}
        relation_ends = {m.end() for m in _RELATION_CUE.finditer(text)}
        relative_starts = {m.start(1) for m in _RELATIVE_OF.finditer(text)}
        for pattern in (_REVERSED, _OPENING_NAME, _NAME_IN_REQUEST):
            for match in pattern.finditer(text):
                flagged |= _indexes_within(words, *match.span("name"), stop=_NAME_STOP)
        for index, (word, start, _end) in enumerate(words):
            lower = word.lower()
            if _CONTRACTION.search(word):  # "you're", "won't": never a name
                continue
            if CLINICIAN_TITLE.search(text[max(0, start - 12) : start]):
                continue
            capitalised = word[0].isupper()
            # "my son Eli", not "my son has".
            if start in relation_ends | soft_ends:
                if lower not in _NAME_STOP and (capitalised or lower in GIVEN_NAMES):
                    flagged.add(index)
                continue
            if start in relative_starts and lower not in _NOT_NAMES | _NON_NAME_CAPS:
                flagged.add(index)
                continue
            if start in cue_ends | loose_ends and lower not in _NOT_NAMES | _NON_NAME_CAPS:
                after_cue_index.add(index)
                if lower in GIVEN_NAMES or lower in SURNAMES or capitalised:
                    flagged.add(index)
                elif _unknown_word(lower) and (
                    start in cue_ends or _known_name_follows(text, words, index)
                ):
                    flagged.add(index)  # "this is zanele": an unknown word after a firm cue
            elif lower in GIVEN or (
                capitalised
                and not word.isupper()
                and lower not in _NON_NAME_CAPS
                and index + 1 < len(words)
                and words[index + 1][0][0].isupper()
                and words[index + 1][0].lower() in SURNAMES
                and not _sentence_start(text, start)
            ):
                flagged.add(index)
        _extend(text, words, flagged, after_cue_index)
        _add_alternatives(words, flagged)
        return [RecognizerResult(PERSON, words[i][1], words[i][2], 0.85) for i in sorted(flagged)]


def _words(text: str) -> list[tuple[str, int, int]]:
    """Words with their offsets; a possessive "'s" is not part of the name."""
    words = []
    for match in _WORD.finditer(text):
        word, start, end = match.group(0), match.start(), match.end()
        if len(word) > 3 and word[-2] in "'’" and word[-1] in "sS":
            word, end = word[:-2], end - 2
        words.append((word, start, end))
    return words


def _unknown_word(lower: str) -> bool:
    return len(lower) > 1 and lower not in _LOWER_STOP and not _EVERYDAY_ENDING.search(lower)


def _known_name_follows(text: str, words: list[tuple[str, int, int]], index: int) -> bool:
    nxt = index + 1
    if nxt >= len(words) or not _joined(text, words, index, nxt):
        return False
    lower = words[nxt][0].lower()
    return lower in SURNAMES or lower in GIVEN_NAMES or lower in PARTICLES


def _indexes_within(
    words: list[tuple[str, int, int]], start: int, end: int, *, stop: frozenset[str]
) -> set[int]:
    found = set()
    for index, (word, word_start, word_end) in enumerate(words):
        if word_start >= start and word_end <= end and word.lower() not in stop - PARTICLES:
            found.add(index)
    return found


def _joined(text: str, words: list[tuple[str, int, int]], left: int, right: int) -> bool:
    """Whether two neighbouring words belong to one name (only spaces, or "J. ", "st. ")."""
    gap = text[words[left][2] : words[right][1]]
    if gap.strip() == "":
        return True
    word = words[left][0]
    return gap.strip() == "." and (len(word) == 1 or word.lower() == "st")


def _extend(
    text: str,
    words: list[tuple[str, int, int]],
    flagged: set[int],
    after_cue_index: set[int],
) -> None:
    """Grow flagged names over the following words of the same name, and back over a surname.

    "maria gonzalez", "ana lucia torres" after a cue, "Mary Kate De La Cruz", "Tran Minh".
    """
    queue = sorted(flagged)
    while queue:
        index = queue.pop(0)
        for nxt in (index + 1, index - 1):
            if not 0 <= nxt < len(words) or nxt in flagged:
                continue
            left, right = sorted((index, nxt))
            if not _joined(text, words, left, right):
                continue
            word = words[nxt][0]
            lower = word.lower()
            forward = nxt > index
            if (
                (
                    lower in SURNAMES
                    and lower not in _NOT_NAMES | _NON_NAME_CAPS
                    and (forward or word[0].isupper())
                )
                or (forward and lower in PARTICLES and _particle_leads_on(text, words, nxt))
                or (
                    forward
                    and (
                        (index in after_cue_index and _unknown_word(lower))
                        or (word[0].isupper() and lower not in _NON_NAME_CAPS | _NOT_NAMES)
                    )
                )
            ):
                flagged.add(nxt)
                if index in after_cue_index:
                    after_cue_index.add(nxt)
                queue.append(nxt)


def _particle_leads_on(text: str, words: list[tuple[str, int, int]], index: int) -> bool:
    """A particle is part of the name when a name word follows it ("de los Santos")."""
    nxt = index + 1
    while nxt < len(words) and _joined(text, words, nxt - 1, nxt):
        lower = words[nxt][0].lower()
        if lower not in PARTICLES:
            return lower not in _LOWER_STOP or words[nxt][0][0].isupper()
        nxt += 1
    return False


def _add_alternatives(words: list[tuple[str, int, int]], flagged: set[int]) -> None:
    """ "this is Minh not Linh": a capitalised word offered instead of a flagged name."""
    for index in sorted(flagged):
        if index + 2 >= len(words) or words[index + 1][0].lower() not in {"not", "or"}:
            continue
        word = words[index + 2][0]
        if word[0].isupper() and word.lower() not in _NAME_STOP:
            flagged.add(index + 2)


def _sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    return not before or before[-1] in ".!?"
