"""Booking against a migrated database (SQLite, and PostgreSQL in CI): the database refuses
what overlaps, whatever the Python checks said."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.models import (
    Appointment,
    AppointmentBlock,
    Patient,
    Practice,
    Provider,
    VisitType,
)
from frontdesk.scheduling.blocks import grid_blocks
from frontdesk.scheduling.booking import PatientBusyError, SlotUnavailableError, book_appointment
from frontdesk.scheduling.matching import match_provider, match_visit_type
from frontdesk.scheduling.slots import find_open_slots, is_slot_open
from frontdesk.scheduling.timeprefs import TimePreference
from tests import factories
from tests.conftest import NOW

NY = ZoneInfo("America/New_York")


def _visit(session: Session, practice: Practice, code: str) -> VisitType:
    found = match_visit_type(session=session, practice_id=practice.id, text=code)
    assert found is not None
    return found


def _patient(session: Session, practice: Practice) -> Patient:
    return session.scalars(select(Patient).where(Patient.practice_id == practice.id)).first()  # type: ignore[return-value]


def _provider(session: Session, practice: Practice, surname: str) -> Provider:
    found = match_provider(session=session, practice_id=practice.id, text=surname)
    assert found is not None
    return found


def test_booking_takes_the_slot_and_it_is_not_offered_again(
    session: Session, practice: Practice
) -> None:
    visit = _visit(session, practice, "annual physical")
    patel = _provider(session, practice, "patel")
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 9:00 local
    appointment = book_appointment(
        session=session,
        practice=practice,
        patient=_patient(session, practice),
        visit_type=visit,
        provider_id=patel.id,
        start=start,
        now=NOW,
    )
    assert appointment.end_at - appointment.start_at == timedelta(minutes=45)
    blocks = session.scalars(
        select(AppointmentBlock).where(AppointmentBlock.appointment_id == appointment.id)
    ).all()
    assert len(blocks) == 11  # 45 minutes plus the 10-minute buffer, in 5-minute blocks
    assert not is_slot_open(
        session=session,
        practice=practice,
        visit_type=visit,
        provider_id=patel.id,
        start=start,
        now=NOW,
    )


def test_overlapping_booking_of_another_length_is_refused(
    session: Session, practice: Practice
) -> None:
    patel = _provider(session, practice, "patel")
    first, second = session.scalars(
        select(Patient).where(Patient.practice_id == practice.id).limit(2)
    ).all()
    book_appointment(
        session=session,
        practice=practice,
        patient=first,
        visit_type=_visit(session, practice, "annual-physical"),
        provider_id=patel.id,
        start=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
        now=NOW,
    )
    with pytest.raises(SlotUnavailableError) as refused:
        book_appointment(
            session=session,
            practice=practice,
            patient=second,
            visit_type=_visit(session, practice, "sick-visit"),
            provider_id=patel.id,
            start=datetime(2026, 12, 1, 14, 30, tzinfo=UTC),
            now=NOW,
        )
    assert not isinstance(refused.value, PatientBusyError)
    # The failed attempt left the session usable and nothing half-written.
    assert session.scalars(select(Appointment)).all()[0].provider_id == patel.id
    assert len(session.scalars(select(Appointment)).all()) == 1


def test_database_itself_refuses_a_double_booked_block(
    session: Session, practice: Practice
) -> None:
    """The rule holds even for code that skips the service's checks."""
    patel = _provider(session, practice, "patel")
    appointment = book_appointment(
        session=session,
        practice=practice,
        patient=_patient(session, practice),
        visit_type=_visit(session, practice, "sick-visit"),
        provider_id=patel.id,
        start=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
        now=NOW,
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            AppointmentBlock(
                practice_id=practice.id,
                provider_id=patel.id,
                block_start=datetime(2026, 12, 1, 14, 5, tzinfo=UTC),
                appointment_id=appointment.id,
            )
        )
        session.flush()


def test_booking_in_the_past_or_outside_hours_is_refused(
    session: Session, practice: Practice
) -> None:
    patel = _provider(session, practice, "patel")
    for start in (
        datetime(2026, 11, 27, 14, 0, tzinfo=UTC),  # yesterday
        datetime(2026, 12, 1, 3, 0, tzinfo=UTC),  # 22:00 local the night before
        datetime(2026, 12, 1, 14, 7, tzinfo=UTC),  # not on the slot grid
    ):
        with pytest.raises(SlotUnavailableError):
            book_appointment(
                session=session,
                practice=practice,
                patient=_patient(session, practice),
                visit_type=_visit(session, practice, "sick-visit"),
                provider_id=patel.id,
                start=start,
                now=NOW,
            )


def test_a_patient_cannot_be_in_two_places_at_once(session: Session, practice: Practice) -> None:
    patient = _patient(session, practice)
    book_appointment(
        session=session,
        practice=practice,
        patient=patient,
        visit_type=_visit(session, practice, "sick-visit"),
        provider_id=_provider(session, practice, "patel").id,
        start=datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
        now=NOW,
    )
    with pytest.raises(PatientBusyError):
        book_appointment(
            session=session,
            practice=practice,
            patient=patient,
            visit_type=_visit(session, practice, "sick-visit"),
            provider_id=_provider(session, practice, "nguyen").id,
            start=datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
            now=NOW,
        )


def test_overlap_is_caught_even_off_the_five_minute_grid(
    session: Session, practice: Practice
) -> None:
    """Hours at an odd minute give odd start times; blocks still collide on one grid."""
    patel = _provider(session, practice, "patel")
    patients = session.scalars(select(Patient).where(Patient.practice_id == practice.id)).all()
    factories.weekly_hours(session, provider=patel, weekdays=[6], start=time(9, 7), end=time(11, 0))
    sunday = date(2026, 12, 6)
    visit = _visit(session, practice, "sick-visit")
    first = find_open_slots(
        session=session,
        practice=practice,
        visit_type=visit,
        now=NOW,
        provider_id=patel.id,
        preference=TimePreference(days=(sunday,), exact=time(9, 7)),
        limit=1,
    )[0]
    assert first.start.astimezone(NY).time() == time(9, 7)
    book_appointment(
        session=session,
        practice=practice,
        patient=patients[0],
        visit_type=visit,
        provider_id=patel.id,
        start=first.start,
        now=NOW,
    )
    # A visit starting 18 minutes later overlaps the first one's last 2 minutes.
    session.add(
        AppointmentBlock(
            practice_id=practice.id,
            provider_id=patel.id,
            block_start=grid_blocks(first.start + timedelta(minutes=18), first.end)[0],
            appointment_id=session.scalars(select(Appointment.id)).first(),
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
