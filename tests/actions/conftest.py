"""What every action test needs: a context on the test's connection, a dispatcher, trackers.

Actions share the test's connection (their work is rolled back with the test), a fixed clock,
and the service's configuration as the settings give it, the knowledge base included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ActionContext, PaymentLinks
from frontdesk.clock import fixed_clock
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation
from frontdesk.models import Practice
from frontdesk.scheduling.waitlist_policy import WaitlistPolicy
from frontdesk.settings import Settings
from knowledge.answering import KnowledgeBase, shared_knowledge_base
from tests.conftest import NOW, savepoint_sessions


def _knowledge_base() -> KnowledgeBase:
    # Settings are read when the first question is asked, after any test set up its store.
    return shared_knowledge_base(Settings(env="development"))  # a checkout, no secrets


def context_at(session: Session, now: datetime) -> ActionContext:
    """An action context at `now`, on the test's connection."""
    clock = fixed_clock(now)
    settings = Settings(env="development")
    return ActionContext(
        sessions=savepoint_sessions(session, clock),
        clock=clock,
        payment_links=PaymentLinks.from_settings(settings),
        waitlist=WaitlistPolicy.from_settings(settings),
        knowledge_base=_knowledge_base,
    )


@pytest.fixture
def context(session: Session) -> ActionContext:
    """Actions share the test's connection, so their work is rolled back with the test."""
    return context_at(session, NOW)


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    """Collects what an action says."""
    return CollectingDispatcher()


@pytest.fixture
def conversation(session: Session, practice: Practice) -> Conversation:
    """A web chat conversation with the demo practice."""
    convo, _ = conversations.start_conversation(
        session=session, practice=practice, channel=Channel.WEBCHAT
    )
    return convo


def make_tracker(
    sender_id: str,
    *,
    slots: dict[str, Any] | None = None,
    intent: str = "inform",
    text: str = "",
    entities: list[dict[str, Any]] | None = None,
    loop: str | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    """A tracker as Rasa sends it to the action server, after the patient's latest message."""
    return Tracker(
        sender_id=sender_id,
        slots=slots or {},
        latest_message={
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
            "text": text,
        },
        events=events or [],
        paused=False,
        followup_action=None,
        active_loop={"name": loop} if loop else {},
        latest_action_name="action_listen",
    )
