"""action_answer_question with rasa-sdk's CollectingDispatcher, the real domain and KB."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.knowledge import ActionAnswerQuestion
from frontdesk.conversations.models import Conversation
from frontdesk.settings import get_settings
from knowledge.answering import MEDICAL
from tests.actions.conftest import context_at, make_tracker
from tests.conftest import NOW

DOMAIN_DIR = Path(__file__).resolve().parents[2] / "bot" / "domain"


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        responses.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
    return {"responses": responses}


@pytest.fixture(scope="module")
def kb_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A knowledge store of its own (the demo practice's documents are ingested on first use)."""
    home = tmp_path_factory.mktemp("kbhome")
    saved = {k: v for k, v in os.environ.items() if k.startswith("FRONTDESK_")}
    for name in saved:
        del os.environ[name]
    os.environ["FRONTDESK_DATA_DIR"] = str(home)
    os.environ["FRONTDESK_ENV"] = "development"  # a developer's shell (`make`)
    get_settings.cache_clear()
    yield home
    del os.environ["FRONTDESK_DATA_DIR"]
    del os.environ["FRONTDESK_ENV"]
    os.environ.update(saved)
    get_settings.cache_clear()


def tracker(sender_id: str, text: str) -> Tracker:
    return make_tracker(sender_id, intent="ask_question", text=text)


def ask(
    session: Session, domain: dict[str, Any], sender_id: str, text: str
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(
        ActionAnswerQuestion(context_at(session, NOW)).run(
            dispatcher, tracker(sender_id, text), domain
        )
    )
    return events, dispatcher


def test_a_practice_question_is_answered_with_its_source(
    kb_home: Path, session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    events, dispatcher = ask(session, domain, conversation.public_id, "do you take aetna?")
    assert events == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_kb_answer"
    assert "Aetna" in message["answer"]
    assert (message["source"], message["section"]) == ("insurance.md", "Insurance plans we accept")
    assert (kb_home / "knowledge").is_dir()


def test_an_unanswerable_question_offers_a_person(
    kb_home: Path, session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    events, dispatcher = ask(session, domain, conversation.public_id, "do you do botox")
    assert events == [SlotSet("escalation_reason", "low_confidence_answer")]
    [message] = dispatcher.messages
    assert "not sure" in message["text"]
    assert [b["payload"] for b in message["buttons"]] == ["/request_human", "/deny"]


def test_a_medicine_question_is_never_answered_from_documents(
    kb_home: Path, session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    _, dispatcher = ask(
        session, domain, conversation.public_id, "how much ibuprofen can I take with my lab work"
    )
    [message] = dispatcher.messages
    assert message["text"] == MEDICAL


def test_an_unknown_conversation_gets_the_not_sure_answer(
    kb_home: Path, session: Session, domain: dict[str, Any]
) -> None:
    _, dispatcher = ask(session, domain, "c_unknown", "what are your hours")
    assert [m["response"] for m in dispatcher.messages] == ["utter_kb_not_sure"]
    assert "utter_kb_not_sure" in domain["responses"]


def ask_in_spanish(
    session: Session, domain: dict[str, Any], sender_id: str, text: str
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    spanish = make_tracker(sender_id, intent="ask_question", text=text, slots={"language": "es"})
    events = asyncio.run(
        ActionAnswerQuestion(context_at(session, NOW)).run(dispatcher, spanish, domain)
    )
    return events, dispatcher


def test_a_spanish_question_is_answered_from_the_spanish_documents(
    kb_home: Path, session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    events, dispatcher = ask_in_spanish(session, domain, conversation.public_id, "aceptan kaiser?")
    assert events == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_kb_answer"
    assert (message["source"], message["section"]) == ("seguros.md", "Seguros que no aceptamos")
    assert "No aceptamos" in message["answer"]


def test_a_spanish_question_the_spanish_documents_do_not_answer_goes_to_a_person_in_spanish(
    kb_home: Path, session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    # The English billing documents answer this in English; a Spanish patient is never shown
    # that extract: the Spanish "not sure" (with its offer of a person) comes instead.
    events, dispatcher = ask_in_spanish(
        session, domain, conversation.public_id, "puedo pagar mi factura en linea?"
    )
    assert events == [SlotSet("escalation_reason", "low_confidence_answer")]
    assert [m["response"] for m in dispatcher.messages] == ["utter_kb_not_sure"]


def test_a_two_topic_question_gets_one_answer_per_topic_each_with_its_source(
    kb_home: Path, session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    events, dispatcher = ask(
        session, domain, conversation.public_id, "what are your hours and do you take Aetna?"
    )
    assert events == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_kb_answer"] * 2
    assert [(m["source"], m["section"]) for m in dispatcher.messages] == [
        ("hours.md", "Office hours"),
        ("insurance.md", "Insurance plans we accept"),
    ]
    assert "Aetna" not in dispatcher.messages[0]["answer"]
    assert "Aetna" in dispatcher.messages[1]["answer"]


def test_the_part_of_a_question_the_documents_cannot_answer_is_offered_to_a_person(
    kb_home: Path, session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    events, dispatcher = ask(
        session, domain, conversation.public_id, "where do I park and do you have a sauna"
    )
    assert events == [SlotSet("escalation_reason", "low_confidence_answer")]
    answer, rest = dispatcher.messages
    assert (answer["response"], answer["source"]) == ("utter_kb_answer", "parking.md")
    assert "other part of your question" in rest["text"]
    assert [b["payload"] for b in rest["buttons"]] == ["/request_human", "/deny"]
