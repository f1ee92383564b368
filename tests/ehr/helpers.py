"""Shared steps of the EHR tests: the practice they book with, booking, finding our rows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.ehr.models import EhrOutboxEntry
from frontdesk.models import Appointment, Patient, Practice, Provider, VisitType
from frontdesk.scheduling.booking import book_appointment
from tests import factories
from tests.conftest import NOW

CLINIC_SLUG = "ehr-clinic"
# Tuesday 1 December 2026, 9:00 and 10:30 in New York (inside the clinic's hours).
TUESDAY_9 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
TUESDAY_1030 = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


def clinic(session: Session) -> Practice:
    """The practice the EHR tests book with, built on first use in the test's database.

    One provider working weekdays 8:30 to 17:00, one 20-minute visit type, three patients.
    Later units of work of the same test find it again by its slug.
    """
    found = session.scalar(select(Practice).where(Practice.slug == CLINIC_SLUG))
    if found is not None:
        return found
    built = factories.clinic(session, slug=CLINIC_SLUG)
    for _ in range(3):
        factories.patient(session, practice=built.practice)
    return built.practice


def provider(session: Session, practice: Practice) -> Provider:
    return session.scalars(select(Provider).where(Provider.practice_id == practice.id)).one()


def visit(session: Session, practice: Practice) -> VisitType:
    return session.scalars(select(VisitType).where(VisitType.practice_id == practice.id)).one()


def patient(session: Session, practice: Practice, index: int = 0) -> Patient:
    rows = session.scalars(
        select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
    ).all()
    return rows[index]


def book(
    session: Session, practice: Practice, *, start: datetime = TUESDAY_9, index: int = 0
) -> Appointment:
    """Book the clinic's visit type with its provider through the real scheduling service."""
    return book_appointment(
        session=session,
        practice=practice,
        patient=patient(session, practice, index),
        visit_type=visit(session, practice),
        provider_id=provider(session, practice).id,
        start=start,
        now=NOW,
    )


def outbox_row(session: Session, appointment_id: int) -> EhrOutboxEntry | None:
    return session.scalar(
        select(EhrOutboxEntry).where(EhrOutboxEntry.appointment_id == appointment_id)
    )
