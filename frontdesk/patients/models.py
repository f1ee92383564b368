"""Patients of a practice (PHI: never log these fields)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, insert_stamp


class Patient(Base):
    """A patient record. Matching is by normalised name and date of birth within a practice."""

    __tablename__ = "patients"
    __table_args__ = (
        Index("ix_patients_identity", "practice_id", "match_key", "date_of_birth"),
        # Importing the same EHR patient twice must update the record, never copy it.
        Index("ux_patients_external", "practice_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # Lower-cased, accent- and punctuation-free "first last", for identity matching.
    match_key: Mapped[str] = mapped_column(String(220))
    date_of_birth: Mapped[date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    # The patient's id in the practice's EHR (from an import), None when we registered them.
    external_id: Mapped[str | None] = mapped_column(String(64))
    # BCP 47 tag ("en", "es") the practice recorded; None: not known.
    preferred_language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = insert_stamp()

    @property
    def full_name(self) -> str:
        """Display name for staff views."""
        return f"{self.first_name} {self.last_name}".strip()


class PatientDuplicateFlag(Base):
    """Two records that may be one person, for staff to look at (never merged automatically).

    Raised by `frontdesk patients import` when a row's EHR id is new but its name and date of
    birth match a patient on file under another EHR id, or when a file holds the same person
    twice. While both records exist, identity checks refuse to pick one ("please call the
    office"), so a wrong guess cannot attach a conversation to the wrong person.
    """

    __tablename__ = "patient_duplicate_flags"
    __table_args__ = (UniqueConstraint("patient_id", "other_patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    other_patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    # "same name and date of birth": why the two look alike (no patient details here).
    reason: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = insert_stamp()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class VerificationCode(Base):
    """A one-time code sent to the phone on file, to verify a web chat patient.

    Only a salted SHA-256 of the code is stored; a code lives 10 minutes and dies after five
    wrong tries (see `frontdesk.patients.verification`). A row with no patient is a decoy:
    details that match no record get one too (no text is sent), so that a miss looks like a hit.
    """

    __tablename__ = "verification_codes"
    __table_args__ = (Index("ix_verification_codes_conversation", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    code_salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wrong_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the code was accepted, or when it was given up (locked, superseded).
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class VerificationAttempt(Base):
    """One identity check, or one registration, for the guessing limits.

    Counted per conversation, per identity (practice + name) and per client address over
    clock-based windows (see `frontdesk.patients.verification`). Holds no identity: the keys
    are HMACs under the service's secret key, never a name, a birthday or an address.
    """

    __tablename__ = "verification_attempts"
    __table_args__ = (
        Index("ix_verification_attempts_conversation", "conversation_id", "at"),
        Index("ix_verification_attempts_identity", "identity_key", "at"),
        Index("ix_verification_attempts_client", "client_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # Failures: "web_identity" (no record), "sms_identity", "code_locked". Not failures, but
    # counted by the limits: "web_lookup" (details matched), "web_verified", "registration".
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    identity_key: Mapped[str | None] = mapped_column(String(64))
    client_key: Mapped[str | None] = mapped_column(String(64))
