"""Per-practice outreach settings and the planned reminders and follow-ups.

`(appointment_id, kind, offset_minutes, appointment_start)` is unique: a reminder is planned,
and so sent, at most once per appointment, offset and appointment time, however many
schedulers run or restart. A rescheduled appointment (same id, new time) gets a fresh plan.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, enum_column, insert_stamp


class ReminderSettings(Base):
    """A practice's outreach cadence; absent fields fall back to the service settings."""

    __tablename__ = "reminder_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(
        ForeignKey("practices.id", ondelete="CASCADE"), unique=True
    )
    offsets_minutes: Mapped[list[int] | None] = mapped_column(JSON)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "08:00", patient-local
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    daily_cap: Mapped[int] = mapped_column(Integer, default=1)
    weekly_cap: Mapped[int] = mapped_column(Integer, default=3)
    no_show_followup: Mapped[bool] = mapped_column(default=True)
    # Sent after a completed visit; None turns the follow-up off.
    post_visit_message: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ReminderKind(enum.StrEnum):
    """What a planned message is for."""

    REMINDER = "reminder"
    NO_SHOW = "no_show"
    POST_VISIT = "post_visit"


class ReminderStatus(enum.StrEnum):
    """Lifecycle of a planned message."""

    PLANNED = "planned"
    SENT = "sent"  # queued in the SMS outbox (the outbox then delivers it)
    SKIPPED = "skipped"  # see `skip_reason`
    CANCELLED = "cancelled"  # the appointment was cancelled


class ScheduledReminder(Base):
    """One reminder or follow-up for one appointment."""

    __tablename__ = "scheduled_reminders"
    __table_args__ = (
        UniqueConstraint(
            "appointment_id",
            "kind",
            "offset_minutes",
            "appointment_start",
            name="uq_scheduled_reminders_once",
        ),
        Index("ix_scheduled_reminders_due", "status", "due_at"),
        Index("ix_scheduled_reminders_patient_sent", "patient_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    kind: Mapped[ReminderKind] = mapped_column(enum_column(ReminderKind))
    offset_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # The appointment start this was planned for: a moved appointment is replanned.
    appointment_start: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[ReminderStatus] = mapped_column(
        enum_column(ReminderStatus), default=ReminderStatus.PLANNED
    )
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    outbound_sms_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_sms.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = insert_stamp()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# APScheduler's SQLAlchemyJobStore table, declared here so that Alembic creates it like every
# other table (the job store then finds it and creates nothing). Same shape as APScheduler 3.11.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
