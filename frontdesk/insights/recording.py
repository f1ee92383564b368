"""Recording the acts no other table keeps as they happen (PHI-free: kinds, channels, ids).

The bot's actions call `record_bot_act` right after the domain service did the work, in the
same transaction, so an act that is rolled back is not counted either.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Conversation
from frontdesk.insights.models import InsightEvent, InsightKind


def record_insight(
    *,
    session: Session,
    practice_id: int,
    kind: InsightKind,
    at: datetime,
    channel: str | None = None,
    appointment_id: int | None = None,
    conversation_id: int | None = None,
) -> InsightEvent:
    """Add one insight event to the session (the caller's unit of work commits it)."""
    event = InsightEvent(
        practice_id=practice_id,
        kind=kind,
        channel=channel,
        at=at,
        appointment_id=appointment_id,
        conversation_id=conversation_id,
    )
    session.add(event)
    return event


def record_bot_act(
    *,
    session: Session,
    public_id: str,
    kind: InsightKind,
    at: datetime,
    appointment_id: int | None = None,
) -> InsightEvent | None:
    """Count something the bot did in the conversation Rasa calls `public_id`.

    Counted on that conversation's channel. Nothing is recorded for an unknown conversation
    (the action has already told the patient what went wrong).
    """
    conversation = session.scalar(select(Conversation).where(Conversation.public_id == public_id))
    if conversation is None:
        return None
    return record_insight(
        session=session,
        practice_id=conversation.practice_id,
        kind=kind,
        at=at,
        channel=conversation.channel.value,
        appointment_id=appointment_id,
        conversation_id=conversation.id,
    )
