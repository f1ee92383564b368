"""Audit events, one hash chain per practice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    """One audited act. Never updated or deleted (database triggers refuse both).

    `seq` numbers a practice's events without gaps and `hash` is SHA-256 over the previous
    event's hash and this event's canonical JSON, so an edited, removed or reordered event
    breaks the chain at that point (see `frontdesk.audit.service.verify_chain`).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        # One successor per event: two writers can never fork a practice's chain.
        UniqueConstraint("practice_id", "seq"),
        Index("ix_audit_events_practice_at", "practice_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No cascade: a practice with an audit trail cannot be deleted by accident.
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id"))
    seq: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
