"""Knowledge base: ingest, retrieval, grounded answers, abstention, the `kb` commands."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

from frontdesk.language import Language
from frontdesk.settings import get_settings
from knowledge.answering import MEDICAL, NOT_SURE, PART_NOT_SURE, KnowledgeBase
from knowledge.embeddings import Vectors, default_embedder
from knowledge.ingest import KnowledgeStore, ingest_directory, split_markdown
from knowledge.llm import LangchainRephraser

DEMO_DOCS = Path(__file__).resolve().parents[2] / "knowledge" / "docs" / "riverside"


class RecordingEmbedder:
    """The real embedder, remembering every text it was asked to embed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: list[str]) -> Vectors:
        self.seen.extend(texts)
        return default_embedder().embed(texts)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    store = KnowledgeStore(tmp_path_factory.mktemp("kb"))
    ingest_directory(directory=DEMO_DOCS, practice_slug="riverside", store=store)
    return store


@pytest.fixture
def kb(store: KnowledgeStore) -> KnowledgeBase:
    return KnowledgeBase(store=store, threshold=0.35, scrubber=lambda text: text)


def test_markdown_splits_by_heading_and_keeps_file_name_and_heading() -> None:
    passages = split_markdown(
        "# Parking\n\nIntro line.\n\n## Patient parking\nFree in the garage.\n\n"
        "## Bicycles\nA rack by the door.\n",
        source="parking.md",
    )
    assert [(p.source, p.section, p.text) for p in passages] == [
        ("parking.md", "Parking", "Intro line."),
        ("parking.md", "Patient parking", "Free in the garage."),
        ("parking.md", "Bicycles", "A rack by the door."),
    ]
    assert {p.title for p in passages} == {"Parking"}


def test_reingest_skips_unchanged_replaces_changed_and_removes_deleted(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n## One\nFirst text.\n")
    (docs / "b.md").write_text("# B\n## Two\nSecond text.\n")
    store = KnowledgeStore(tmp_path / "store")
    first = ingest_directory(directory=docs, practice_slug="p1", store=store)
    assert (sorted(first.added), first.passages) == (["a.md", "b.md"], 2)

    again = ingest_directory(directory=docs, practice_slug="p1", store=store)
    assert (again.added, again.updated, again.removed) == ([], [], [])
    assert sorted(again.unchanged) == ["a.md", "b.md"]

    (docs / "a.md").write_text("# A\n## One\nFirst text, revised.\n## Three\nMore.\n")
    (docs / "b.md").unlink()
    third = ingest_directory(directory=docs, practice_slug="p1", store=store)
    assert (third.updated, third.removed, third.passages) == (["a.md"], ["b.md"], 2)
    passages, vectors = store.load("p1")
    assert sorted(p.text for p in passages) == ["First text, revised.", "More."]
    assert len(vectors) == 2
    # Another practice's collection is separate.
    assert store.load("p2") == ([], [])


def test_confident_answer_is_extractive_with_its_source(kb: KnowledgeBase) -> None:
    result = kb.answer("do you take aetna?", practice_slug="riverside")
    assert result.confident
    assert "Aetna" in result.answer
    assert result.as_json()["sources"] == [
        {"source": "insurance.md", "section": "Insurance plans we accept"}
    ]
    corpus = (DEMO_DOCS / "insurance.md").read_text()
    assert all(sentence.strip() in corpus for sentence in result.answer.split(". ") if sentence)


@pytest.mark.parametrize(
    "question", ["what are your hours", "what time do you open in the morning?"]
)
def test_a_general_hours_question_gets_the_weekday_hours(kb: KnowledgeBase, question: str) -> None:
    # Every sentence of "Office hours" matches "hours" equally; the weekday hours used to be
    # dropped for the Tuesday and Saturday sentences the embedding preferred.
    result = kb.answer(question, practice_slug="riverside")
    assert result.confident
    assert "Monday to Friday from 8:00 am to 5:00 pm" in result.answer
    assert "Saturdays" in result.answer


def test_a_title_does_not_end_a_sentence(kb: KnowledgeBase) -> None:
    # "... adults. Dr. Amara Patel and ..." used to split after "Dr.", giving answers ending
    # in "Dr." or starting mid-sentence at "Lucas Nguyen both have openings".
    result = kb.answer("are you accepting new patients", practice_slug="riverside")
    assert result.confident
    assert "Dr. Amara Patel and Dr. Lucas Nguyen both have openings" in result.answer
    assert not result.answer.endswith("Dr.")


def test_unanswerable_question_says_not_sure_without_sources(kb: KnowledgeBase) -> None:
    result = kb.answer("do you do botox", practice_slug="riverside")
    assert (result.confident, result.answer, result.sources) == (False, NOT_SURE, [])


@pytest.mark.parametrize(
    "question",
    [
        "what dose of ibuprofen should i take",
        "my lab results came back, is my cholesterol normal?",
        "I have chest pain and a fever",
        "my arm is sore after my flu shot, should i worry?",
        "is it normal to feel tired after the shot",
    ],
)
def test_symptoms_medicines_and_results_are_never_answered(
    kb: KnowledgeBase, question: str
) -> None:
    result = kb.answer(question, practice_slug="riverside")
    assert (result.confident, result.answer, result.sources) == (False, MEDICAL, [])


def test_the_question_is_scrubbed_before_it_is_embedded(store: KnowledgeStore) -> None:
    embedder = RecordingEmbedder()
    from frontdesk.phi import scrub

    kb = KnowledgeBase(store=store, embedder=embedder, scrubber=scrub)
    kb.answer(
        "hi this is maria gonzalez, dob 4/12/1985, where do I park?", practice_slug="riverside"
    )
    assert embedder.seen
    joined = " ".join(embedder.seen)
    assert "gonzalez" not in joined and "1985" not in joined


def test_unknown_practice_gets_no_answer(kb: KnowledgeBase) -> None:
    result = kb.answer("what are your hours", practice_slug="nowhere")
    assert not result.confident and result.sources == []


def test_llm_rephrases_only_the_retrieved_passage(store: KnowledgeStore) -> None:
    model = FakeListChatModel(responses=["Yes, we take Aetna."])
    kb = KnowledgeBase(
        store=store, scrubber=lambda t: t, rephraser=LangchainRephraser(model), threshold=0.35
    )
    result = kb.answer("do you take aetna?", practice_slug="riverside")
    assert result.answer == "Yes, we take Aetna."
    assert result.sources[0].source == "insurance.md"


def test_llm_refusal_or_failure_falls_back_to_the_extractive_answer(
    store: KnowledgeStore,
) -> None:
    refusing = LangchainRephraser(FakeListChatModel(responses=["NOT_IN_DOCUMENTS"]))
    kb = KnowledgeBase(store=store, scrubber=lambda t: t, rephraser=refusing, threshold=0.35)
    assert "Aetna" in kb.answer("do you take aetna?", practice_slug="riverside").answer

    class Broken:
        def rephrase(self, **_: object) -> str:
            raise RuntimeError("model down")

    kb = KnowledgeBase(store=store, scrubber=lambda t: t, rephraser=Broken(), threshold=0.35)
    assert "Aetna" in kb.answer("do you take aetna?", practice_slug="riverside").answer


def test_stored_vectors_are_unit_length(store: KnowledgeStore) -> None:
    _, vectors = store.load("riverside")
    norms = np.linalg.norm(np.asarray(vectors), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in [n for n in __import__("os").environ if n.startswith("FRONTDESK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_ENV", "development")  # a developer's shell (`make`)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_kb_commands_ingest_and_answer_in_the_json_contract(cli_env: Path) -> None:
    from frontdesk.cli import app

    docs = cli_env / "docs"
    shutil.copytree(DEMO_DOCS, docs)
    runner = CliRunner()
    ingested = runner.invoke(app, ["kb", "ingest", str(docs), "--practice", "clinic2"])
    assert ingested.exit_code == 0, ingested.output
    assert "15 added" in ingested.output
    assert (cli_env / "knowledge").is_dir()

    asked = runner.invoke(app, ["kb", "ask", "is parking free?", "--practice", "clinic2", "--json"])
    assert asked.exit_code == 0, asked.output
    body = json.loads(asked.stdout.strip().splitlines()[-1])
    assert set(body) == {"answer", "confident", "sources"}
    assert body["confident"] is True
    assert body["sources"] == [{"source": "parking.md", "section": "Patient parking"}]


def test_kb_ask_for_a_practice_with_nothing_ingested_fails_clearly(cli_env: Path) -> None:
    from frontdesk.cli import app

    result = CliRunner().invoke(app, ["kb", "ask", "hours?", "--practice", "empty", "--json"])
    assert result.exit_code == 2
    assert "nothing ingested" in result.output


def test_kb_ingest_of_a_missing_folder_fails_clearly(cli_env: Path) -> None:
    from frontdesk.cli import app

    result = CliRunner().invoke(
        app, ["kb", "ingest", str(cli_env / "missing"), "--practice", "riverside"]
    )
    assert result.exit_code == 2
    assert "not a folder" in result.output


def test_the_demo_practice_answers_without_an_ingest_command(cli_env: Path) -> None:
    from frontdesk.cli import app

    result = CliRunner().invoke(
        app, ["kb", "ask", "are you open on saturday", "--practice", "riverside", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["sources"] == [{"source": "hours.md", "section": "Office hours"}]


def test_plain_text_files_are_split_by_paragraph(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "wifi-and-pets.txt").write_text(
        "Guest wifi is called Riverside-Guest.\n\nService animals are welcome; pets are not.\n"
    )
    store = KnowledgeStore(tmp_path / "store")
    report = ingest_directory(directory=docs, practice_slug="txt", store=store)
    assert report.passages == 2
    kb = KnowledgeBase(store=store, scrubber=lambda t: t)
    result = kb.answer("what is the guest wifi called?", practice_slug="txt")
    assert result.confident
    assert result.sources[0].source == "wifi-and-pets.txt"
    assert "pets are not" in kb.search("are pets welcome", practice_slug="txt")[0].passage.text


@pytest.mark.parametrize("question", ["", "   ", "🙂🙂🙂", "where do I park? " * 300])
def test_odd_questions_get_an_answer_object_not_an_error(kb: KnowledgeBase, question: str) -> None:
    result = kb.answer(question, practice_slug="riverside")
    assert isinstance(result.answer, str) and result.answer
    assert set(result.as_json()) == {"answer", "confident", "sources"}


def test_a_bad_practice_slug_is_refused(kb: KnowledgeBase) -> None:
    from knowledge.ingest import KnowledgeError

    with pytest.raises(KnowledgeError):
        kb.answer("hours?", practice_slug="../etc")


def test_a_two_topic_question_is_answered_from_both_passages_apart(kb: KnowledgeBase) -> None:
    answer = kb.answer(
        "where do I park and how much is a visit without insurance", practice_slug="riverside"
    )
    assert answer.confident
    assert [(s.source, s.section) for s in answer.sources] == [
        ("parking.md", "Patient parking"),
        ("billing.md", "Payment at the time of service"),
    ]
    parking, cost = answer.parts
    assert "$150" in cost.answer and "$150" not in parking.answer
    assert answer.answer == f"{parking.answer}\n\n{cost.answer}"
    assert answer.part_not_sure == ""
    assert answer.as_json()["parts"][1] == {
        "answer": cost.answer,
        "source": "billing.md",
        "section": "Payment at the time of service",
    }


@pytest.mark.parametrize(
    ("question", "section"),
    [
        ("do you take Aetna and Cigna", "Insurance plans we accept"),
        ("can I pay by check and cash", "Ways to pay"),
        ("do you close on christmas and new year's day", "Holidays"),
        (
            "how do I sign up for the portal and how do I create an account",
            "Signing up for the portal",
        ),
    ],
)
def test_one_topic_asked_with_and_stays_one_answer(
    kb: KnowledgeBase, question: str, section: str
) -> None:
    answer = kb.answer(question, practice_slug="riverside")
    assert answer.confident
    assert answer.parts == []
    assert [s.section for s in answer.sources] == [section]
    assert "parts" not in answer.as_json()


def test_the_unanswerable_part_of_two_is_offered_to_a_person(kb: KnowledgeBase) -> None:
    answer = kb.answer(
        "what are your hours and do you offer acupuncture", practice_slug="riverside"
    )
    assert answer.confident
    assert [(s.source, s.section) for s in answer.sources] == [("hours.md", "Office hours")]
    assert answer.part_not_sure == PART_NOT_SURE[Language.EN]
    assert answer.answer.endswith(PART_NOT_SURE[Language.EN])


def test_a_spanish_two_topic_question_gets_spanish_parts_and_a_spanish_note(
    kb: KnowledgeBase,
) -> None:
    answer = kb.answer(
        "aceptan Kaiser y cual es la direccion", practice_slug="riverside", language=Language.ES
    )
    assert [(s.source, s.section) for s in answer.sources] == [
        ("seguros.md", "Seguros que no aceptamos"),
        ("horario.md", "Dirección y cómo llegar"),
    ]
    assert "Kaiser" in answer.parts[0].answer
    partial = kb.answer(
        "aceptan Kaiser y tienen piscina", practice_slug="riverside", language=Language.ES
    )
    assert [s.source for s in partial.sources] == ["seguros.md"]
    assert partial.part_not_sure == PART_NOT_SURE[Language.ES]
