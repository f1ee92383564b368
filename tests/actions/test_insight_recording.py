"""The bot's actions count what they did as PHI-free insight events (kind, channel, ids)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.knowledge import ActionAnswerQuestion
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation
from frontdesk.insights.models import InsightEvent, InsightKind
from frontdesk.insights.recording import record_bot_act
from frontdesk.models import Practice
from frontdesk.settings import get_settings
from tests.actions.conftest import context_at, make_tracker
from tests.conftest import NOW


@pytest.fixture(scope="module")
def kb_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A knowledge store of its own (the demo practice's documents are ingested on first use)."""
    home = tmp_path_factory.mktemp("kbhome")
    saved = {k: v for k, v in os.environ.items() if k.startswith("FRONTDESK_")}
    for name in saved:
        del os.environ[name]
    os.environ["FRONTDESK_DATA_DIR"] = str(home)
    get_settings.cache_clear()
    yield home
    del os.environ["FRONTDESK_DATA_DIR"]
    os.environ.update(saved)
    get_settings.cache_clear()


def _events(session: Session) -> list[InsightEvent]:
    return list(session.scalars(select(InsightEvent).order_by(InsightEvent.id)))


def _ask(session: Session, sender_id: str, text: str) -> None:
    tracker = make_tracker(sender_id, intent="ask_question", text=text)
    asyncio.run(
        ActionAnswerQuestion(context_at(session, NOW)).run(CollectingDispatcher(), tracker, {})
    )


def test_knowledge_answers_and_abstentions_are_counted_on_the_channel(
    kb_home: Path, session: Session, practice: Practice
) -> None:
    sms, _ = conversations.start_conversation(
        session=session, practice=practice, channel=Channel.SMS
    )
    session.flush()
    _ask(session, sms.public_id, "do you take aetna?")
    _ask(session, sms.public_id, "do you do botox")
    events = _events(session)
    assert [(e.kind, e.channel, e.conversation_id) for e in events] == [
        (InsightKind.KB_ANSWERED, "sms", sms.id),
        (InsightKind.KB_ABSTAINED, "sms", sms.id),
    ]
    assert all(e.at == NOW and e.practice_id == practice.id for e in events)


def test_an_unknown_conversation_records_nothing(
    session: Session, conversation: Conversation
) -> None:
    assert (
        record_bot_act(session=session, public_id="c_unknown", kind=InsightKind.BOT_BOOKED, at=NOW)
        is None
    )
    event = record_bot_act(
        session=session, public_id=conversation.public_id, kind=InsightKind.BOT_BOOKED, at=NOW
    )
    assert event is not None and event.channel == "webchat"
