"""Identity before PHI: asking for verification, and the check every appointment action makes.

The bot never sees identity details. It asks the channel for them (a custom
`identity_request` with purpose "verify"); the service checks them (web chat: name, date of
birth and a code texted to the phone on file; SMS: the number on file and the date of birth)
and then sends "/identity_provided" or, when verification locks, "/identity_failed".
Actions trust only the service's record (`frontdesk.patients.verification.is_verified`).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ContextAction
from actions.language import language_of, pick
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel
from frontdesk.patients.verification import is_verified

DomainDict = dict[str, Any]
IDENTITY_REASON = {
    "en": "Your name and date of birth; then we'll text a code to the phone on file.",
    "es": "Su nombre y fecha de nacimiento; luego le mandamos un código por mensaje al "
    "teléfono que tenemos registrado.",
}


def verified_patient_id(session: Session, sender_id: str, now: Any) -> int | None:
    """The patient this conversation is verified as, or None (not verified, or expired)."""
    conversation = conversations.get_conversation(session=session, public_id=sender_id)
    if conversation is None or not is_verified(session=session, conversation=conversation, now=now):
        return None
    return conversation.patient_id


class ActionAskIdentityVerified(ContextAction):
    """Asks the patient to verify, in the way their channel supports."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_ask_identity_verified"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Web chat: the secure form (then a code). SMS: reply with your date of birth."""

        def channel(session: Session) -> Channel:
            conversation = conversations.get_conversation(
                session=session, public_id=tracker.sender_id
            )
            if conversation is None:
                raise LookupError("conversation not found")
            return conversation.channel

        if await self.context.run(channel) is Channel.SMS:
            # The SMS channel words the date-of-birth question itself (one text, not two).
            request = {"type": "identity_request", "purpose": "verify", "channel": "sms"}
        else:
            dispatcher.utter_message(response="utter_ask_identity_web")
            request = {
                "type": "identity_request",
                "purpose": "verify",
                "channel": "webchat",
                "reason": pick(language_of(tracker), IDENTITY_REASON),
            }
        dispatcher.utter_message(json_message=request)
        return []
