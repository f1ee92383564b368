"""The reminder action: puts the reminded appointment in context for the patient's answer.

The reminder text itself goes out from the service (`frontdesk.reminders`), once, through the
SMS outbox, before Rasa hears of it: a reminder must reach the patient even when the bot is
down, and must never be sent twice because a trigger was retried. This action runs when the
service triggers `EXTERNAL_appointment_reminder`; it checks the reference and sets slot
`appointment_ref`, so "C", "R" or "X" lead straight to the right appointment.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.context import ActionContext, ContextAction
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Conversation
from frontdesk.patients.models import Patient
from frontdesk.reminders.messages import parse_appointment_ref
from frontdesk.scheduling.models import Appointment
from frontdesk.sms.models import SmsThread

APPOINTMENT_REF = "appointment_ref"


class ActionSendReminder(ContextAction):
    """Sets `appointment_ref` from the reminder's entity, if the appointment is this practice's."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_send_reminder"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Put the reminded appointment in context; say nothing (the text is already out)."""
        ref = next(tracker.get_latest_entity_values(APPOINTMENT_REF), None)
        appointment_id = parse_appointment_ref(ref if isinstance(ref, str) else None)
        if appointment_id is None:
            return []

        def belongs(session: Session) -> bool:
            conversation = conversations.get_conversation(
                session=session, public_id=tracker.sender_id
            )
            appointment = session.get(Appointment, appointment_id)
            if (
                conversation is None
                or appointment is None
                or appointment.practice_id != conversation.practice_id
            ):
                return False
            _link_reminded_patient(session, conversation, appointment)
            return True

        if not await self.context.run(belongs):
            return []
        return [SlotSet(APPOINTMENT_REF, ref)]


def _link_reminded_patient(
    session: Session, conversation: Conversation, appointment: Appointment
) -> None:
    """Link a new SMS conversation to the patient the reminder went to (not verified).

    Outreach opens the thread without knowing who will answer it; without the link, "C" from
    a patient who had never texted before found no appointment to confirm. Only when the
    thread's phone is the patient's: the link lets a reminder reply confirm (which reveals
    nothing), while cancelling or moving still asks for the code.
    """
    if conversation.patient_id is not None or appointment.patient_id is None:
        return
    patient = session.get(Patient, appointment.patient_id)
    phone = session.scalar(
        select(SmsThread.phone).where(SmsThread.conversation_id == conversation.id)
    )
    if patient is not None and phone is not None and patient.phone == phone:
        conversations.link_patient(
            session=session, conversation=conversation, patient_id=patient.id, verified_at=None
        )


def reminder_actions(context: ActionContext) -> list[ContextAction]:
    """The reminder actions, built with their collaborators."""
    return [ActionSendReminder(context)]
