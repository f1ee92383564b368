"""Every patient turn's NLU result, and the turns staff should look at.

Nothing here is raw patient text: `NluTurn.text` is what Rasa's tracker holds (already
tokenised by the service) passed once more through the PHI scrubber before it is stored.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.auth.models import StaffAccount
from frontdesk.db import Base, UTCDateTime, enum_column, insert_stamp

NEW_TOPIC = "new_topic"  # the label for a turn no intent of the domain covers


class ReviewReason(enum.StrEnum):
    """Why a turn is in the review queue."""

    FALLBACK = "fallback"  # the NLU fell back (nlu_fallback / action_default_fallback)
    LOW_CONFIDENCE = "low_confidence"  # below FRONTDESK_REVIEW_CONFIDENCE_THRESHOLD
    CORRECTED = "corrected"  # the next turn said "that's not what I said" or asked for a person
    MISUNDERSTOOD = "misunderstood"  # the bot escalated because it kept misunderstanding


class ReviewStatus(enum.StrEnum):
    """Where a review item is."""

    OPEN = "open"
    LABELLED = "labelled"
    DISMISSED = "dismissed"


class NluTurn(Base):
    """One patient turn as the NLU read it. Append-only; the drift figures count these."""

    __tablename__ = "nlu_turns"
    __table_args__ = (Index("ix_nlu_turns_practice_at", "practice_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    # Rasa's id of the user event: a turn is recorded once however often it is looked up.
    rasa_message_id: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)  # PHI-scrubbed
    intent: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    fallback: Mapped[bool] = mapped_column(Boolean)
    model_id: Mapped[str | None] = mapped_column(String(64))  # Rasa's model id for the turn
    at: Mapped[datetime] = insert_stamp()


class ReviewItem(Base):
    """A turn the bot did not understand, waiting for (or given) a label by staff."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_practice_status", "practice_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    nlu_turn_id: Mapped[int] = mapped_column(
        ForeignKey("nlu_turns.id", ondelete="CASCADE"), unique=True
    )
    reason: Mapped[ReviewReason] = mapped_column(enum_column(ReviewReason))
    status: Mapped[ReviewStatus] = mapped_column(
        enum_column(ReviewStatus), default=ReviewStatus.OPEN
    )
    label: Mapped[str | None] = mapped_column(String(64))  # an intent, or NEW_TOPIC
    reviewed_by: Mapped[int | None] = mapped_column(
        ForeignKey(StaffAccount.id, ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = insert_stamp()
