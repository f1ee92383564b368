"""Splitting a patient's message into the questions it asks (issue 14: two-topic questions).

"what are your hours and do you take Aetna?" asks two things; "do you take Aetna and Cigna"
asks one. The split is deliberately shallow: a question mark or semicolon always ends a
clause, and "and" / "also" / "plus" (Spanish "y" / "además") ends one only when a new question
starts right after it, i.e. the next word opens a question ("what", "do", "is", "cual",
"aceptan"...). Whether the pieces really are two topics is left to retrieval: the caller asks
the documents about each piece and keeps them apart only when they land on different passages
(`knowledge.answering`), so a split inside one topic ("what time do you open and what time do
you close") still gets one answer.
"""

from __future__ import annotations

import re
import unicodedata

from knowledge.retrieve import terms

# Words that open a new question after "and". Kept to question words and auxiliaries: subject
# words ("I", "we", "my") also follow "and" inside one question ("my ex and I are divorced").
_OPENERS_EN = (
    "what|what's|whats|where|where's|wheres|when|how|who|who's|which|why|"
    "do|does|did|is|are|can|could|should|may|is there|are there"
)
# Spanish questions often start with their verb, so the common front-desk verbs are here too.
_OPENERS_ES = (
    "cual|cuales|donde|cuando|como|que|quien|cuanto|cuanta|cuesta|a que|a quien|a donde|"
    "hay|aceptan|abren|cierran|atienden|tienen|ofrecen|dan|hacen|puedo|pueden|necesito|"
    "se puede|es|son|esta|estan"
)
_JOINERS = r"and also|and|also|plus|y tambien|y ademas|ademas|y|e"
_BREAK = re.compile(
    rf"[?;]+|\s+(?:{_JOINERS})\s+(?=(?:{_OPENERS_EN}|{_OPENERS_ES})\b)",
    re.IGNORECASE,
)
# A leading joiner left on a clause by a question-mark split ("...? and is parking free").
_LEADING = re.compile(rf"^\s*(?:{_JOINERS})\b[\s,]*", re.IGNORECASE)
# A clause that opens by pointing back ("is it close to the door") belongs to the one before.
_REFERS_BACK = frozenset(
    ["it", "it's", "that", "this", "they", "them", "those", "these", "eso", "esto"]
)
# Two clauses sharing more than this share of the shorter one's words (synonyms included) ask
# about one thing twice ("what time do you open and what time do you close": time, hours).
SAME_TOPIC_OVERLAP = 0.5
# More pieces than this is a list, not a question with two parts: answered as one question.
MAX_TOPICS = 3


def _fold(text: str) -> str:
    """Lower-case without accents, one character per character of `text` where possible."""
    out = []
    for ch in text.lower():
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if len(base) == 1 else ch)
    return "".join(out)


def split_clauses(question: str) -> list[str]:
    """The questions one message asks, in order; a single question comes back alone.

    Pieces with no content word ("and?", "thanks"), that point back at the clause before
    ("... and is it free") or that mostly repeat its words ("... and what time do you close")
    join that clause, so a split never produces a clause that cannot be looked up on its own
    or one topic asked twice.
    """
    folded = _fold(question)
    pieces: list[str] = []
    start = 0
    for match in _BREAK.finditer(folded):
        pieces.append(question[start : match.start()])
        start = match.end()
    pieces.append(question[start:])
    clauses: list[str] = []
    for piece in pieces:
        text = _LEADING.sub("", piece.strip(" \t\n¿¡,.!")).strip()
        if not text:
            continue
        opening = _fold(text).split()[:3]
        if clauses and (
            not terms(text) or _REFERS_BACK.intersection(opening) or _same_topic(clauses[-1], text)
        ):
            clauses[-1] = f"{clauses[-1]}, {text}"
        else:
            clauses.append(text)
    if len(clauses) > MAX_TOPICS or not clauses:
        return [question.strip()]
    return clauses


def _same_topic(first: str, second: str) -> bool:
    """Whether two clauses mostly use the same words (or synonyms of them)."""
    a, b = set(terms(first)), set(terms(second))
    shared, shorter = len(a & b), min(len(a), len(b))
    # One shared word is not enough: "where do we park" / "do you sell car seats" share "park"
    # through the synonym car -> parking, and are two questions.
    return shared >= 2 and shared / shorter > SAME_TOPIC_OVERLAP
