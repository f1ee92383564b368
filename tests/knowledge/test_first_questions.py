"""First questions arriving together in a fresh process (found by `make test-scale`: the
action endpoint answers in a thread pool, and a follower replica's knowledge base is opened
by its first questions, not by the leader's warm-up)."""

from __future__ import annotations

import threading
from pathlib import Path

from knowledge.answering import DEMO_DOCS, DEMO_PRACTICE, KnowledgeBase, answer
from knowledge.ingest import KnowledgeStore, ingest_directory

ASKERS = 8


def test_first_questions_at_once_open_the_store_and_ingest_the_demo_once(tmp_path: Path) -> None:
    kb = KnowledgeBase(store=KnowledgeStore(tmp_path / "knowledge"))
    gate = threading.Barrier(ASKERS)
    errors: list[BaseException] = []
    answers: list[str] = []

    def ask() -> None:
        gate.wait()
        try:
            found = answer(
                "what are your opening hours?", practice_slug=DEMO_PRACTICE, knowledge_base=kb
            )
            answers.append(found.answer)
        except Exception as exc:  # any failure of a concurrent asker counts
            errors.append(exc)

    askers = [threading.Thread(target=ask) for _ in range(ASKERS)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()

    assert errors == []
    assert len(answers) == ASKERS and len(set(answers)) == 1
    once = KnowledgeStore(tmp_path / "reference")
    ingest_directory(directory=DEMO_DOCS, practice_slug=DEMO_PRACTICE, store=once)
    ingested = kb.store.collection(DEMO_PRACTICE).get()["ids"]
    assert sorted(ingested) == sorted(once.collection(DEMO_PRACTICE).get()["ids"])
