"""action_answer_question with rasa-sdk's CollectingDispatcher, the real domain and KB."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ActionContext
from actions.knowledge import ActionAnswerQuestion
from frontdesk.clock import fixed_clock
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation
from frontdesk.models import Practice
from frontdesk.settings import get_settings
from knowledge.answering import MEDICAL, default_knowledge_base
from tests.conftest import NOW, savepoint_sessions

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
    get_settings.cache_clear()
    default_knowledge_base.cache_clear()
    yield home
    del os.environ["FRONTDESK_DATA_DIR"]
    os.environ.update(saved)
    get_settings.cache_clear()
    default_knowledge_base.cache_clear()


def context(session: Session, now: datetime = NOW) -> ActionContext:
    clock = fixed_clock(now)
    return ActionContext(sessions=savepoint_sessions(session, clock), clock=clock)


@pytest.fixture
def conversation(session: Session, practice: Practice) -> Conversation:
    convo, _ = conversations.start_conversation(
        session=session, practice=practice, channel=Channel.WEBCHAT
    )
    return convo


def tracker(sender_id: str, text: str) -> Tracker:
    return Tracker(
        sender_id=sender_id,
        slots={},
        latest_message={
            "intent": {"name": "ask_question", "confidence": 1.0},
            "entities": [],
            "text": text,
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def ask(
    session: Session, domain: dict[str, Any], sender_id: str, text: str
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(
        ActionAnswerQuestion(context(session)).run(dispatcher, tracker(sender_id, text), domain)
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
