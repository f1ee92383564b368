"""Billing answers for verified patients: balance, last statement, ways to pay, payment link."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.billing.models import BillingProfile, PatientAccount, PaymentLinkConsent, Statement
from frontdesk.language import Language
from frontdesk.practices.models import Practice
from frontdesk.practices.wording import practice_text


@dataclass(frozen=True)
class BalanceSummary:
    """What the bot tells a verified patient about their account."""

    balance: Decimal
    last_statement_date: date | None
    reference: str  # opaque account reference for the payment link


def balance_summary(*, session: Session, practice_id: int, patient_id: int) -> BalanceSummary:
    """The patient's balance and last statement date (zero balance when no account exists)."""
    account = session.scalar(
        select(PatientAccount).where(
            PatientAccount.practice_id == practice_id, PatientAccount.patient_id == patient_id
        )
    )
    if account is None:
        account = open_account(session=session, practice_id=practice_id, patient_id=patient_id)
    last = session.scalar(
        select(Statement.statement_date)
        .where(Statement.account_id == account.id)
        .order_by(Statement.statement_date.desc())
        .limit(1)
    )
    return BalanceSummary(
        balance=account.balance, last_statement_date=last, reference=account.reference
    )


def open_account(
    *, session: Session, practice_id: int, patient_id: int, balance: Decimal = Decimal("0.00")
) -> PatientAccount:
    """Create a patient's account with a fresh opaque reference."""
    account = PatientAccount(
        practice_id=practice_id,
        patient_id=patient_id,
        reference=f"acct_{secrets.token_urlsafe(12)}",
        balance=balance,
    )
    session.add(account)
    session.flush()
    return account


def payment_link(
    *,
    session: Session,
    practice: Practice,
    reference: str | None,
    default_template: str,
    base_url: str,
) -> str:
    """The practice's payment link, filled from its template (or the deployment default)."""
    profile = session.scalar(
        select(BillingProfile).where(BillingProfile.practice_id == practice.id)
    )
    template = (profile.payment_link_template if profile else None) or default_template
    link = template.format(
        base_url=base_url, practice=quote(practice.slug), account=quote(reference or "")
    )
    return link.removesuffix("?ref=").removesuffix("&ref=")


def payment_methods(*, session: Session, practice: Practice, language: Language) -> str:
    """How patients of this practice can pay, in `language` (the practice's words if it wrote
    them, translated where its file does; our own default otherwise)."""
    profile = session.scalar(
        select(BillingProfile).where(BillingProfile.practice_id == practice.id)
    )
    written = profile.payment_methods if profile else None
    return practice_text(practice, "payment_methods", language, written) or texts.text(
        "billing.payment_methods", language
    )


def has_payment_link_consent(*, session: Session, practice_id: int, patient_id: int) -> bool:
    """Whether the patient agreed to get payment links by text (and has not revoked it)."""
    consent = session.scalar(
        select(PaymentLinkConsent).where(
            PaymentLinkConsent.practice_id == practice_id,
            PaymentLinkConsent.patient_id == patient_id,
        )
    )
    return consent is not None and consent.revoked_at is None


def record_payment_link_consent(
    *,
    session: Session,
    practice_id: int,
    patient_id: int,
    conversation_id: int | None,
    now: datetime,
) -> PaymentLinkConsent:
    """Record (or renew) consent to receive payment links by text."""
    consent = session.scalar(
        select(PaymentLinkConsent).where(
            PaymentLinkConsent.practice_id == practice_id,
            PaymentLinkConsent.patient_id == patient_id,
        )
    )
    if consent is None:
        consent = PaymentLinkConsent(practice_id=practice_id, patient_id=patient_id)
        session.add(consent)
    consent.conversation_id = conversation_id
    consent.granted_at = now
    consent.revoked_at = None
    session.flush()
    return consent
