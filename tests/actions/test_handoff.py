"""action_escalate with rasa-sdk's CollectingDispatcher, the real bot domain and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.handoff import ActionEscalate, ActionHandleMisunderstanding, escalation_reason
from frontdesk.conversations.handoff import NOTICE_MARKER, EscalationReason
from frontdesk.conversations.models import Conversation, Message, Owner, Role
from frontdesk.models import Practice
from tests.actions.conftest import context_at, make_tracker
from tests.doubles import bot_domain

# Saturday 13:00 in New York: closed until Monday 8:30. Saturday 10:00: open.
CLOSED = datetime(2026, 11, 28, 13, 0, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
OPEN = datetime(2026, 11, 28, 10, 0, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    """The real domain's responses, as Rasa sends them to the action server."""
    return bot_domain()


def tracker(
    sender_id: str,
    intent: str,
    reason: str | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    return make_tracker(
        sender_id, slots={"escalation_reason": reason}, intent=intent, events=events
    )


def escalate(
    session: Session,
    domain: dict[str, Any],
    sender_id: str,
    intent: str,
    *,
    now: datetime,
    reason: str | None = None,
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(
        ActionEscalate(context_at(session, now)).run(
            dispatcher, tracker(sender_id, intent, reason), domain
        )
    )
    return events, dispatcher


def _notices(session: Session, conversation: Conversation) -> list[Message]:
    return list(
        session.scalars(
            select(Message).where(
                Message.conversation_id == conversation.id, Message.role == Role.BOT
            )
        )
    )


@pytest.mark.parametrize(
    ("intent", "reason"),
    [
        ("request_human", EscalationReason.PATIENT_REQUEST),
        ("medical_emergency", EscalationReason.EMERGENCY),
        ("prescription_refill", EscalationReason.REFILL),
        ("billing_question", EscalationReason.BILLING_DISPUTE),
        ("identity_failed", EscalationReason.IDENTITY_FAILED),
        ("nlu_fallback", EscalationReason.MISUNDERSTOOD),
        ("greet", EscalationReason.PATIENT_REQUEST),
    ],
)
def test_the_reason_follows_the_latest_intent(intent: str, reason: EscalationReason) -> None:
    assert escalation_reason(tracker("c_x", intent)) is reason


def test_a_reason_set_by_another_action_wins() -> None:
    assert (
        escalation_reason(tracker("c_x", "ask_question", "low_confidence_answer"))
        is EscalationReason.LOW_CONFIDENCE_ANSWER
    )
    assert escalation_reason(tracker("c_x", "request_human", "nonsense")) is (
        EscalationReason.PATIENT_REQUEST
    )


def test_out_of_hours_the_patient_is_told_when_the_office_opens(
    session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    events, dispatcher = escalate(
        session, domain, conversation.public_id, "prescription_refill", now=CLOSED
    )
    assert events == [SlotSet("escalation_reason", None), ConversationPaused()]
    session.expire_all()
    convo = session.get_one(Conversation, conversation.id)
    assert convo.owner is Owner.STAFF
    assert convo.escalation_reason is EscalationReason.REFILL
    [notice] = _notices(session, convo)
    assert notice.text == (
        "Refill requests are reviewed by our staff, so I'm passing this to a person. "
        "Our office is closed right now and opens Monday at 8:30 AM; we'll reply then. "
        "If this is urgent, call (555) 555-0100."
    )
    # Rasa gets only a content-free pointer to the stored notice.
    assert dispatcher.messages == [
        {
            "text": None,
            "buttons": [],
            "elements": [],
            "custom": {"type": NOTICE_MARKER, "message_id": notice.id},
            "template": None,
            "response": None,
            "image": None,
            "attachment": None,
        }
    ]


def test_during_hours_a_person_replies_shortly(
    session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    escalate(session, domain, conversation.public_id, "request_human", now=OPEN)
    [notice] = _notices(session, conversation)
    assert notice.text == (
        "Of course, I'm getting a person from our team for you. "
        "A member of our team will reply here shortly."
    )


def test_an_emergency_out_of_hours_says_not_to_wait(
    session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    escalate(session, domain, conversation.public_id, "medical_emergency", now=CLOSED)
    [notice] = _notices(session, conversation)
    assert "call 911" in (notice.text or "")
    assert "we'll reply then" not in (notice.text or "")


def test_escalating_twice_sends_one_notice_and_stays_paused(
    session: Session, domain: dict[str, Any], conversation: Conversation
) -> None:
    escalate(session, domain, conversation.public_id, "request_human", now=OPEN)
    events, dispatcher = escalate(session, domain, conversation.public_id, "nlu_fallback", now=OPEN)
    assert ConversationPaused() in events
    assert dispatcher.messages == []
    assert len(_notices(session, conversation)) == 1
    session.expire_all()
    assert (
        session.get_one(Conversation, conversation.id).escalation_reason
        is EscalationReason.PATIENT_REQUEST
    )


def test_an_unknown_conversation_is_pointed_to_the_phone_and_not_paused(
    session: Session, domain: dict[str, Any], practice: Practice
) -> None:
    events, dispatcher = escalate(session, domain, "c_unknown", "request_human", now=OPEN)
    assert events == [SlotSet("escalation_reason", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_call_office"]


def user(intent: str) -> dict[str, Any]:
    """A user event as Rasa sends it in the tracker."""
    return {"event": "user", "text": "…", "parse_data": {"intent": {"name": intent}}}


BOT = {"event": "bot", "text": "Sorry, I didn't quite get that."}


@pytest.mark.parametrize(
    ("events", "escalates"),
    [
        ([user("nlu_fallback")], False),
        ([user("greet"), BOT, user("nlu_fallback")], False),
        ([user("nlu_fallback"), BOT, user("greet"), BOT, user("nlu_fallback")], False),
        (
            [
                user("nlu_fallback"),
                BOT,
                {"event": "action", "name": "action_listen"},
                user("nlu_fallback"),
            ],
            True,
        ),
        # What happened before a hand-back does not count against the patient afterwards.
        (
            [user("nlu_fallback"), {"event": "pause"}, {"event": "resume"}, user("nlu_fallback")],
            False,
        ),
    ],
)
def test_the_second_misunderstanding_in_a_row_gets_a_person(
    session: Session,
    domain: dict[str, Any],
    conversation: Conversation,
    events: list[dict[str, Any]],
    escalates: bool,
) -> None:
    dispatcher = CollectingDispatcher()
    result = asyncio.run(
        ActionHandleMisunderstanding(context_at(session, OPEN)).run(
            dispatcher, tracker(conversation.public_id, "nlu_fallback", events=events), domain
        )
    )
    session.expire_all()
    convo = session.get_one(Conversation, conversation.id)
    if escalates:
        assert ConversationPaused() in result
        assert convo.escalation_reason is EscalationReason.MISUNDERSTOOD
        assert "trouble understanding" in (_notices(session, convo)[0].text or "")
    else:
        assert result == []
        assert [m["response"] for m in dispatcher.messages] == ["utter_default"]
        assert convo.owner is Owner.BOT
