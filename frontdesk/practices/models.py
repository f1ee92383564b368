"""A practice, its locations and providers: the tenant every other row belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from frontdesk.db import Base, insert_stamp


class Practice(Base):
    """A medical practice (the tenant)."""

    __tablename__ = "practices"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    phone: Mapped[str | None] = mapped_column(String(32))
    # Booking rules that apply unless a visit type says otherwise.
    min_lead_minutes: Mapped[int] = mapped_column(Integer, default=120)
    max_horizon_days: Mapped[int] = mapped_column(Integer, default=90)
    cancellation_policy: Mapped[str | None] = mapped_column(Text)
    # Cancelling or moving a visit closer than this to its start counts as a late cancel; the
    # patient is told so (with `late_cancel_fee_text`) before they confirm. 0 = no window.
    late_cancel_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    late_cancel_fee_text: Mapped[str | None] = mapped_column(Text)
    # Provider time kept free around each visit (room turnover, notes) unless the visit type
    # says otherwise; held as appointment blocks so the database enforces it too.
    default_buffer_before_minutes: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )
    default_buffer_after_minutes: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )
    # When staff answer, for handoff messages: {"monday": ["08:00-17:00"], ...} in local
    # time. None: the span of the providers' weekly hours (see `conversations.handoff`).
    office_hours: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    # The folder of documents `frontdesk kb ingest` reads for this practice (as written in
    # the practice file; relative paths are read from where frontdesk runs).
    knowledge_folder: Mapped[str | None] = mapped_column(String(300))
    # The practice's own texts in other languages, from the practice file's `translations`:
    # {"es": {"late_cancel_fee": "...", ...}}. Read through `frontdesk.practices.wording`.
    translations: Mapped[dict[str, dict[str, str]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = insert_stamp()

    locations: Mapped[list[Location]] = relationship(back_populates="practice")
    providers: Mapped[list[Provider]] = relationship(back_populates="practice")


class Location(Base):
    """A place where a practice sees patients."""

    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("practice_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(32))

    practice: Mapped[Practice] = relationship(back_populates="locations")


class Provider(Base):
    """A clinician patients can book with."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("practice_id", "display_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    display_name: Mapped[str] = mapped_column(String(200))
    specialty: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    practice: Mapped[Practice] = relationship(back_populates="providers")
    location: Mapped[Location] = relationship()
