"""Grounded answers from a practice's documents, or an honest "not sure".

The default answer is extractive: the sentences of the best passage that match the question,
with the passage's file name and heading as the source. An optional langchain chat model only
rephrases those sentences. Questions about symptoms, medicines or results are never answered
from the knowledge base, and the question is scrubbed of PHI before it is embedded or put in
a prompt.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from frontdesk.language import DEFAULT_LANGUAGE, Language
from knowledge.calibrate import confidence, spanish_confidence
from knowledge.embeddings import Embedder, default_embedder
from knowledge.ingest import KnowledgeStore, Passage, check_slug, ingest_directory
from knowledge.languages import analyzer_for, in_language
from knowledge.retrieve import ENGLISH, Analyzer, Hit, HybridRetriever
from knowledge.topics import split_clauses

if TYPE_CHECKING:
    from frontdesk.settings import Settings

logger = logging.getLogger(__name__)

NOT_SURE = (
    "I'm not sure about that, and I'd rather not guess. "
    "Would you like me to pass your question to someone at the practice?"
)
MEDICAL = (
    "I can't answer questions about symptoms, medicines or test results in this chat. "
    "Someone from our care team can help; if this is an emergency, call 911 now."
)
# Said after the parts we could answer when another part of the question found no passage.
PART_NOT_SURE = {
    Language.EN: (
        "I couldn't find the answer to the other part of your question in our documents. "
        "Would you like me to pass it to someone at the practice?"
    ),
    Language.ES: (
        "No encontré en nuestros documentos la respuesta a la otra parte de su pregunta. "
        "¿Quiere que se la pase a alguien del consultorio?"
    ),
}
NOT_SET_UP = (
    "I can't look that up right now. Would you like me to pass your question to someone at "
    "the practice?"
)

# Clinical questions go to people, whatever the documents say. Matched on whole words.
_MEDICAL = re.compile(
    r"\b("
    r"symptoms?|pain(ful)?|hurts?|hurting|ache|aching|fever|rash|cough(ing)?|bleed(ing)?|"
    r"dizzy|nause(a|ous)|vomit(ing)?|swollen|swelling|infection|infected|diagnos\w*|"
    r"sore(ness)?|itch(y|ing)?|headaches?|migraines?|diarrh\w*|fatigue|"
    r"is (it|this|that) normal|should i (be )?worr(y|ied)|"
    r"pregnan\w*|lump|chest pain|breath(e|ing)?|"
    r"medicines?|medications?|meds|dosage|dose|doses|mg|pills?|tablets?|antibiotics?|"
    r"side effects?|ibuprofen|tylenol|advil|aspirin|insulin|prescri\w*|drug|drugs|"
    r"results?|normal range|cholesterol|a1c|blood pressure|blood sugar|glucose|"
    r"biopsy|x-?rays?|mri|diagnosis|should i take|is it safe to"
    r")\b",
    re.IGNORECASE,
)
# Sentences that match the question equally well all go into an answer, up to this many.
TIED_SENTENCES = 4
# A sentence ends at . ! or ? before a capital, except after a title ("Dr. Amara Patel").
_SENTENCE = re.compile(
    r"(?<=[.!?])(?<!\bDr\.)(?<!\bDrs\.)(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bSt\.)"
    r"(?<!\bProf\.)\s+(?=[A-Z0-9\"'])"
)


def is_medical_question(question: str) -> bool:
    """Whether a question asks about symptoms, medicines or results (never answered here)."""
    return _MEDICAL.search(question) is not None


@dataclass(frozen=True)
class Source:
    """Where an answer came from."""

    source: str  # file name
    section: str  # heading


@dataclass(frozen=True)
class AnswerPart:
    """The answer to one topic of a question that asked about several, with its own source."""

    answer: str
    source: Source


@dataclass(frozen=True)
class Answer:
    """An answer as `frontdesk kb ask --json` prints it (DESIGN.md contract).

    A question about two topics ("what are your hours and do you take Aetna?") is answered
    part by part: `parts` holds one extract per topic, each with its source, and `answer`
    joins them; `part_not_sure` is set when another part found nothing to answer it.
    """

    answer: str
    confident: bool
    sources: list[Source] = field(default_factory=list)
    score: float = 0.0  # confidence figure behind `confident` (not in the JSON contract)
    parts: list[AnswerPart] = field(default_factory=list)
    part_not_sure: str = ""

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON shape: answer, confident, sources[{source, section}]; a
        question answered in parts adds `parts` [{answer, source, section}] and
        `part_not_sure`."""
        shape: dict[str, Any] = {
            "answer": self.answer,
            "confident": self.confident,
            "sources": [asdict(s) for s in self.sources],
        }
        if self.parts:
            shape["parts"] = [{"answer": p.answer, **asdict(p.source)} for p in self.parts]
            shape["part_not_sure"] = self.part_not_sure
        return shape


class Rephraser(Protocol):
    """Turns retrieved passages into a friendlier answer (optional LLM path)."""

    def rephrase(self, *, question: str, passages: list[Passage]) -> str:
        """An answer to `question` using only `passages`."""
        ...


def extract(
    question: str,
    passage: Passage,
    *,
    embedder: Embedder,
    limit: int = 2,
    analyzer: Analyzer = ENGLISH,
) -> str:
    """The passage's sentences that best answer the question, in document order.

    Usually the `limit` best; but every sentence that shares as many of the question's words
    as the best one does goes in too (up to `TIED_SENTENCES`): "what are your hours" matches
    each sentence of "Office hours" equally, and the weekday hours must not be dropped for the
    Tuesday and Saturday ones the embedding happens to favour. Words are compared with the
    passage's language's `analyzer`, the one its index was searched with.
    """
    sentences = [s.strip() for s in _SENTENCE.split(passage.text) if s.strip()]
    if len(sentences) <= limit:
        return " ".join(sentences)
    wanted = set(analyzer.terms(question))
    overlaps = [len(wanted & set(analyzer.terms(s))) / max(len(wanted), 1) for s in sentences]
    vectors = embedder.embed(sentences)
    dense = vectors @ embedder.embed([question])[0]
    scored = sorted(
        ((overlap + 0.5 * float(dense[index]), index) for index, overlap in enumerate(overlaps)),
        reverse=True,
    )
    chosen = {index for _, index in scored[:limit]}
    top = max(overlaps)
    if top > 0:
        tied = [index for _, index in scored if overlaps[index] == top]
        if len(tied) <= TIED_SENTENCES:
            chosen.update(tied)
    best = sorted(chosen)
    if best[0] == 1 and _refers_back(sentences[1]):
        best = [0, *best]  # "It ..." needs the sentence it refers to
    return " ".join(sentences[i] for i in best)


def _refers_back(sentence: str) -> bool:
    return sentence.split(" ", 1)[0].lower() in {"it", "this", "they", "these", "that"}


class KnowledgeBase:
    """Answers questions for any practice whose documents were ingested."""

    def __init__(
        self,
        *,
        store: KnowledgeStore,
        threshold: float = 0.35,
        embedder: Embedder | None = None,
        rephraser: Rephraser | None = None,
        scrubber: Callable[[str], str] | None = None,
    ) -> None:
        """Create the knowledge base over a store.

        Args:
            store: Chroma store with one collection per practice.
            threshold: Confidence below which the answer is "not sure", for a practice whose
                snapshot carries no calibrated threshold (see `threshold_for`).
            embedder: Question and passage embedder (bundled static embeddings by default).
            rephraser: Optional LLM rephrasing of the extracted passages.
            scrubber: PHI scrubber applied to the question first (frontdesk.phi by default).
        """
        self.store = store
        self.threshold = threshold
        self._embedder = embedder
        self.rephraser = rephraser
        self.scrub = scrubber or _default_scrub
        self._retrievers: dict[str, tuple[float, HybridRetriever, float]] = {}
        # (practice, language) -> (version, retriever over that language's passages, threshold)
        self._by_language: dict[tuple[str, str], tuple[float, HybridRetriever, float]] = {}
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The question embedder, loaded on the first question (not when the base opens)."""
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def stamp_path(self, practice_slug: str) -> Path:
        """A file touched after each ingest, so every process reloads its cached index."""
        return self.store.directory / f"{check_slug(practice_slug)}.stamp"

    def mark_changed(self, practice_slug: str) -> None:
        """Record that a practice's documents changed (called after ingest)."""
        self.stamp_path(practice_slug).touch()
        with self._lock:
            self._retrievers.pop(practice_slug, None)
            for key in [k for k in self._by_language if k[0] == practice_slug]:
                del self._by_language[key]

    def retriever(self, practice_slug: str) -> HybridRetriever:
        """The practice's in-memory index, reloaded when an ingest changed it."""
        stamp = self.stamp_path(practice_slug)
        version = stamp.stat().st_mtime if stamp.exists() else 0.0
        with self._lock:
            cached = self._retrievers.get(practice_slug)
            if cached is not None and cached[0] == version:
                return cached[1]
            snapshot = self.store.load_snapshot(practice_slug)
            matrix = np.asarray(snapshot.vectors, dtype=np.float32)
            if not snapshot.passages:
                matrix = np.zeros((0, 1), dtype=np.float32)
            retriever = HybridRetriever(snapshot.passages, matrix, embedder=self.embedder)
            threshold = snapshot.calibration.get("threshold", self.threshold)
            self._retrievers[practice_slug] = (version, retriever, threshold)
            return retriever

    def retriever_in(self, practice_slug: str, language: Language) -> tuple[HybridRetriever, float]:
        """The practice's index over its passages in `language`, and that index's threshold."""
        stamp = self.stamp_path(practice_slug)
        version = stamp.stat().st_mtime if stamp.exists() else 0.0
        key = (practice_slug, language.value)
        with self._lock:
            cached = self._by_language.get(key)
            if cached is not None and cached[0] == version:
                return cached[1], cached[2]
        whole = self.retriever(practice_slug)
        snapshot = self.store.load_snapshot(practice_slug)
        rows = in_language(whole.passages, language)
        retriever = HybridRetriever(
            [whole.passages[i] for i in rows],
            whole.vectors[rows] if rows else np.zeros((0, 1), dtype=np.float32),
            embedder=self.embedder,
            analyzer=analyzer_for(language),
        )
        threshold_key = "threshold" if language is DEFAULT_LANGUAGE else f"threshold_{language}"
        threshold = snapshot.calibration.get(threshold_key, self.threshold)
        with self._lock:
            self._by_language[key] = (version, retriever, threshold)
        return retriever, threshold

    def threshold_for(self, practice_slug: str) -> float:
        """The practice's abstention threshold: calibrated at its ingest (knowledge.calibrate),
        else the configured one (a store ingested before calibration existed)."""
        self.retriever(practice_slug)
        with self._lock:
            return self._retrievers[practice_slug][2]

    def search(self, question: str, *, practice_slug: str, k: int = 3) -> list[Hit]:
        """The best passages for a (scrubbed) question."""
        return self.retriever(practice_slug).search(self.scrub(question), k=k)

    def answer(
        self, question: str, *, practice_slug: str, language: Language | None = None
    ) -> Answer:
        """Answer from the practice's documents, or say we are not sure.

        Args:
            question: The patient's question (scrubbed here before anything reads it).
            practice_slug: Whose documents answer.
            language: The conversation's language: only passages written in it may answer
                (none in it means "not sure", never an extract in another language). None
                searches every passage (the command line, the evaluation).
        """
        if is_medical_question(question):
            return Answer(answer=MEDICAL, confident=False)
        clean = self.scrub(question)
        if language is None:
            retriever, threshold = self.retriever(practice_slug), self.threshold_for(practice_slug)
        else:
            retriever, threshold = self.retriever_in(practice_slug, language)
        hits = retriever.search(clean, k=3)
        if not hits:
            return Answer(answer=NOT_SET_UP, confident=False)
        rule = spanish_confidence if language is Language.ES else confidence
        clauses = split_clauses(clean)
        if len(clauses) > 1:
            in_parts = self._answer_in_parts(
                clauses, retriever, threshold, rule, language or DEFAULT_LANGUAGE
            )
            if in_parts is not None:
                return in_parts
        best = hits[0]
        score = rule(best)
        if score < threshold:
            return Answer(answer=NOT_SURE, confident=False, score=score)
        text = self._extract(clean, best.passage, retriever.analyzer)
        return Answer(
            answer=text,
            confident=True,
            sources=[Source(source=best.passage.source, section=best.passage.section)],
            score=score,
        )

    def _extract(self, question: str, passage: Passage, analyzer: Analyzer) -> str:
        """The extractive answer from one passage, rephrased when an LLM is configured."""
        text = extract(question, passage, embedder=self.embedder, analyzer=analyzer)
        if self.rephraser is not None:
            try:
                text = self.rephraser.rephrase(question=question, passages=[passage]) or text
            except Exception:  # the LLM is optional; the extractive answer stands
                logger.warning("knowledge rephraser failed; using the extractive answer")
        return text

    def _answer_in_parts(
        self,
        clauses: list[str],
        retriever: HybridRetriever,
        threshold: float,
        rule: Callable[[Hit], float],
        language: Language,
    ) -> Answer | None:
        """Answer each clause from its own passage, or None to answer the whole as one.

        Clauses that land confidently on the same passage are one topic (asked twice), so a
        question whose confident clauses all share a passage and that has no unsure clause is
        left to the single-answer path. Passages are never merged: each topic keeps its own
        extract and source. None as well when no clause is confident (the whole question
        then decides between an answer and "not sure").
        """
        topics: dict[tuple[str, str], tuple[list[str], Passage, float]] = {}
        unsure = False
        for clause in clauses:
            hits = retriever.search(clause, k=1)
            score = rule(hits[0]) if hits else 0.0
            if score < threshold:
                unsure = True
                continue
            key = (hits[0].passage.source, hits[0].passage.section)
            asked, passage, best = topics.get(key, ([], hits[0].passage, score))
            topics[key] = ([*asked, clause], passage, min(best, score))
        if not topics or (len(topics) == 1 and not unsure):
            return None
        parts = [
            AnswerPart(
                answer=self._extract(" ".join(asked), passage, retriever.analyzer),
                source=Source(source=passage.source, section=passage.section),
            )
            for asked, passage, _ in topics.values()
        ]
        note = PART_NOT_SURE.get(language, PART_NOT_SURE[DEFAULT_LANGUAGE]) if unsure else ""
        return Answer(
            answer="\n\n".join([*(p.answer for p in parts), *([note] if note else [])]),
            confident=True,
            sources=[p.source for p in parts],
            score=min(score for _, _, score in topics.values()),
            parts=parts,
            part_not_sure=note,
        )


_shared: dict[tuple[Path, float, str], KnowledgeBase] = {}
_shared_lock = threading.Lock()


def _default_scrub(text: str) -> str:
    """frontdesk.phi's scrubber, imported on first use (presidio takes seconds to import)."""
    from frontdesk.phi import scrub

    return scrub(text)


def shared_knowledge_base(settings: Settings) -> KnowledgeBase:
    """The process-wide knowledge base the settings describe, opened on first use.

    Everything in one process that answers from the same store (the actions, the start-up
    warm-up, the command line) shares one instance, so the indexes one loads serve the others.
    """
    key = (settings.knowledge_dir, settings.kb_confidence_threshold, settings.kb_llm_model)
    with _shared_lock:
        kb = _shared.get(key)
        if kb is None:
            from knowledge.llm import rephraser_from_settings

            kb = _shared[key] = KnowledgeBase(
                store=KnowledgeStore(settings.knowledge_dir),
                threshold=settings.kb_confidence_threshold,
                rephraser=rephraser_from_settings(settings),
            )
        return kb


DEMO_PRACTICE = "riverside"
DEMO_DOCS = Path(__file__).resolve().parent / "docs" / DEMO_PRACTICE
_demo_ingest_lock = threading.Lock()


def ensure_demo_ingested(kb: KnowledgeBase, practice_slug: str) -> None:
    """The demo practice answers out of the box: its bundled documents are ingested once.

    Runs on the first question, so a fresh clone needs no extra command (about a second).
    One question at a time checks and ingests: first questions arriving together (the
    action endpoint runs in a thread pool) would otherwise ingest the documents side by side.
    """
    if practice_slug != DEMO_PRACTICE:
        return
    with _demo_ingest_lock:
        if kb.store.has_collection(practice_slug) or not DEMO_DOCS.is_dir():
            return
        ingest_directory(directory=DEMO_DOCS, practice_slug=practice_slug, store=kb.store)
        kb.mark_changed(practice_slug)


def answer(
    question: str,
    *,
    practice_slug: str,
    knowledge_base: KnowledgeBase,
    language: Language | None = None,
) -> Answer:
    """Answer a patient's question from the practice's documents (the shared entry point)."""
    ensure_demo_ingested(knowledge_base, practice_slug)
    return knowledge_base.answer(question, practice_slug=practice_slug, language=language)
