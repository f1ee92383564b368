"""Visit types, weekly hours and appointments.

Double booking is prevented by the database on every backend: an appointment claims one
`appointment_blocks` row per `BLOCK_MINUTES` of provider time, and (provider, block) is unique.
That works the same on SQLite and PostgreSQL and also catches overlaps between visits of
different lengths, which a unique start time alone would not.
"""

from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from frontdesk.db import Base, UTCDateTime, enum_column, utcnow
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Location, Provider

BLOCK_MINUTES = 5


class VisitType(Base):
    """A kind of visit patients can book, with its length."""

    __tablename__ = "visit_types"
    __table_args__ = (
        UniqueConstraint("practice_id", "code"),
        CheckConstraint("duration_minutes > 0 AND duration_minutes % 5 = 0", name="duration"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # Words patients use for this visit ("physical", "checkup"); comma-separated.
    keywords: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)


class WeeklyHours(Base):
    """A recurring block of a provider's bookable time, in the practice's local time."""

    __tablename__ = "weekly_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_time < end_time", name="order"),
        Index("ix_weekly_hours_provider_day", "provider_id", "weekday"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # Monday = 0, as date.weekday()
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)


class AppointmentStatus(enum.StrEnum):
    """Lifecycle of an appointment (FHIR Appointment.status values)."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"
    NOSHOW = "noshow"


class Appointment(Base):
    """A booked visit."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("start_at < end_at", name="order"),
        Index("ix_appointments_provider_start", "provider_id", "start_at"),
        Index("ix_appointments_patient", "patient_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    visit_type_id: Mapped[int] = mapped_column(ForeignKey("visit_types.id"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[AppointmentStatus] = mapped_column(
        enum_column(AppointmentStatus),
        default=AppointmentStatus.BOOKED,
    )
    source: Mapped[str] = mapped_column(String(16), default="webchat")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    provider: Mapped[Provider] = relationship()
    location: Mapped[Location] = relationship()
    patient: Mapped[Patient] = relationship()
    visit_type: Mapped[VisitType] = relationship()


class AppointmentBlock(Base):
    """One `BLOCK_MINUTES` piece of provider time held by a booked appointment."""

    __tablename__ = "appointment_blocks"
    __table_args__ = (UniqueConstraint("provider_id", "block_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    block_start: Mapped[datetime] = mapped_column(UTCDateTime())
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
