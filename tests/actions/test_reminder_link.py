"""A reminder opens an SMS conversation for the patient it went to: "C" can then confirm.

Outreach opens the thread without knowing who will answer. `action_send_reminder` links the
conversation to the reminded patient (not verified) when the thread's phone is theirs, so the
confirm form finds the appointment; cancelling or moving still asks for the code.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.reminders import ActionSendReminder
from frontdesk.conversations.models import Channel, Conversation
from frontdesk.conversations.service import start_conversation
from frontdesk.models import Patient, Practice
from frontdesk.reminders.scheduler import REMINDER_INTENT
from frontdesk.sms.models import SmsThread
from tests.actions.conftest import context_at
from tests.conftest import NOW
from tests.reminders.test_outreach import book


def _remind(session: Session, conversation: Conversation, ref: str) -> None:
    tracker = Tracker(
        sender_id=conversation.public_id,
        slots={},
        latest_message={
            "intent": {"name": REMINDER_INTENT, "confidence": 1.0},
            "entities": [{"entity": "appointment_ref", "value": ref}],
            "text": "",
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
    asyncio.run(
        ActionSendReminder(context_at(session, NOW)).run(CollectingDispatcher(), tracker, {})
    )


def _thread(session: Session, practice: Practice, phone: str) -> Conversation:
    conversation, _ = start_conversation(session=session, practice=practice, channel=Channel.SMS)
    session.add(SmsThread(practice_id=practice.id, phone=phone, conversation_id=conversation.id))
    session.flush()
    return conversation


def test_the_reminded_patients_thread_is_linked_unverified(
    session: Session, practice: Practice
) -> None:
    appointment = book(session, practice, NOW + timedelta(days=2))
    patient = session.get_one(Patient, appointment.patient_id)
    assert patient.phone
    conversation = _thread(session, practice, patient.phone)
    _remind(session, conversation, f"a_{appointment.id}")
    session.refresh(conversation)
    assert conversation.patient_id == patient.id
    assert conversation.identity_verified_at is None


def test_a_thread_on_another_phone_is_not_linked(session: Session, practice: Practice) -> None:
    appointment = book(session, practice, NOW + timedelta(days=2))
    conversation = _thread(session, practice, "+15555550177")
    _remind(session, conversation, f"a_{appointment.id}")
    session.refresh(conversation)
    assert conversation.patient_id is None
