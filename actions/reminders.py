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
from sqlalchemy.orm import Session

from actions.context import ActionContext, ContextAction
from frontdesk.conversations import service as conversations
from frontdesk.reminders.messages import parse_appointment_ref
from frontdesk.scheduling.models import Appointment

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
            return (
                conversation is not None
                and appointment is not None
                and appointment.practice_id == conversation.practice_id
            )

        if not await self.context.run(belongs):
            return []
        return [SlotSet(APPOINTMENT_REF, ref)]


def reminder_actions(context: ActionContext) -> list[ContextAction]:
    """The reminder actions, built with their collaborators."""
    return [ActionSendReminder(context)]
