"""Patients of a practice (PHI: never log these fields)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, utcnow


class Patient(Base):
    """A patient record. Matching is by normalised name and date of birth within a practice."""

    __tablename__ = "patients"
    __table_args__ = (Index("ix_patients_identity", "practice_id", "match_key", "date_of_birth"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # Lower-cased, accent- and punctuation-free "first last", for identity matching.
    match_key: Mapped[str] = mapped_column(String(220))
    date_of_birth: Mapped[date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def full_name(self) -> str:
        """Display name for staff views."""
        return f"{self.first_name} {self.last_name}".strip()
