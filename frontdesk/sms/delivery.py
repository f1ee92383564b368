"""A stored bot or staff message as an SMS patient gets it: plain text, queued in the outbox.

`deliver_outgoing_message` is the SMS channel's deliverer for
`frontdesk.conversations.outgoing` (registered at start-up by `frontdesk.wiring`): it runs
in the transaction that stored the message, so the text is queued exactly when the message is.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.conversations.models import Conversation, Message, Role
from frontdesk.conversations.service import reply_language
from frontdesk.language import Language
from frontdesk.sms.models import SmsThread
from frontdesk.sms.outbox import queue_sms
from frontdesk.sms.text import numbered_choices

logger = logging.getLogger(__name__)

IDENTITY_PROMPT = "sms.identity_prompt"  # catalogue key (frontdesk.texts)


def sms_text_for(
    text: str | None, buttons: list[dict[str, str]] | None, language: Language = Language.EN
) -> str:
    """What the patient's phone shows for a bot or staff message."""
    return numbered_choices(text, buttons or [], language)


def deliver_outgoing_message(
    *, session: Session, conversation: Conversation, message: Message
) -> None:
    """Queue a stored bot or staff message for an SMS conversation (same transaction).

    An `identity_request` becomes a plain-text question for the date of birth, and the next
    inbound text is consumed by the service's identity check. What the service adds (the
    "Reply 1 or 2" line, the prompt) is in the conversation's language, and a bot message
    loses the accents GSM-7 lacks (`frontdesk.texts.for_sms`); staff replies go as written.
    """
    thread = session.scalar(select(SmsThread).where(SmsThread.conversation_id == conversation.id))
    if thread is None:
        logger.warning("SMS conversation %s has no number; message not sent", conversation.id)
        return
    payload = message.payload or {}
    custom = payload.get("custom") if isinstance(payload.get("custom"), dict) else None
    language = reply_language(session=session, conversation=conversation)
    parts: list[str] = []
    if message.text or payload.get("buttons"):
        parts.append(sms_text_for(message.text, payload.get("buttons"), language))
    if custom is not None and custom.get("type") == "identity_request":
        thread.awaiting_identity = True
        parts.append(texts.text(IDENTITY_PROMPT, language))
    body = "\n".join(p for p in parts if p)
    if message.role is Role.BOT:
        body = texts.for_sms(body)
    if not body:
        return
    kind, not_after = message.role.value, None
    if custom is not None and custom.get("type") == "waitlist_offer":
        # Outreach: quiet hours and the caps apply when it leaves; pointless once expired.
        kind, not_after = "waitlist_offer", _moment(custom.get("expires_at"))
    queue_sms(
        session=session,
        practice_id=conversation.practice_id,
        to=thread.phone,
        body=body,
        kind=kind,
        conversation_id=conversation.id,
        message_id=message.id,
        not_after=not_after,
    )


def _moment(value: object) -> datetime | None:
    """An ISO time from a message payload, or None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
