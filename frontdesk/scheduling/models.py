"""Visit types and their booking rules, weekly hours, exceptions, appointments, the waitlist.

Double booking is prevented by the database on every backend: an appointment claims one
`appointment_blocks` row per `BLOCK_MINUTES` of provider time, and (provider, block) is unique.
That works the same on SQLite and PostgreSQL and also catches overlaps between visits of
different lengths, which a unique start time alone would not. Buffers around a visit are
claimed as blocks too, so the gap between two visits survives concurrent bookings.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
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

from frontdesk.db import Base, UTCDateTime, enum_column, insert_stamp
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Location, Provider

BLOCK_MINUTES = 5


class PatientRule(enum.StrEnum):
    """Which patients may book a visit type."""

    ANY = "any"
    NEW = "new"  # never seen by the practice (no past visit on record)
    ESTABLISHED = "established"  # seen at least once before


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
    # Booking rules; None means "the practice's value" (Practice.min_lead_minutes, ...).
    min_lead_minutes: Mapped[int | None] = mapped_column(Integer)
    max_horizon_days: Mapped[int | None] = mapped_column(Integer)
    buffer_before_minutes: Mapped[int | None] = mapped_column(Integer)
    buffer_after_minutes: Mapped[int | None] = mapped_column(Integer)
    patient_rule: Mapped[PatientRule] = mapped_column(
        enum_column(PatientRule), default=PatientRule.ANY, server_default=PatientRule.ANY.value
    )
    # Its name in other languages ({"es": "Consulta por enfermedad"}); `name` otherwise.
    names: Mapped[dict[str, str] | None] = mapped_column(JSON)

    def name_in(self, language: str) -> str:
        """The name a patient writing in `language` reads: the practice's translation, if any."""
        return (self.names or {}).get(language) or self.name


class VisitTypeProvider(Base):
    """A provider allowed to see a visit type. A visit type with no rows allows everyone."""

    __tablename__ = "visit_type_providers"

    visit_type_id: Mapped[int] = mapped_column(
        ForeignKey("visit_types.id", ondelete="CASCADE"), primary_key=True
    )
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True
    )
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))


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


class ScheduleException(Base):
    """Time a provider (or, with no provider, the whole practice) cannot be booked.

    Time off, holidays, training days. Stored as a UTC range; `demo.py` and the helpers in
    the service convert local days, so a holiday follows the practice's zone.
    """

    __tablename__ = "schedule_exceptions"
    __table_args__ = (
        CheckConstraint("start_at < end_at", name="order"),
        Index("ix_schedule_exceptions_practice_start", "practice_id", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Staff-facing label ("Thanksgiving", "Time off"); never shown with patient details.
    reason: Mapped[str] = mapped_column(String(200), default="")


class AppointmentStatus(enum.StrEnum):
    """Lifecycle of an appointment (stored as FHIR Appointment.status codes).

    `CONFIRMED` is ours: the patient confirmed (FHIR keeps it "booked" with the participant
    "accepted"). `COMPLETED` and `NO_SHOW` are aliases of the FHIR-named members.
    """

    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"
    NOSHOW = "noshow"
    COMPLETED = "fulfilled"
    NO_SHOW = "noshow"


# Statuses that hold provider time (and therefore appointment blocks).
ACTIVE_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
SOURCE_EHR = "ehr"


class Appointment(Base):
    """A booked visit."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("start_at < end_at", name="order"),
        Index("ix_appointments_provider_start", "provider_id", "start_at"),
        Index("ix_appointments_patient", "patient_id"),
        # Pulling the same EHR appointment twice must update it, never duplicate it.
        Index("ux_appointments_external", "practice_id", "external_id", unique=True),
        CheckConstraint(
            "source = 'ehr' OR (patient_id IS NOT NULL AND visit_type_id IS NOT NULL)",
            name="patient_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    # None only for busy time pulled from the EHR whose patient we do not know.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    # None only for EHR busy time, whose visit type we may not know.
    visit_type_id: Mapped[int | None] = mapped_column(ForeignKey("visit_types.id"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[AppointmentStatus] = mapped_column(
        enum_column(AppointmentStatus),
        default=AppointmentStatus.BOOKED,
    )
    # Where the booking came from: a channel of ours ("webchat", "sms", "staff", "waitlist")
    # or "ehr" for time pulled back from the practice's EHR.
    source: Mapped[str] = mapped_column(String(16), default="webchat")
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = insert_stamp()
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by: Mapped[str | None] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    late_cancel: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    provider: Mapped[Provider] = relationship()
    location: Mapped[Location] = relationship()
    patient: Mapped[Patient | None] = relationship()
    visit_type: Mapped[VisitType | None] = relationship()


class AppointmentBlock(Base):
    """One `BLOCK_MINUTES` piece of provider time held by an appointment (visit or buffer)."""

    __tablename__ = "appointment_blocks"
    __table_args__ = (UniqueConstraint("provider_id", "block_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    block_start: Mapped[datetime] = mapped_column(UTCDateTime())
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )


class WaitlistStatus(enum.StrEnum):
    """Where a waitlist entry stands."""

    WAITING = "waiting"
    BOOKED = "booked"  # took an offer
    REMOVED = "removed"  # left the list (or staff removed them)
    EXPIRED = "expired"  # its preferred days have passed


class WaitlistEntry(Base):
    """A patient who found nothing suitable and wants to hear when something frees up.

    The free-text preference is parsed once, when the patient joins, into a date range, a set
    of weekdays and a local time window; matching a freed slot then needs no parsing.
    """

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index("ix_waitlist_entries_practice_status", "practice_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    visit_type_id: Mapped[int] = mapped_column(ForeignKey("visit_types.id", ondelete="CASCADE"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    preference_text: Mapped[str] = mapped_column(String(500), default="")
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    # Bit n set = weekday n (Monday = 0) is acceptable.
    weekdays: Mapped[int] = mapped_column(SmallInteger, default=0b1111111)
    earliest: Mapped[time | None] = mapped_column(Time)
    latest: Mapped[time | None] = mapped_column(Time)
    status: Mapped[WaitlistStatus] = mapped_column(
        enum_column(WaitlistStatus), default=WaitlistStatus.WAITING
    )
    created_at: Mapped[datetime] = insert_stamp()


class OfferStatus(enum.StrEnum):
    """Where one waitlist offer stands."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    GONE = "gone"  # someone else took the time, or it stopped being bookable
    EXPIRED = "expired"  # not answered in time


class WaitlistOffer(Base):
    """Freed time offered to one waitlisted patient; the first of a batch to accept wins.

    The token is what the patient's reply carries back (a button payload); it is random, so a
    patient cannot claim someone else's offer by guessing.
    """

    __tablename__ = "waitlist_offers"
    __table_args__ = (Index("ix_waitlist_offers_provider_start", "provider_id", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("waitlist_entries.id", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    token: Mapped[str] = mapped_column(String(64), unique=True)
    batch: Mapped[int] = mapped_column(SmallInteger, default=1)
    status: Mapped[OfferStatus] = mapped_column(
        enum_column(OfferStatus), default=OfferStatus.PENDING
    )
    created_at: Mapped[datetime] = insert_stamp()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )

    entry: Mapped[WaitlistEntry] = relationship()
    provider: Mapped[Provider] = relationship()
