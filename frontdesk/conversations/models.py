"""Conversations and their messages, across channels, and who answers them (handoff state).

Handoff follows Chatwoot's model: a conversation's `status` is `pending` while the bot
handles it, `open` once it is escalated to staff (unassigned until a staff member claims it)
and `resolved` when staff close it; `owner` says who may answer right now. The two are kept
in step by `frontdesk.conversations.handoff`, the only code that changes them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from frontdesk.db import Base, UTCDateTime, clock_of, enum_column, insert_stamp


class Channel(enum.StrEnum):
    """How the patient reaches us."""

    WEBCHAT = "webchat"
    SMS = "sms"


class Owner(enum.StrEnum):
    """Who answers the patient: the bot or staff, never both."""

    BOT = "bot"
    STAFF = "staff"


class ConversationStatus(enum.StrEnum):
    """Where a conversation stands (Chatwoot's names)."""

    PENDING = "pending"  # the bot is handling it
    OPEN = "open"  # escalated: staff own it (in the queue until someone claims it)
    RESOLVED = "resolved"  # staff closed it; the bot answers if the patient writes again


class EscalationReason(enum.StrEnum):
    """Why the bot handed a conversation to staff."""

    PATIENT_REQUEST = "patient_request"
    MISUNDERSTOOD = "misunderstood"
    EMERGENCY = "emergency"
    REFILL = "refill"
    BILLING_DISPUTE = "billing_dispute"
    IDENTITY_FAILED = "identity_failed"
    LOW_CONFIDENCE_ANSWER = "low_confidence_answer"
    BOT_UNANSWERED = "bot_unanswered"  # the bot did not answer a turn in time


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
    # The staff queue reads the open conversations of one practice.
    # New web chats per client address are limited (`connectors.webchat.limits`).
    __table_args__ = (
        Index("ix_conversations_practice_status", "practice_id", "status"),
        Index("ix_conversations_client", "client_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    resume_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    identity_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner: Mapped[Owner] = mapped_column(enum_column(Owner), default=Owner.BOT)
    created_at: Mapped[datetime] = insert_stamp()
    last_activity_at: Mapped[datetime] = insert_stamp()
    # Web chat: an HMAC of the client's address (never the address itself), for rate limits.
    client_key: Mapped[str | None] = mapped_column(String(64))
    # "en" or "es" once the patient's messages decided it (frontdesk.language); None while
    # undecided, when replies follow the patient's remembered language or English.
    language: Mapped[str | None] = mapped_column(String(8))

    # Handoff (see frontdesk.conversations.handoff). `assignee_staff_id` is set only while
    # staff own the conversation and one of them has claimed it.
    status: Mapped[ConversationStatus] = mapped_column(
        enum_column(ConversationStatus),
        default=ConversationStatus.PENDING,
        server_default=ConversationStatus.PENDING.value,
    )
    escalation_reason: Mapped[EscalationReason | None] = mapped_column(
        Enum(
            EscalationReason,
            native_enum=False,
            length=32,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    # A short staff-facing note from the code that escalated ("no answer in the knowledge
    # base"); never patient text.
    escalation_detail: Mapped[str | None] = mapped_column(String(200))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Since when the patient has been waiting for a person: set on escalation and on a patient
    # message staff have not answered yet, cleared by a staff reply.
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assignee_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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
    created_at: Mapped[datetime] = insert_stamp()
    # When a patient message was handed to the bot; None means "still to do", so a resend
    # after a dropped connection forwards it instead of being swallowed as a duplicate.
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConversationNote(Base):
    """An internal note staff add to a conversation. Never sent to the patient."""

    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    author_staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = insert_stamp()


@event.listens_for(Session, "before_flush")
def _start_waiting_clock(session: Session, _context: object, _instances: object) -> None:
    """A patient message to a conversation staff own starts its waiting clock.

    Done here rather than in each channel so that web chat, SMS and anything added later keep
    the queue's "waiting since" right without remembering to.
    """
    for instance in list(session.new):
        if not isinstance(instance, Message) or instance.role is not Role.PATIENT:
            continue
        with session.no_autoflush:
            conversation = session.get(Conversation, instance.conversation_id)
        if (
            conversation is not None
            and conversation.status is ConversationStatus.OPEN
            and conversation.waiting_since is None
        ):
            conversation.waiting_since = instance.created_at or clock_of(session)()


class TurnState(enum.StrEnum):
    """Where a patient turn stands in the durable queue (`frontdesk.conversations.turn_queue`)."""

    QUEUED = "queued"  # waiting for its conversation's earlier turns, or for Rasa
    SENDING = "sending"  # claimed under a lease: one dispatcher is handing it to Rasa
    SENT = "sent"  # Rasa's tracker shows it although our send never returned
    ANSWERED = "answered"  # Rasa handled it; its replies came through the callback
    ESCALATED = "escalated"  # unanswered too long: staff own the conversation now


class PatientTurn(Base):
    """One turn a patient (or the service on their behalf) hands to the bot, exactly once.

    Written in the transaction that stores the inbound message, so nothing acknowledged is
    lost. `text` is what Rasa receives: a payload, an intent, or words with PHI already
    replaced by tokens. Arrival order is the id; `rasa_message_id` is what Rasa's tracker
    records for it (`turn_queue.rasa_message_id`), so a retry can tell whether Rasa
    already has the turn.
    """

    __tablename__ = "patient_turns"
    __table_args__ = (
        Index("ix_patient_turns_due", "state", "next_attempt_at"),
        Index("ix_patient_turns_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # The patient message this turn answers; None for a turn the service sends itself.
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), unique=True
    )
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[TurnState] = mapped_column(enum_column(TurnState), default=TurnState.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = insert_stamp()
    next_attempt_at: Mapped[datetime] = insert_stamp()
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the patient was told "one moment" (at most once per conversation).
    waiting_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TurnReply(Base):
    """A bot message Rasa's callback delivered for a turn: a redelivery is stored once.

    Rasa's callback body names no message, so a reply is known by its turn and a digest of
    its content; the same message twice within one turn is taken as one delivery.
    """

    __tablename__ = "turn_replies"
    __table_args__ = (UniqueConstraint("turn_id", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("patient_turns.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = insert_stamp()
