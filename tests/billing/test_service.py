"""Billing service: balances, statements, payment links, consent to payment-link texts."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from frontdesk.billing import service as billing
from frontdesk.billing.models import BillingProfile, PatientAccount
from frontdesk.models import Patient, Practice
from tests.conftest import NOW

TEMPLATE = "{base_url}/pay/{practice}?ref={account}"


def _patients(session: Session, practice: Practice) -> list[Patient]:
    return list(
        session.scalars(
            select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
        )
    )


def test_demo_patients_have_balances_and_statement_dates(
    session: Session, practice: Practice
) -> None:
    first, second, _ = _patients(session, practice)
    summary = billing.balance_summary(session=session, practice_id=practice.id, patient_id=first.id)
    assert (summary.balance, summary.last_statement_date) == (
        Decimal("125.40"),
        date(2026, 11, 1),
    )
    assert billing.balance_summary(
        session=session, practice_id=practice.id, patient_id=second.id
    ).balance == Decimal("0.00")


def test_a_patient_without_an_account_gets_one_with_an_opaque_reference(
    session: Session, practice: Practice
) -> None:
    patient = _patients(session, practice)[0]
    session.execute(
        delete(PatientAccount)
        .where(PatientAccount.patient_id == patient.id)
        .execution_options(synchronize_session=False)
    )
    summary = billing.balance_summary(
        session=session, practice_id=practice.id, patient_id=patient.id
    )
    assert summary.balance == Decimal("0.00") and summary.last_statement_date is None
    # Opaque: sixteen random URL-safe characters, nothing derived from the patient's id.
    assert re.fullmatch(r"acct_[A-Za-z0-9_-]{16}", summary.reference)
    assert summary.reference != f"acct_{patient.id}"
    again = billing.balance_summary(session=session, practice_id=practice.id, patient_id=patient.id)
    assert again.reference == summary.reference


def test_payment_link_uses_the_practice_template_or_the_default(
    session: Session, practice: Practice
) -> None:
    link = billing.payment_link(
        session=session,
        practice=practice,
        reference="acct_x",
        default_template=TEMPLATE,
        base_url="https://fd.example",
    )
    assert link == "https://fd.example/pay/riverside?ref=acct_x"
    assert (
        billing.payment_link(
            session=session,
            practice=practice,
            reference=None,
            default_template=TEMPLATE,
            base_url="https://fd.example",
        )
        == "https://fd.example/pay/riverside"
    )
    profile = session.scalar(
        select(BillingProfile).where(BillingProfile.practice_id == practice.id)
    )
    assert profile is not None
    profile.payment_link_template = "https://pay.example.com/{practice}/{account}"
    session.flush()
    assert (
        billing.payment_link(
            session=session,
            practice=practice,
            reference="acct_y",
            default_template=TEMPLATE,
            base_url="https://fd.example",
        )
        == "https://pay.example.com/riverside/acct_y"
    )


def test_payment_link_texts_need_their_own_consent(session: Session, practice: Practice) -> None:
    patient = _patients(session, practice)[0]
    assert not billing.has_payment_link_consent(
        session=session, practice_id=practice.id, patient_id=patient.id
    )
    consent = billing.record_payment_link_consent(
        session=session,
        practice_id=practice.id,
        patient_id=patient.id,
        conversation_id=None,
        now=NOW,
    )
    assert billing.has_payment_link_consent(
        session=session, practice_id=practice.id, patient_id=patient.id
    )
    consent.revoked_at = NOW
    session.flush()
    assert not billing.has_payment_link_consent(
        session=session, practice_id=practice.id, patient_id=patient.id
    )
