"""The test factories build rows the way the service would have: time held, defaults unique."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.models import AppointmentBlock, AppointmentStatus
from frontdesk.scheduling.rules import allowed_provider_ids
from frontdesk.scheduling.slots import is_slot_open
from tests import factories
from tests.conftest import NOW

TUE_9 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # Tuesday 1 December, 9:00 in New York


def test_a_built_appointment_holds_its_provider_time_like_a_booking(session: Session) -> None:
    clinic = factories.clinic(session)
    visit = factories.visit_type(
        session, practice=clinic.practice, duration_minutes=30, buffer_after_minutes=10
    )
    assert is_slot_open(
        session=session,
        practice=clinic.practice,
        visit_type=clinic.visit_type,
        provider_id=clinic.provider.id,
        start=TUE_9,
        now=NOW,
    )
    held = factories.appointment(
        session,
        patient=factories.patient(session, practice=clinic.practice),
        provider=clinic.provider,
        visit_type=visit,
        start=TUE_9,
    )
    blocks = session.scalars(
        select(AppointmentBlock.block_start).where(AppointmentBlock.appointment_id == held.id)
    ).all()
    assert len(blocks) == 8  # 30 minutes plus the 10-minute buffer, in 5-minute blocks
    assert not is_slot_open(
        session=session,
        practice=clinic.practice,
        visit_type=clinic.visit_type,
        provider_id=clinic.provider.id,
        start=TUE_9,
        now=NOW,
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        factories.appointment(
            session,
            patient=factories.patient(session, practice=clinic.practice),
            provider=clinic.provider,
            visit_type=clinic.visit_type,
            start=TUE_9 + timedelta(minutes=35),  # inside the first one's buffer
        )


@pytest.mark.parametrize("status", [AppointmentStatus.CANCELLED, AppointmentStatus.FULFILLED])
def test_appointments_that_are_over_hold_no_time(
    session: Session, status: AppointmentStatus
) -> None:
    clinic = factories.clinic(session)
    row = factories.appointment(
        session,
        patient=factories.patient(session, practice=clinic.practice),
        provider=clinic.provider,
        visit_type=clinic.visit_type,
        start=TUE_9,
        status=status,
    )
    assert row.end_at - row.start_at == timedelta(minutes=clinic.visit_type.duration_minutes)
    held = session.scalars(
        select(AppointmentBlock).where(AppointmentBlock.appointment_id == row.id)
    ).all()
    assert held == []


def test_defaults_stay_apart_within_and_across_practices(session: Session) -> None:
    first, second = factories.practice(session), factories.practice(session)
    assert first.slug != second.slug
    for where in (first, second):
        doctors = [factories.provider(session, practice=where) for _ in range(4)]
        assert len({d.display_name for d in doctors}) == 4
        assert len({d.location_id for d in doctors}) == 1  # one office unless asked
        visits = [factories.visit_type(session, practice=where) for _ in range(2)]
        assert len({v.code for v in visits}) == 2
        patients = [factories.patient(session, practice=where) for _ in range(10)]
        assert len({(p.match_key, p.date_of_birth) for p in patients}) == 10
        assert len({p.phone for p in patients}) == 10
        assert all(p.phone and p.phone.startswith("+155555501") for p in patients)
    numbers = {factories.sms_number(session, practice=where).phone for where in (first, second)}
    assert len(numbers) == 2
    assert factories.patient(session, practice=first, phone=None).phone is None


def test_a_visit_type_can_be_limited_to_some_providers(session: Session) -> None:
    clinic = factories.clinic(session)
    other = factories.provider(session, practice=clinic.practice)
    limited = factories.visit_type(session, practice=clinic.practice, providers=[other])
    assert allowed_provider_ids(session=session, visit_type_id=limited.id) == {other.id}
    assert allowed_provider_ids(session=session, visit_type_id=clinic.visit_type.id) is None
