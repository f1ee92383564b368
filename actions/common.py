"""Actions shared by several topics."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ContextAction
from frontdesk.conversations import service as conversations
from frontdesk.practices.models import Practice


def format_phone(e164: str | None) -> str:
    """`+15555550100` as `(555) 555-0100`; other formats unchanged."""
    if e164 and e164.startswith("+1") and len(e164) == 12 and e164[1:].isdigit():
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    return e164 or "the office"


class ActionReferToOffice(ContextAction):
    """Gives the practice's phone number for what the bot cannot do in chat yet."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_refer_to_office"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Say how to reach the front desk."""

        def phone(session: Session) -> str | None:
            conversation = conversations.get_conversation(
                session=session, public_id=tracker.sender_id
            )
            if conversation is None:
                return None
            return session.get_one(Practice, conversation.practice_id).phone

        dispatcher.utter_message(
            response="utter_call_office", phone=format_phone(await self.context.run(phone))
        )
        return []
