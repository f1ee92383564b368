"""Patient accounts and statements (the embedded default's billing system of record).

When a practice's EHR exposes FHIR Account/Invoice, those would be the source instead; this
schema holds what the bot needs: a balance, the last statement date, a payment reference.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, insert_stamp


class BillingProfile(Base):
    """A practice's billing settings: its payment link template and billing phone."""

    __tablename__ = "billing_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(
        ForeignKey("practices.id", ondelete="CASCADE"), unique=True
    )
    # Placeholders {base_url}, {practice}, {account}; empty: FRONTDESK_PAYMENT_LINK_TEMPLATE.
    payment_link_template: Mapped[str | None] = mapped_column(String(500))
    billing_phone: Mapped[str | None] = mapped_column(String(32))
    payment_methods: Mapped[str | None] = mapped_column(Text)


class PatientAccount(Base):
    """A patient's account with the practice: the balance they owe."""

    __tablename__ = "patient_accounts"
    __table_args__ = (UniqueConstraint("practice_id", "patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    # Opaque reference used in payment links (never the patient id or a name).
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    balance: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0.00"))
    updated_at: Mapped[datetime] = insert_stamp()


class Statement(Base):
    """A statement sent to the patient."""

    __tablename__ = "billing_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("patient_accounts.id", ondelete="CASCADE"))
    statement_date: Mapped[date] = mapped_column(Date)
    amount_due: Mapped[Decimal] = mapped_column(Numeric(10, 2))


class PaymentLinkConsent(Base):
    """A patient's consent to receive payment links by text (billing is not exempt from TCPA)."""

    __tablename__ = "payment_link_consents"
    __table_args__ = (UniqueConstraint("practice_id", "patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    granted_at: Mapped[datetime] = insert_stamp()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
