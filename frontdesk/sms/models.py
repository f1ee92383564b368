"""SMS: the practice's numbers, inbound receipts, consent, the outbound outbox, delivery statuses.

Phone numbers are PHI: they live in these tables only, never in logs or in Rasa. Invariants
that matter are database constraints: one inbound row per Twilio `MessageSid`, one outbound
row per dedupe key (a reminder can be queued once), one consent row per practice and number.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, enum_column, insert_stamp


class PracticeSmsNumber(Base):
    """A Twilio number patients text; the `To` of an inbound message selects the practice."""

    __tablename__ = "practice_sms_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(32), unique=True)  # E.164
    messaging_service_sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = insert_stamp()


class SmsThread(Base):
    """Maps a patient's number to the opaque conversation Rasa and staff see.

    `awaiting_identity` is set when the bot asked for a date of birth: the next inbound text
    is consumed by the service (identity check), never forwarded to Rasa.
    """

    __tablename__ = "sms_threads"
    __table_args__ = (UniqueConstraint("practice_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    awaiting_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = insert_stamp()


class InboundOutcome(enum.StrEnum):
    """What became of an inbound SMS."""

    PENDING = "pending"  # stored, the bot has not had it yet
    BOT = "bot"  # handed to Rasa
    STAFF = "staff"  # staff own the conversation: to their inbox
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    OPTED_OUT = "opted_out"  # from an opted-out number, not a keyword: stored, no reply
    IDENTITY = "identity"  # consumed by the identity check
    UNKNOWN_NUMBER = "unknown_number"  # sent to a number no practice owns
    EMPTY = "empty"  # no text (an MMS with media only, or blank)


class InboundSms(Base):
    """One inbound message, stored before Twilio is answered; `message_sid` is unique."""

    __tablename__ = "inbound_sms"
    __table_args__ = (Index("ix_inbound_sms_pending", "outcome", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    practice_id: Mapped[int | None] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    from_phone: Mapped[str] = mapped_column(String(32))
    to_phone: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    # What goes to the bot (a button payload for a numbered reply, else the text).
    bot_text: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[InboundOutcome] = mapped_column(
        enum_column(InboundOutcome), default=InboundOutcome.PENDING
    )
    received_at: Mapped[datetime] = insert_stamp()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmsConsent(Base):
    """Whether a number may be texted by a practice (carrier keywords, staff records)."""

    __tablename__ = "sms_consents"
    __table_args__ = (UniqueConstraint("practice_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(32))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    keyword: Mapped[str | None] = mapped_column(String(32))  # what the patient sent, upper-case
    changed_at: Mapped[datetime] = insert_stamp()


class OutboundStatus(enum.StrEnum):
    """Outbox lifecycle; `queued`/`sent`/`delivered`/`undelivered`/`failed` are Twilio's words."""

    PENDING = "pending"  # in the outbox, waiting for (another) attempt
    SENDING = "sending"  # claimed by a worker; an expired claim is reconciled with Twilio
    QUEUED = "queued"  # Twilio accepted it
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"  # Twilio reported it failed
    DEAD = "dead"  # we gave up: shown to staff


class OutboundSms(Base):
    """One outbound SMS in the outbox. `dedupe_key` makes a send idempotent (reminders)."""

    __tablename__ = "outbound_sms"
    __table_args__ = (
        Index("ix_outbound_sms_due", "status", "next_attempt_at"),
        # What went to one number lately: the TCPA caps at send time, reconciliation.
        Index("ix_outbound_sms_to_phone_sent", "to_phone", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    to_phone: Mapped[str] = mapped_column(String(32))
    from_phone: Mapped[str | None] = mapped_column(String(32))
    messaging_service_sid: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))  # bot, staff, reminder, otp, compliance, ...
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    status: Mapped[OutboundStatus] = mapped_column(
        enum_column(OutboundStatus), default=OutboundStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = insert_stamp()
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(String(8), default="GSM-7")
    last_error: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = insert_stamp()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = insert_stamp()
    # Outreach only: past this it is pointless (a reminder after the visit, an expired
    # waitlist offer), so a message held back by quiet hours is dropped rather than sent.
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmsStatusEvent(Base):
    """One delivery-status callback from Twilio, kept as it came (audit of delivery)."""

    __tablename__ = "sms_status_events"
    __table_args__ = (UniqueConstraint("message_sid", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_sms.id", ondelete="CASCADE"), index=True
    )
    message_sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = insert_stamp()
