"""Abstention calibrated per knowledge base at ingest, and retrieval on documents written in
another practice's words (knowledge/docs/littleoaks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.answering import NOT_SURE, KnowledgeBase
from knowledge.calibrate import HIGHEST, LOWEST, PROBES, calibrate
from knowledge.embeddings import default_embedder
from knowledge.ingest import KnowledgeStore, ingest_directory
from knowledge.retrieve import HybridRetriever

DOCS = Path(__file__).resolve().parents[2] / "knowledge" / "docs"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    store = KnowledgeStore(tmp_path_factory.mktemp("kb"))
    for practice in ("riverside", "littleoaks"):
        ingest_directory(directory=DOCS / practice, practice_slug=practice, store=store)
    return store


def test_each_knowledge_base_gets_its_own_threshold_at_ingest(store: KnowledgeStore) -> None:
    thresholds = {
        practice: store.load_snapshot(practice).calibration["threshold"]
        for practice in ("riverside", "littleoaks")
    }
    assert all(LOWEST <= t <= HIGHEST for t in thresholds.values())
    assert thresholds["riverside"] != thresholds["littleoaks"]
    calibration = store.load_snapshot("littleoaks").calibration
    assert calibration["probes"] == len(PROBES) and calibration["probe_quantile"] == 0.95


def test_the_calibrated_threshold_wins_over_the_configured_one(store: KnowledgeStore) -> None:
    kb = KnowledgeBase(store=store, threshold=0.99, scrubber=lambda text: text)
    assert (
        kb.threshold_for("littleoaks") == store.load_snapshot("littleoaks").calibration["threshold"]
    )
    assert kb.answer("is blue cross in network", practice_slug="littleoaks").confident


def test_a_store_without_calibration_uses_the_configured_threshold(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path)
    ingest_directory(directory=DOCS / "littleoaks", practice_slug="littleoaks", store=store)
    store.write_snapshot("littleoaks")  # as an ingest before calibration existed left it
    kb = KnowledgeBase(store=store, threshold=0.99, scrubber=lambda text: text)
    assert kb.threshold_for("littleoaks") == 0.99
    assert not kb.answer("is blue cross in network", practice_slug="littleoaks").confident


@pytest.mark.parametrize(
    ("question", "source", "section"),
    [
        (
            "we're stuck in traffic and will be about 20 min behind, can we still come",
            "visits.md",
            "Arriving late",
        ),
        (
            "our nanny will bring the twins, does she need anything",
            "consent.md",
            "When someone else brings your child",
        ),
        ("i can't afford this whole bill at once", "billing.md", "Payment plans"),
    ],
)
def test_a_parents_own_words_find_the_policy_that_answers_them(
    store: KnowledgeStore, question: str, source: str, section: str
) -> None:
    answer = KnowledgeBase(store=store, scrubber=lambda text: text).answer(
        question, practice_slug="littleoaks"
    )
    assert answer.confident
    assert [(s.source, s.section) for s in answer.sources] == [(source, section)]


@pytest.mark.parametrize("question", ["do you sell car seats", "what is the wifi password"])
def test_what_the_handbook_never_mentions_is_declined(store: KnowledgeStore, question: str) -> None:
    answer = KnowledgeBase(store=store, scrubber=lambda text: text).answer(
        question, practice_slug="littleoaks"
    )
    assert not answer.confident and answer.answer == NOT_SURE


def test_known_share_counts_words_and_their_synonyms_the_documents_use(
    store: KnowledgeStore,
) -> None:
    retriever = KnowledgeBase(store=store, scrubber=lambda t: t).retriever("littleoaks")
    assert retriever.known_share("stuck in traffic") == 0.5  # "traffic" -> "late"
    assert retriever.known_share("lasik") == 0.0
    assert retriever.known_share("") == 0.0


def test_an_empty_knowledge_base_has_no_calibration() -> None:
    empty = HybridRetriever([], np.zeros((0, 1), dtype=np.float32), embedder=default_embedder())
    assert calibrate(empty) == {}
