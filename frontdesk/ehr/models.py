"""The EHR write-back outbox: one row per appointment of ours that the EHR must reflect.

The row carries no copy of the appointment: the worker reads the appointment when it sends, so
whatever changed last is what the EHR gets ("latest state wins"), and no patient data sits in
the outbox. `version` counts changes; a write that finishes after a newer change puts the row
back to pending instead of marking it done, so nothing is lost between two changes.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, enum_column, insert_stamp


class OutboxStatus(enum.StrEnum):
    """Where an EHR write stands."""

    PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
    IN_FLIGHT = "in_flight"  # claimed by a worker, being sent
    DONE = "done"  # the EHR holds the latest version
    DEAD = "dead"  # gave up: permanent error or too many attempts; staff must look


class EhrOutboxEntry(Base):
    """The EHR sync state of one appointment, and the work queue the worker drains."""

    __tablename__ = "ehr_outbox"
    __table_args__ = (Index("ix_ehr_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    # The last kind of change recorded (create, reschedule, cancel, status): for staff only;
    # the worker always sends the appointment's whole current state.
    operation: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = insert_stamp()
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Status code and OperationOutcome issue code only: never resource text (it may hold PHI).
    last_error: Mapped[str | None] = mapped_column(String(200))
    # The EHR's id of the Appointment once written (the EHR's, not ours).
    remote_id: Mapped[str | None] = mapped_column(String(64))
    synced_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = insert_stamp()
    updated_at: Mapped[datetime] = insert_stamp()
