"""Open slots and booking against a migrated database (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import itertools
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
    WeeklyHours,
)
from frontdesk.scheduling.blocks import grid_blocks
from frontdesk.scheduling.booking import PatientBusyError, SlotUnavailableError, book_appointment
from frontdesk.scheduling.matching import match_provider, match_visit_type
from frontdesk.scheduling.slots import OpenSlot, find_open_slots, is_slot_open, parse_slot_key
from frontdesk.scheduling.timeprefs import TimePreference, parse_time_preference
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


def test_next_tuesday_after_three_offers_three_spread_out_slots(
    session: Session, practice: Practice
) -> None:
    preference = parse_time_preference("next tue after 3", now=NOW, tz=NY)
    slots = find_open_slots(
        session=session,
        practice=practice,
        visit_type=_visit(session, practice, "sick-visit"),
        preference=preference,
        now=NOW,
    )
    assert len(slots) == 3
    local = [s.start.astimezone(NY) for s in slots]
    assert {d.date() for d in local} == {date(2026, 12, 1)}
    assert all(d.time() >= time(15, 0) for d in local)
    assert local == sorted(local)
    gaps = [b - a for a, b in itertools.pairwise(local)]
    assert all(gap >= timedelta(minutes=60) for gap in gaps)
    for slot in slots:  # every offer ends within the provider's hours
        assert slot.end - slot.start == timedelta(minutes=20)


def test_lead_time_and_past_are_never_offered(session: Session, practice: Practice) -> None:
    # Tuesday 1 Dec, 13:10 local: the practice needs 120 minutes' notice.
    now = datetime(2026, 12, 1, 18, 10, tzinfo=UTC)
    preference = TimePreference(days=(date(2026, 12, 1),))
    slots = find_open_slots(
        session=session,
        practice=practice,
        visit_type=_visit(session, practice, "sick-visit"),
        preference=preference,
        now=now,
        limit=10,
    )
    assert slots
    assert all(s.start >= now + timedelta(minutes=120) for s in slots)


def test_exact_time_prefers_the_closest_slots(session: Session, practice: Practice) -> None:
    preference = TimePreference(days=(date(2026, 12, 2),), exact=time(11, 0))
    slots = find_open_slots(
        session=session,
        practice=practice,
        visit_type=_visit(session, practice, "sick visit"),
        preference=preference,
        now=NOW,
    )
    assert time(11, 0) in {s.start.astimezone(NY).time() for s in slots}


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


def test_hours_follow_daylight_saving(session: Session, practice: Practice) -> None:
    """9:00 local is 13:00 UTC before the November change and 14:00 UTC after it."""
    now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    visit = _visit(session, practice, "sick-visit")
    patel = _provider(session, practice, "patel")
    for day, utc_hour in ((date(2026, 10, 26), 12), (date(2026, 11, 2), 13)):
        slots = find_open_slots(
            session=session,
            practice=practice,
            visit_type=visit,
            preference=TimePreference(days=(day,), exact=time(8, 30)),
            now=now,
            provider_id=patel.id,
            limit=1,
        )
        assert slots[0].start.astimezone(NY).time() == time(8, 30)
        assert slots[0].start.hour == utc_hour


def test_slot_keys_round_trip_and_reject_garbage() -> None:
    start = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    slot = OpenSlot(1, "Dr. A", 1, "Main", start, start + timedelta(minutes=20))
    assert parse_slot_key(slot.key) == (1, start)
    for bad in ("", "x@y", "1@2026", "@20261201T2000Z", "1@20261301T2000Z"):
        with pytest.raises(ValueError):
            parse_slot_key(bad)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("annual-physical", "annual-physical"),
        ("I need a physical", "annual-physical"),
        ("SICK VISIT", "sick-visit"),
        ("i have a fever", "sick-visit"),
        ("new patient", "new-patient"),
        ("a haircut", None),
        ("a question about my bill", None),
        ("it's about a skill test", None),
        ("", None),
    ],
)
def test_visit_types_match_what_patients_say(
    session: Session, practice: Practice, text: str, code: str | None
) -> None:
    found = match_visit_type(session=session, practice_id=practice.id, text=text)
    assert (found.code if found else None) == code


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
    session.add(
        WeeklyHours(
            practice_id=practice.id,
            provider_id=patel.id,
            weekday=6,
            start_time=time(9, 7),
            end_time=time(11, 0),
        )
    )
    session.flush()
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
