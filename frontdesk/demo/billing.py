"""Billing data for the demo practice (made-up amounts)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.billing.models import BillingProfile, PatientAccount, Statement
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice

DEMO_BALANCES = [
    (Decimal("125.40"), date(2026, 11, 1)),
    (Decimal("0.00"), date(2026, 10, 1)),
    (Decimal("48.00"), date(2026, 11, 15)),
]


def seed_demo_billing(session: Session, practice: Practice) -> None:
    """Accounts and statements for the demo patients (idempotent: runs on every start).

    The billing profile itself comes from the demo's practice file; the accounts are made
    once, when the practice has none.
    """
    if (
        session.scalar(select(BillingProfile).where(BillingProfile.practice_id == practice.id))
        is None
    ):
        session.add(BillingProfile(practice_id=practice.id, billing_phone=practice.phone))
    if (
        session.scalar(select(PatientAccount.id).where(PatientAccount.practice_id == practice.id))
        is None
    ):
        patients = session.scalars(
            select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
        ).all()
        for patient, (balance, statement_date) in zip(patients, DEMO_BALANCES, strict=False):
            account = PatientAccount(
                practice_id=practice.id,
                patient_id=patient.id,
                reference=f"acct_demo{patient.id}",
                balance=balance,
            )
            session.add(account)
            session.flush()
            session.add(
                Statement(account_id=account.id, statement_date=statement_date, amount_due=balance)
            )
        session.flush()
