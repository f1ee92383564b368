"""Which language each passage of a practice's documents is written in.

A practice may keep Spanish documents beside English ones (issue 15). A question is answered
only from passages in the conversation's language, so a Spanish-speaking patient never gets
an English extract presented as the answer: when the practice has nothing in Spanish on the
topic, the bot says so in Spanish and offers a person. The language is read from the passage
itself with the same offline detector the conversations use (frontdesk.language); a whole
passage is long enough for it to be reliable, and anything it cannot judge counts as English,
the language a knowledge base was written in before this existed.
"""

from __future__ import annotations

from frontdesk.language import DEFAULT_LANGUAGE, Language, detect
from knowledge.ingest import Passage
from knowledge.retrieve import ENGLISH, Analyzer
from knowledge.spanish import SPANISH

# Below this the detector is guessing (a heading and a phone number, say): keep the default.
SURE = 0.9


def passage_language(passage: Passage) -> Language:
    """The language a passage is written in."""
    found = detect(f"{passage.title}. {passage.section}. {passage.text}")
    if found is None or found.confidence < SURE:
        return DEFAULT_LANGUAGE
    return found.language


def in_language(passages: list[Passage], language: Language) -> list[int]:
    """Positions of the passages written in `language`, in order."""
    return [i for i, passage in enumerate(passages) if passage_language(passage) is language]


def analyzer_for(language: Language) -> Analyzer:
    """The stemmer and synonyms an index of passages in `language` uses."""
    return SPANISH if language is Language.ES else ENGLISH
