"""Spanish documents beside English ones: a question is answered only in its own language."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from frontdesk.language import Language
from knowledge.answering import KnowledgeBase
from knowledge.ingest import KnowledgeStore, ingest_directory, read_passages
from knowledge.languages import passage_language

DEMO_DOCS = Path(__file__).resolve().parents[2] / "knowledge" / "docs" / "riverside"
SPANISH_FILES = {"horario.md", "estacionamiento.md", "seguros.md"}


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    store = KnowledgeStore(tmp_path_factory.mktemp("kb"))
    ingest_directory(directory=DEMO_DOCS, practice_slug="riverside", store=store)
    return KnowledgeBase(store=store, scrubber=lambda text: text)


@pytest.fixture(scope="module")
def english_only(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    docs = tmp_path_factory.mktemp("docs")
    for path in DEMO_DOCS.glob("*.md"):
        if path.name not in SPANISH_FILES:
            shutil.copy(path, docs / path.name)
    store = KnowledgeStore(tmp_path_factory.mktemp("kb"))
    ingest_directory(directory=docs, practice_slug="riverside", store=store)
    return KnowledgeBase(store=store, scrubber=lambda text: text)


def test_each_demo_passage_is_read_as_the_language_it_is_written_in() -> None:
    for path in DEMO_DOCS.glob("*.md"):
        expected = Language.ES if path.name in SPANISH_FILES else Language.EN
        assert {passage_language(p) for p in read_passages(path)} == {expected}, path.name


def test_ingest_calibrates_a_threshold_per_language(kb: KnowledgeBase) -> None:
    calibration = kb.store.load_snapshot("riverside").calibration
    assert 0.2 <= calibration["threshold"] <= 0.6
    assert 0.2 <= calibration["threshold_es"] <= 0.6


def test_a_spanish_question_is_answered_from_the_spanish_documents(kb: KnowledgeBase) -> None:
    answer = kb.answer("aceptan kaiser?", practice_slug="riverside", language=Language.ES)
    assert answer.confident
    assert [(s.source, s.section) for s in answer.sources] == [
        ("seguros.md", "Seguros que no aceptamos")
    ]
    assert "Kaiser Permanente" in answer.answer and "No aceptamos" in answer.answer


def test_an_english_question_never_gets_a_spanish_extract(kb: KnowledgeBase) -> None:
    for question in ["do you take aetna", "where do i park", "are you open on saturday"]:
        answer = kb.answer(question, practice_slug="riverside", language=Language.EN)
        assert answer.confident, question
        assert all(s.source not in SPANISH_FILES for s in answer.sources), question


def test_without_spanish_documents_a_spanish_question_is_not_answered_in_english(
    english_only: KnowledgeBase,
) -> None:
    answer = english_only.answer("aceptan kaiser?", practice_slug="riverside", language=Language.ES)
    assert not answer.confident and answer.sources == []
    assert "threshold_es" not in english_only.store.load_snapshot("riverside").calibration


def test_an_off_topic_spanish_question_is_declined(kb: KnowledgeBase) -> None:
    answer = kb.answer("hacen tatuajes?", practice_slug="riverside", language=Language.ES)
    assert not answer.confident and answer.sources == []
