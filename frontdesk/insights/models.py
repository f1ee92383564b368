"""Insight events (what the bot did, where nothing else records it) and per-practice assumptions.

Most figures on the insights page are derived from rows the service keeps anyway
(conversations, appointments, reminders, waitlist offers, consents). What no table records
today is written here as a PHI-free event: a kind, the channel, the instant, and at most the
id of the appointment or conversation it concerns (ids, never names, numbers or text).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.conversations.models import Conversation
from frontdesk.db import Base, UTCDateTime, enum_column, insert_stamp
from frontdesk.reminders.models import ScheduledReminder
from frontdesk.scheduling.models import Appointment


class InsightKind(enum.StrEnum):
    """Something worth counting that no other table records as it happens."""

    BOT_BOOKED = "bot_booked"
    BOT_RESCHEDULED = "bot_rescheduled"
    BOT_CANCELLED = "bot_cancelled"
    BOT_CONFIRMED = "bot_confirmed"
    KB_ANSWERED = "kb_answered"
    KB_ABSTAINED = "kb_abstained"
    NO_SHOW_MARKED = "no_show_marked"  # a staff member marked a visit as a no-show


class InsightEvent(Base):
    """One counted act. Append-only; carries ids and a channel, never patient details."""

    __tablename__ = "insight_events"
    # Covering the page's counts: practice, time, then what they group by.
    __table_args__ = (
        Index("ix_insight_events_practice_at", "practice_id", "at", "kind", "channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    kind: Mapped[InsightKind] = mapped_column(enum_column(InsightKind))
    # "webchat" or "sms" for the bot's acts; None when no channel applies (staff marking).
    channel: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL"), index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )


class InsightAssumptions(Base):
    """What a practice says one act of the bot is worth; shown beside every estimate.

    Minutes are the staff time the same task takes by phone; the visit value is what a kept
    (not no-show) visit brings in, in cents so that sums stay exact.
    """

    __tablename__ = "insight_assumptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(
        ForeignKey("practices.id", ondelete="CASCADE"), unique=True
    )
    minutes_per_booking: Mapped[int] = mapped_column(Integer, default=6)
    minutes_per_reschedule: Mapped[int] = mapped_column(Integer, default=5)
    minutes_per_cancellation: Mapped[int] = mapped_column(Integer, default=3)
    minutes_per_confirmation: Mapped[int] = mapped_column(Integer, default=2)
    minutes_per_question: Mapped[int] = mapped_column(Integer, default=3)
    visit_value_cents: Mapped[int] = mapped_column(Integer, default=15000)
    # Share of the waitlist-filled visits that would otherwise have stayed empty, in percent.
    refill_credit_percent: Mapped[int] = mapped_column(Integer, default=100)
    # Share of the bot's reschedules that would otherwise have been a lost visit, in percent.
    reschedule_credit_percent: Mapped[int] = mapped_column(Integer, default=50)
    updated_at: Mapped[datetime] = insert_stamp()
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))


# The insights page counts a practice's conversations by creation and by escalation time;
# without these a year of a busy practice is a full scan. They carry the columns the page
# reads, so the counts come from the index alone. Declared here so the conversations module
# stays as it is.
Index(
    "ix_conversations_practice_created",
    Conversation.practice_id,
    Conversation.created_at,
    Conversation.channel,
    Conversation.escalated_at,
)
Index(
    "ix_conversations_practice_escalated",
    Conversation.practice_id,
    Conversation.escalated_at,
    Conversation.channel,
    Conversation.escalation_reason,
    Conversation.first_reply_at,
)
Index(
    "ix_scheduled_reminders_practice_sent",
    ScheduledReminder.practice_id,
    ScheduledReminder.sent_at,
    ScheduledReminder.kind,
    ScheduledReminder.status,
)
# "Did a reminder go out before this confirmation?" is asked once per confirmed visit.
Index(
    "ix_scheduled_reminders_appointment_sent",
    ScheduledReminder.appointment_id,
    ScheduledReminder.kind,
    ScheduledReminder.status,
    ScheduledReminder.sent_at,
)
Index(
    "ix_appointments_practice_status_start",
    Appointment.practice_id,
    Appointment.status,
    Appointment.start_at,
)
Index("ix_appointments_practice_confirmed", Appointment.practice_id, Appointment.confirmed_at)
Index("ix_appointments_practice_cancelled", Appointment.practice_id, Appointment.cancelled_at)
