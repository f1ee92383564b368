"""Between Rasa and the channels: the bot's messages come back, stored once, then delivered.

Rasa answers every turn, whatever the channel, by POSTing its messages to the callback
endpoint (`connectors.rasa_internal`). Each one is stored first, once (a redelivery within a
turn is recognised, `turn_queue.record_reply`); storing is what queues the text for an SMS
conversation (its outbox sends it), and a web chat one is then pushed to the patient's socket
through the hub, whichever process holds it. Turns go the other way through the durable queue
and its dispatcher (`connectors.dispatcher`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from frontdesk import texts
from frontdesk.conversations import service as conversations
from frontdesk.conversations import turn_queue
from frontdesk.conversations.handoff import NOTICE_MARKER
from frontdesk.conversations.models import Conversation, Message, Owner, Role
from frontdesk.conversations.safety import SAFETY_LINES
from frontdesk.events import Event
from frontdesk.runtime import Services

logger = logging.getLogger(__name__)


async def deliver_bot_message(services: Services, body: dict[str, Any]) -> bool:
    """Store one message Rasa sent through the callback channel and push it to the patient.

    Returns False when the message was dropped (unknown conversation, staff own it, or it was
    delivered already).
    """
    public_id = body.get("recipient_id")
    if not isinstance(public_id, str):
        return False
    text = texts.tidy(body["text"]) if isinstance(body.get("text"), str) else None
    buttons = [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in body.get("buttons") or []
        if isinstance(b, dict)
    ]
    custom = body.get("custom") if isinstance(body.get("custom"), dict) else None
    if text is None and not buttons and custom is None:
        return False
    if custom is not None and custom.get("type") == NOTICE_MARKER:
        return await _deliver_handoff_notice(services, public_id, custom.get("message_id"))

    def store() -> conversations.StoredMessage | None:
        with services.unit_of_work() as db:
            conversation = conversations.get_conversation(session=db, public_id=public_id)
            if conversation is None or conversation.owner is not Owner.BOT:
                return None
            if (
                text in SAFETY_LINES.values()
                and not buttons
                and _latest_is_safety_line(db, conversation)
            ):
                return None  # the service already said it this turn (a weak signal)
            if not turn_queue.record_reply(session=db, conversation_id=conversation.id, body=body):
                return None  # delivered already: Rasa (or a proxy) sent it again
            message = conversations.record_outgoing_message(
                session=db,
                conversation=conversation,
                role=Role.BOT,
                text=text,
                buttons=buttons,
                custom=custom,
            )
            return conversations.StoredMessage.of(message)

    stored = await run_in_threadpool(store)
    if stored is None:
        logger.info("dropped a bot message for a conversation the bot does not own")
        return False
    if text is not None or buttons:
        await services.hub.publish(public_id, {"type": "message", **stored.as_frame()})
    if custom is not None and custom.get("type") == "identity_request":
        await services.hub.publish(
            public_id,
            {"type": "identity_request", "reason": str(custom.get("reason", ""))},
        )
    # Let a burst of bot messages reach the socket in order before the next turn starts.
    await asyncio.sleep(0)
    return True


def _latest_is_safety_line(db: Session, conversation: Conversation) -> bool:
    latest = conversations.history(session=db, conversation=conversation, limit=1)
    return bool(latest) and latest[0].role is Role.BOT and latest[0].text in SAFETY_LINES.values()


async def _deliver_handoff_notice(services: Services, public_id: str, message_id: object) -> bool:
    """Push the notice `action_escalate` stored for the patient, and tell the staff console.

    The bot no longer owns the conversation, so the notice was stored (and, for SMS, queued)
    by the action itself; Rasa only passes on which message it was.
    """
    if not isinstance(message_id, int):
        return False

    def load() -> tuple[int, conversations.StoredMessage] | None:
        with services.unit_of_work() as db:
            conversation = conversations.get_conversation(session=db, public_id=public_id)
            message = db.get(Message, message_id)
            if (
                conversation is None
                or message is None
                or message.conversation_id != conversation.id
                or message.role is not Role.BOT
            ):
                return None
            return conversation.practice_id, conversations.StoredMessage.of(message)

    loaded = await run_in_threadpool(load)
    if loaded is None:
        return False
    practice_id, stored = loaded
    await services.hub.publish(public_id, {"type": "message", **stored.as_frame()})
    await services.hub.publish(
        public_id, {"type": "handoff", "owner": "staff", "sender_name": None}
    )
    services.events.publish(
        Event("conversation.escalated", practice_id, {"conversation_id": public_id})
    )
    return True
