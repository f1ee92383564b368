"""A practice's reminder experiments: which arms exist, their weights, and when they run.

Assignment is not stored: it is recomputed from an HMAC of (experiment key, patient id) with
the experiment's own secret (`assignment.py`), so planning, sending and the report always
agree without a table of patient ids to keep in step. The arms are data of the practice file
(`reminder_experiments`), kept as JSON in the order the file gives them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, insert_stamp


class ReminderExperiment(Base):
    """One experiment; `arms` is a list of {name, weight, control, wording, offsets_minutes}."""

    __tablename__ = "reminder_experiments"
    __table_args__ = (UniqueConstraint("practice_id", "key", name="uq_reminder_experiments_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # Appointments starting on these practice-local days (inclusive) take part.
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    arms: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Hex key of the assignment HMAC; made once, never exported, so staff cannot steer arms.
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = insert_stamp()
