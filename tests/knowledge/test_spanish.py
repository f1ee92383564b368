"""Spanish index terms: the stemmer and synonyms Spanish passages are searched with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from frontdesk.language import Language
from knowledge.answering import extract
from knowledge.calibrate import SPANISH_PROBES, calibrate, spanish_confidence
from knowledge.embeddings import default_embedder
from knowledge.ingest import KnowledgeStore, Passage, ingest_directory, read_passages
from knowledge.languages import analyzer_for, in_language
from knowledge.retrieve import ENGLISH, Analyzer, HybridRetriever, content_words
from knowledge.spanish import SPANISH, spanish_stem

DEMO_DOCS = Path(__file__).resolve().parents[2] / "knowledge" / "docs" / "riverside"


@pytest.mark.parametrize(
    ("words", "stem"),
    [
        (["estacionar", "estaciono", "estacionarse", "estacionamiento"], "estacion"),
        (["aceptan", "aceptamos", "aceptar", "acepta"], "acept"),
        (["seguro", "seguros"], "segur"),
        (["cita", "citas"], "cit"),
        (["feriado", "feriados"], "feri"),
    ],
)
def test_forms_of_one_spanish_word_share_a_stem(words: list[str], stem: str) -> None:
    assert {spanish_stem(word) for word in words} == {stem}


def test_a_long_ending_leaves_a_short_word_whole() -> None:
    # "estación" (a train station) is not "est" + "ación".
    assert spanish_stem("estacion") == "estacion"
    assert spanish_stem("tren") == "tren"
    assert spanish_stem("2026") == "2026"


def test_the_english_rules_do_not_join_the_spanish_forms() -> None:
    # Why Spanish passages need their own analyzer.
    assert not set(ENGLISH.terms("estacionar")) & set(ENGLISH.terms("estacionamiento"))
    assert set(SPANISH.terms("estacionar")) & set(SPANISH.terms("estacionamiento"))


def test_everyday_spanish_words_reach_the_documents_words() -> None:
    assert "segur" in SPANISH.terms("mi aseguranza")
    assert "estacion" in SPANISH.terms("donde dejo el carro")
    # An irregular verb: the documents say "traiga", the patient "traer".
    assert set(SPANISH.terms("que tengo que traer")) & set(SPANISH.terms("Traiga su tarjeta"))


def test_each_language_gets_its_own_analyzer() -> None:
    assert analyzer_for(Language.ES) is SPANISH
    assert analyzer_for(Language.EN) is ENGLISH


def test_a_scrubbed_name_is_not_a_word() -> None:
    # "<PERSON>" must not match "personas" or "in person" in a document.
    assert content_words("tengo <PERSON> health") == ["health"]


def spanish_retriever() -> HybridRetriever:
    passages: list[Passage] = [
        p
        for name in ("horario.md", "estacionamiento.md", "seguros.md")
        for p in read_passages(DEMO_DOCS / name)
    ]
    embedder = default_embedder()
    vectors = embedder.embed([p.indexed_text for p in passages])
    return HybridRetriever(
        passages, np.asarray(vectors), embedder=embedder, analyzer=analyzer_for(Language.ES)
    )


def test_a_verb_finds_the_passage_filed_under_its_noun() -> None:
    retriever = spanish_retriever()
    hits = retriever.search("donde puedo estacionar", k=1)
    assert hits[0].passage.section == "Estacionamiento para pacientes"
    # Every content word is one the documents use, once stemmed.
    assert hits[0].known == 1.0


def test_the_extract_compares_words_with_the_passage_language_rules() -> None:
    passage = Passage(
        source="estacionamiento.md",
        section="Llegar",
        title="Cómo llegar",
        text=(
            "La recepción está en el segundo piso. Los baños están al fondo del pasillo. "
            "Hay estacionamiento gratis detrás del edificio. El elevador está a la derecha."
        ),
    )
    spanish = extract(
        "donde puedo estacionar", passage, embedder=default_embedder(), limit=1, analyzer=SPANISH
    )
    assert spanish == "Hay estacionamiento gratis detrás del edificio."
    # The words are the analyzer's: one that files "restroom" under "baños" picks that sentence.
    restrooms = Analyzer(lambda word: word, ({"restroom": "banos"},))
    chosen = extract("restroom", passage, embedder=default_embedder(), limit=1, analyzer=restrooms)
    assert chosen == "Los baños están al fondo del pasillo."


def test_the_spanish_threshold_is_calibrated_with_the_spanish_rules(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path)
    ingest_directory(directory=DEMO_DOCS, practice_slug="riverside", store=store)
    passages, vectors = store.read_collection("riverside")
    rows = in_language(passages, Language.ES)
    retriever = HybridRetriever(
        [passages[i] for i in rows],
        np.asarray(vectors, dtype=np.float32)[rows],
        embedder=default_embedder(),
        analyzer=SPANISH,
    )
    expected = calibrate(retriever, SPANISH_PROBES, spanish_confidence)["threshold"]
    assert store.load_snapshot("riverside").calibration["threshold_es"] == expected
