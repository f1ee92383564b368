"""Conversations and their messages, across channels."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, enum_column, utcnow


class Channel(enum.StrEnum):
    """How the patient reaches us."""

    WEBCHAT = "webchat"
    SMS = "sms"


class Owner(enum.StrEnum):
    """Who answers the patient: the bot or staff, never both."""

    BOT = "bot"
    STAFF = "staff"


class Role(enum.StrEnum):
    """Who wrote a message."""

    PATIENT = "patient"
    BOT = "bot"
    STAFF = "staff"


class Conversation(Base):
    """A thread with one patient on one channel.

    `public_id` is the opaque id Rasa and the widget see; it never encodes a phone number or
    name. `resume_token_hash` lets the same browser tab resume after a reload without making
    the public id a bearer secret.
    """

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    resume_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    identity_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner: Mapped[Owner] = mapped_column(enum_column(Owner), default=Owner.BOT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Message(Base):
    """One message in a conversation. Inbound ones are stored before they are acknowledged."""

    __tablename__ = "messages"
    __table_args__ = (
        # A client retry after a dropped connection must not create a second message.
        UniqueConstraint("conversation_id", "client_id"),
        Index("ix_messages_conversation_created", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    text: Mapped[str | None] = mapped_column(Text)
    # Button payload the patient chose, or buttons/custom data the bot sent.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    client_id: Mapped[str | None] = mapped_column(String(64))
    sender_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When a patient message was handed to the bot; None means "still to do", so a resend
    # after a dropped connection forwards it instead of being swallowed as a duplicate.
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
