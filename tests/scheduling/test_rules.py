"""Exceptions, buffers and per-visit-type booking rules, against a migrated database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.models import (
    AppointmentBlock,
    Patient,
    Practice,
    Provider,
    VisitType,
)
from frontdesk.scheduling.booking import (
    SlotUnavailableError,
    VisitNotAllowedError,
    book_appointment,
)
from frontdesk.scheduling.matching import match_provider
from frontdesk.scheduling.models import AppointmentStatus
from frontdesk.scheduling.rules import booking_rules, eligible_visit_types
from frontdesk.scheduling.slots import OpenSlot, find_open_slots, is_slot_open
from frontdesk.scheduling.timeprefs import TimePreference
from tests import factories
from tests.conftest import NOW

NY = ZoneInfo("America/New_York")


def _visit(session: Session, practice: Practice, code: str) -> VisitType:
    found = session.scalar(
        select(VisitType).where(VisitType.practice_id == practice.id, VisitType.code == code)
    )
    assert found is not None
    return found


def _provider(session: Session, practice: Practice, surname: str) -> Provider:
    found = match_provider(session=session, practice_id=practice.id, text=surname)
    assert found is not None
    return found


def _patients(session: Session, practice: Practice) -> list[Patient]:
    return list(
        session.scalars(
            select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
        )
    )


def _slots(
    session: Session,
    practice: Practice,
    code: str,
    day: date,
    *,
    provider: Provider | None = None,
    now: datetime = NOW,
    limit: int = 50,
) -> list[OpenSlot]:
    return find_open_slots(
        session=session,
        practice=practice,
        visit_type=_visit(session, practice, code),
        preference=TimePreference(days=(day,)),
        now=now,
        provider_id=provider.id if provider else None,
        limit=limit,
    )


def test_a_practice_holiday_closes_every_provider(session: Session, practice: Practice) -> None:
    assert _slots(session, practice, "sick-visit", date(2026, 12, 24))  # Thursday: open
    assert _slots(session, practice, "sick-visit", date(2026, 12, 25)) == []  # Christmas


def test_time_off_closes_only_that_provider(session: Session, practice: Practice) -> None:
    day = date(2026, 12, 9)  # Dr. Nguyen's day off
    slots = _slots(session, practice, "sick-visit", day)
    assert slots
    assert {s.provider_id for s in slots} == {_provider(session, practice, "patel").id}
    assert (
        _slots(
            session, practice, "sick-visit", day, provider=_provider(session, practice, "nguyen")
        )
        == []
    )


def test_part_day_exception_removes_only_overlapping_slots(
    session: Session, practice: Practice
) -> None:
    patel = _provider(session, practice, "patel")
    day = date(2026, 12, 2)
    start = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 10:00-11:00 local
    factories.schedule_exception(
        session,
        practice=practice,
        provider=patel,
        start=start,
        end=start + timedelta(hours=1),
        reason="Meeting",
    )
    local = [
        s.start.astimezone(NY).time()
        for s in _slots(session, practice, "sick-visit", day, provider=patel)
    ]
    assert time(9, 30) in local  # ends 9:50
    assert time(9, 45) not in local  # would run into the meeting
    assert not [t for t in local if time(10, 0) <= t < time(11, 0)]
    assert time(11, 0) in local


def test_new_patient_visits_only_with_the_allowed_provider(
    session: Session, practice: Practice
) -> None:
    day = date(2026, 12, 2)
    patel = _provider(session, practice, "patel")
    slots = _slots(session, practice, "new-patient", day)
    assert slots
    assert {s.provider_id for s in slots} == {patel.id}
    nguyen = _provider(session, practice, "nguyen")
    assert _slots(session, practice, "new-patient", day, provider=nguyen) == []
    with pytest.raises(SlotUnavailableError):
        book_appointment(
            session=session,
            practice=practice,
            patient=_patients(session, practice)[0],
            visit_type=_visit(session, practice, "new-patient"),
            provider_id=nguyen.id,
            start=datetime(2026, 12, 2, 15, 0, tzinfo=UTC),
            now=NOW,
        )


def test_established_patients_cannot_book_a_new_patient_visit(
    session: Session, practice: Practice
) -> None:
    seen, new = _patients(session, practice)[:2]
    patel = _provider(session, practice, "patel")
    factories.appointment(
        session,
        patient=seen,
        provider=patel,
        visit_type=_visit(session, practice, "sick-visit"),
        start=NOW - timedelta(days=30),
        status=AppointmentStatus.FULFILLED,
    )
    codes = {
        v.code
        for v in eligible_visit_types(
            session=session, practice_id=practice.id, patient_id=seen.id, now=NOW
        )
    }
    assert codes == {"annual-physical", "sick-visit"}
    assert "new-patient" in {
        v.code
        for v in eligible_visit_types(
            session=session, practice_id=practice.id, patient_id=new.id, now=NOW
        )
    }
    start = _slots(session, practice, "new-patient", date(2026, 12, 2))[0].start
    with pytest.raises(VisitNotAllowedError):
        book_appointment(
            session=session,
            practice=practice,
            patient=seen,
            visit_type=_visit(session, practice, "new-patient"),
            provider_id=patel.id,
            start=start,
            now=NOW,
        )
    booked = book_appointment(
        session=session,
        practice=practice,
        patient=new,
        visit_type=_visit(session, practice, "new-patient"),
        provider_id=patel.id,
        start=start,
        now=NOW,
    )
    assert booked.patient_id == new.id


def test_visit_type_lead_time_overrides_the_practice(session: Session, practice: Practice) -> None:
    now = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # Monday 9:00 local
    today = date(2026, 11, 30)
    sick = _slots(session, practice, "sick-visit", today, now=now)
    assert sick and min(s.start for s in sick) >= now + timedelta(hours=2)
    assert _slots(session, practice, "new-patient", today, now=now) == []  # needs 24 hours
    tomorrow = _slots(session, practice, "new-patient", date(2026, 12, 1), now=now)
    assert tomorrow and min(s.start for s in tomorrow) >= now + timedelta(hours=24)


def test_visit_type_horizon_overrides_the_practice(session: Session, practice: Practice) -> None:
    sick = _visit(session, practice, "sick-visit")
    far = date(2026, 12, 15)
    assert _slots(session, practice, "sick-visit", far)
    sick.max_horizon_days = 7
    session.flush()
    assert _slots(session, practice, "sick-visit", far) == []
    assert _slots(session, practice, "sick-visit", date(2026, 12, 2))


def test_buffer_after_a_visit_keeps_the_next_one_away(session: Session, practice: Practice) -> None:
    patel = _provider(session, practice, "patel")
    patient = _patients(session, practice)[0]
    start = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # 9:00 local, physical until 9:45
    book_appointment(
        session=session,
        practice=practice,
        patient=patient,
        visit_type=_visit(session, practice, "annual-physical"),
        provider_id=patel.id,
        start=start,
        now=NOW,
    )
    sick = _visit(session, practice, "sick-visit")

    def is_open(minutes: int) -> bool:
        return is_slot_open(
            session=session,
            practice=practice,
            visit_type=sick,
            provider_id=patel.id,
            start=start + timedelta(minutes=minutes),
            now=NOW,
        )

    assert not is_open(45)  # inside the 10-minute turnover
    assert is_open(60)
    # A sick visit ending right when the physical starts is fine (no buffer before).
    assert is_open(-30)


def test_database_refuses_a_block_inside_a_buffer(session: Session, practice: Practice) -> None:
    patel = _provider(session, practice, "patel")
    appointment = book_appointment(
        session=session,
        practice=practice,
        patient=_patients(session, practice)[0],
        visit_type=_visit(session, practice, "annual-physical"),
        provider_id=patel.id,
        start=datetime(2026, 12, 2, 14, 0, tzinfo=UTC),
        now=NOW,
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            AppointmentBlock(
                practice_id=practice.id,
                provider_id=patel.id,
                block_start=datetime(2026, 12, 2, 14, 50, tzinfo=UTC),  # buffer 9:45-9:55
                appointment_id=appointment.id,
            )
        )
        session.flush()


def test_practice_default_buffers_apply_to_visit_types_without_their_own(
    session: Session, practice: Practice
) -> None:
    practice.default_buffer_before_minutes = 5
    session.flush()
    appointment = book_appointment(
        session=session,
        practice=practice,
        patient=_patients(session, practice)[0],
        visit_type=_visit(session, practice, "sick-visit"),
        provider_id=_provider(session, practice, "patel").id,
        start=datetime(2026, 12, 2, 15, 0, tzinfo=UTC),
        now=NOW,
    )
    starts = sorted(
        session.scalars(
            select(AppointmentBlock.block_start).where(
                AppointmentBlock.appointment_id == appointment.id
            )
        )
    )
    assert starts[0] == datetime(2026, 12, 2, 14, 55, tzinfo=UTC)
    assert len(starts) == 5  # 5 minutes before + 20 minutes


def test_no_slot_is_ever_in_the_past_or_beyond_the_horizon(
    session: Session, practice: Practice
) -> None:
    now = datetime(2026, 12, 1, 19, 7, tzinfo=UTC)  # Tuesday 14:07 local
    days = tuple(date(2026, 11, 25) + timedelta(days=i) for i in range(120))
    for code in ("sick-visit", "annual-physical", "new-patient"):
        visit = _visit(session, practice, code)
        rules = booking_rules(practice, visit)
        slots = find_open_slots(
            session=session,
            practice=practice,
            visit_type=visit,
            preference=TimePreference(days=days),
            now=now,
            limit=400,
        )
        assert slots
        assert all(now + rules.min_lead <= s.start <= now + rules.horizon for s in slots)
