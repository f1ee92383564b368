"""Hybrid retrieval: BM25 over stemmed words plus static dense embeddings.

Measured on knowledge/eval (see docs/knowledge.md): either signal alone misses paraphrases
the other catches (BM25 "when do you open" vs "Office hours"; WordLlama "do you take Aetna"
pulls any insurance passage). The fused score ranks; a separate confidence figure (dense
similarity and how much of the question's rare vocabulary the passage covers) decides
whether to answer at all.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from knowledge.embeddings import Embedder, Vectors
from knowledge.ingest import Passage

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "how",
        "i",
        "i'd",
        "i'm",
        "if",
        "in",
        "is",
        "it",
        "it's",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "should",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "u",
        "up",
        "us",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "you're",
        "hi",
        "hello",
        "hey",
        "there",
        "thanks",
        "thank",
        "ok",
        "okay",
        "just",
        "also",
        "still",
        "tell",
        "know",
        "need",
        "want",
        # third-person pronouns: a parent asks about "his appointment", "her checkup"
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
    ]
)

# Spanish function words (issue 15: Spanish documents beside English ones). Only words that
# carry no topic in either language: "no", "me", "con" and "mi" are left out on purpose.
STOP_WORDS = STOP_WORDS | frozenset(
    [
        "de",
        "del",
        "el",
        "la",
        "las",
        "los",
        "lo",
        "un",
        "una",
        "unos",
        "unas",
        "y",
        "e",
        "o",
        "u",
        "que",
        "en",
        "por",
        "para",
        "al",
        "su",
        "sus",
        "mis",
        "tu",
        "tus",
        "se",
        "le",
        "les",
        "es",
        "son",
        "esta",
        "este",
        "esto",
        "estan",
        "tiene",
        "tienen",
        "tengo",
        "puedo",
        "puede",
        "pueden",
        "quiero",
        "como",
        "donde",
        "cuando",
        "cual",
        "cuales",
        "cuanto",
        "cuanta",
        "quien",
        "usted",
        "ustedes",
        "nos",
        "nosotros",
        "yo",
        "ellos",
        "ella",
        "ser",
        "estar",
        "hacer",
        "si",
        "ya",
        "muy",
        "mas",
        "pero",
        "tambien",
        "sobre",
        "entre",
        "hasta",
        "desde",
    ]
)


def _fold(text: str) -> str:
    """Lower-case without accents, so "días" and "dias" are one word (Spanish documents)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Everyday words patients use for the documents' words (kept small and readable).
SYNONYMS = {
    "open": "hours",
    "opening": "hours",
    "close": "hours",
    "closed": "hours",
    "closing": "hours",
    "time": "hours",
    "times": "hours",
    "weekend": "saturday",
    "saturdays": "saturday",
    "sunday": "closed",
    "park": "parking",
    "car": "parking",
    "garage": "parking",
    "validate": "validation",
    "coverage": "insurance",
    "covered": "insurance",
    "plan": "insurance",
    "plans": "insurance",
    "take": "accept",
    "doctor": "clinician",
    "pay": "payment",
    "paying": "payment",
    "bill": "billing",
    "bills": "billing",
    "charge": "billing",
    "cost": "fee",
    "costs": "fee",
    "price": "fee",
    "charged": "fee",
    "video": "telehealth",
    "virtual": "telehealth",
    "online": "portal",
    "login": "portal",
    "password": "portal",
    "blood": "lab",
    "bloodwork": "lab",
    "records": "record",
    "chart": "record",
    "shot": "vaccine",
    "shots": "vaccine",
    "vaccination": "vaccine",
    "vaccinations": "vaccine",
    "cancel": "cancellation",
    "canceling": "cancellation",
    "cancelling": "cancellation",
    "handicap": "accessible",
    "handicapped": "accessible",
    "disabled": "accessible",
    "wheelchair": "accessible",
    "bike": "bicycle",
    "bikes": "bicycle",
    "kids": "children",
    "kid": "children",
    "child": "children",
    "installments": "plan",
    "notice": "cancellation",
}
# Front-desk topics: what a patient says happened -> the word a policy is filed under. Kept to
# everyday words any practice's documents use (docs/knowledge.md); added after measuring a
# second practice's documents, so the figures on those are not blind (say so when quoting).
TOPIC_SYNONYMS = {
    # running late, missing a visit
    "behind": "late",
    "traffic": "late",
    "delayed": "late",
    "forgot": "missed",
    "forget": "missed",
    "miss": "missed",
    "noshow": "missed",
    "skipped": "missed",
    # closures
    "christmas": "holiday",
    "thanksgiving": "holiday",
    "easter": "holiday",
    "holidays": "holiday",
    "weekday": "hours",
    "weekdays": "hours",
    # who comes, who pays
    "grandma": "grandparent",
    "grandpa": "grandparent",
    "grandmother": "grandparent",
    "grandfather": "grandparent",
    "babysitter": "nanny",
    "sitter": "nanny",
    "caregiver": "nanny",
    "ex": "separated",
    "custody": "separated",
    "divorced": "separated",
    "coparent": "separated",
    "afford": "payment",
    "teenager": "teen",
    "teenage": "teen",
    "adolescent": "teen",
    "newborn": "baby",
    "infant": "baby",
    # care topics a front desk files by name
    "nursing": "feeding",
    "breastfeeding": "feeding",
    "formula": "feeding",
    "latch": "feeding",
    "vaccinated": "vaccine",
    "unvaccinated": "vaccine",
    "immunization": "vaccine",
    "immunizations": "vaccine",
    "immunized": "vaccine",
    "proof": "record",
    "copy": "record",
    "faster": "rush",
    "asap": "rush",
    "quickly": "rush",
    "sooner": "rush",
    "renew": "refill",
    "signup": "portal",
    "account": "portal",
    "message": "messages",
    "text": "messages",
    "email": "messages",
}


def _stem(word: str) -> str:
    # A light suffix stripper: enough for "visits"/"visit", "accepting"/"accept".
    for suffix, keep in (
        ("ies", "y"),
        ("ing", ""),
        ("ed", ""),
        ("sses", "ss"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("xes", "x"),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


# "what's", "we're", "son's": the word without its clitic is what counts ("what" is a stop
# word, "son" is not). Negations ("don't", "can't") are left whole.
_CLITIC = re.compile(r"'(?:s|re|ve|ll|d|m)$")


# What the PHI scrubber puts in place of a name or a number ("<PERSON>"): not a word the
# patient wrote, and it must not match "in person" or "personas" in a document.
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*>")


def content_words(text: str) -> list[str]:
    """Lower-cased, accent-free words of a text that are not stop words (not stemmed)."""
    out = []
    for word in _WORD.findall(_fold(_PLACEHOLDER.sub(" ", text))):
        if word not in STOP_WORDS:
            word = _CLITIC.sub("", word)
            if word not in STOP_WORDS:
                out.append(word)
    return out


class Analyzer:
    """How one language's words become index terms: its stemmer and its everyday synonyms.

    A practice's passages are searched one language at a time (knowledge.languages), so each
    index uses its own language's rules: English suffix stripping does nothing for
    "estacionar" and "estacionamiento", which a Spanish stemmer makes one word.
    """

    def __init__(self, stem: Callable[[str], str], synonyms: tuple[Mapping[str, str], ...]) -> None:
        """A stemmer and the synonym tables (word -> the word documents file it under)."""
        self.stem = stem
        self.synonyms = synonyms

    def forms(self, word: str) -> list[str]:
        """A content word's stem, then the stems of its synonyms."""
        out = [self.stem(word)]
        for table in self.synonyms:
            synonym = table.get(word)
            if synonym is not None:
                out.append(self.stem(synonym))
        return out

    def terms(self, text: str) -> list[str]:
        """Lower-cased, stop-word-free, stemmed words, with everyday synonyms added."""
        return [form for word in content_words(text) for form in self.forms(word)]


ENGLISH = Analyzer(_stem, (SYNONYMS, TOPIC_SYNONYMS))


def terms(text: str) -> list[str]:
    """`Analyzer.terms` with the English rules (the default for every index)."""
    return ENGLISH.terms(text)


# BM25 over headings alone, added to the passage BM25 at this weight (measured on both
# evaluation sets, docs/knowledge.md).
HEADING_WEIGHT = 0.3
DENSE_WEIGHT = 0.4


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with the scores that ranked it."""

    passage: Passage
    score: float  # fused ranking score (0-1 within one query)
    dense: float  # cosine similarity of question and passage
    lexical: float  # BM25 score
    coverage: float  # share of the question's IDF weight the passage contains (0-1)
    known: float = 1.0  # share of the question's words the practice's documents use at all


class Bm25:
    """Okapi BM25 over a fixed list of documents."""

    def __init__(self, documents: list[list[str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        """Index tokenised documents."""
        self.k1, self.b = k1, b
        self.counts = [Counter(d) for d in documents]
        self.lengths = [len(d) for d in documents]
        self.average = sum(self.lengths) / max(len(documents), 1)
        frequency: Counter[str] = Counter()
        for counts in self.counts:
            frequency.update(counts.keys())
        n = len(documents)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)

    def scores(self, query: list[str]) -> list[float]:
        """BM25 score of every document for a tokenised query."""
        result = []
        for counts, length in zip(self.counts, self.lengths, strict=True):
            score = 0.0
            for term in set(query):
                tf = counts.get(term, 0)
                if tf:
                    norm = tf + self.k1 * (1 - self.b + self.b * length / self.average)
                    score += self.idf[term] * tf * (self.k1 + 1) / norm
            result.append(score)
        return result

    def coverage(self, query: list[str], index: int) -> float:
        """Share of the query's IDF weight found in one document (unknown words count too)."""
        unique = set(query)
        if not unique:
            return 0.0
        total = sum(self.idf.get(t, self.unknown_idf) for t in unique)
        found = sum(self.idf[t] for t in unique if t in self.counts[index])
        return found / total


class HybridRetriever:
    """Ranks a practice's passages for a question by fused BM25 and dense similarity."""

    def __init__(
        self,
        passages: list[Passage],
        vectors: Vectors,
        *,
        embedder: Embedder,
        dense_weight: float = DENSE_WEIGHT,
        analyzer: Analyzer = ENGLISH,
    ) -> None:
        """Build the in-memory indexes from passages and their stored embeddings.

        Args:
            passages: The passages, all in one language (or the English default).
            vectors: Their embeddings, one row per passage.
            embedder: Embeds questions the same way.
            dense_weight: Share of the fused score given to dense similarity.
            analyzer: The passages' language's stemmer and synonyms.
        """
        self.analyzer = analyzer
        self.passages = passages
        self.vectors = vectors
        self.embedder = embedder
        self.dense_weight = dense_weight
        # The heading counts twice: it names what the passage is about.
        self.bm25 = Bm25([analyzer.terms(f"{p.section}. {p.indexed_text}") for p in passages])
        # And on its own: a question matching a heading's words is about that heading, even
        # when a longer passage repeats the same words more often.
        self.headings = Bm25([analyzer.terms(p.section) for p in passages])
        self.heading_weight = HEADING_WEIGHT

    def search(self, question: str, *, k: int = 3) -> list[Hit]:
        """The k best passages for a question, best first."""
        if not self.passages:
            return []
        query = self.analyzer.terms(question)
        dense = self.vectors @ self.embedder.embed([question])[0]
        lexical = np.asarray(self.bm25.scores(query), dtype=np.float32)
        lexical += self.heading_weight * np.asarray(self.headings.scores(query), dtype=np.float32)
        top_lexical = float(lexical.max())
        lexical_norm = lexical / top_lexical if top_lexical > 0 else lexical
        dense_norm = np.clip(dense, 0.0, None)
        top_dense = float(dense_norm.max())
        if top_dense > 0:
            dense_norm = dense_norm / top_dense
        fused = self.dense_weight * dense_norm + (1 - self.dense_weight) * lexical_norm
        order = np.argsort(-fused, kind="stable")[:k]
        known = self.known_share(question)
        return [
            Hit(
                passage=self.passages[i],
                score=float(fused[i]),
                dense=float(dense[i]),
                lexical=float(lexical[i]),
                coverage=self.bm25.coverage(query, int(i)),
                known=known,
            )
            for i in order
        ]

    def known_share(self, question: str) -> float:
        """Share of the question's content words (or their synonyms) the documents use.

        "do you do lasik" shares no word with a pediatric handbook; "we're stuck in traffic"
        shares "late" through its synonym. Unlike coverage this does not ask that one passage
        hold them all, so a paraphrase spread over everyday words is not punished twice.
        """
        words = content_words(question)
        if not words:
            return 0.0
        vocabulary = self.bm25.idf
        known = 0
        for word in words:
            known += any(form in vocabulary for form in self.analyzer.forms(word))
        return known / len(words)
