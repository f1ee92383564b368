"""Shared steps of the EHR tests: book through scheduling, find our rows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.ehr.models import EhrOutboxEntry
from frontdesk.models import Appointment, Patient, Practice, Provider, VisitType
from frontdesk.scheduling.booking import book_appointment
from frontdesk.scheduling.matching import match_provider, match_visit_type
from tests.conftest import NOW

# Tuesday 1 December 2026, 9:00 and 10:30 in New York (Dr. Patel's hours).
TUESDAY_9 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
TUESDAY_1030 = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


def provider(session: Session, practice: Practice, surname: str = "patel") -> Provider:
    found = match_provider(session=session, practice_id=practice.id, text=surname)
    assert found is not None
    return found


def visit(session: Session, practice: Practice, code: str = "sick visit") -> VisitType:
    found = match_visit_type(session=session, practice_id=practice.id, text=code)
    assert found is not None
    return found


def patient(session: Session, practice: Practice, index: int = 0) -> Patient:
    rows = session.scalars(
        select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
    ).all()
    return rows[index]


def book(
    session: Session, practice: Practice, *, start: datetime = TUESDAY_9, index: int = 0
) -> Appointment:
    """Book a sick visit with Dr. Patel through the real scheduling service."""
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
