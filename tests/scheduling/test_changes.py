"""Rescheduling, cancelling, confirming, the cancellation notice and EHR busy time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.ehr.mirror import record_external_appointment
from frontdesk.language import Language
from frontdesk.models import Appointment, AppointmentBlock, Patient, Practice, Provider, VisitType
from frontdesk.scheduling.booking import (
    AppointmentNotChangeableError,
    AppointmentNotFoundError,
    SlotUnavailableError,
    book_appointment,
    cancel_appointment,
    cancellation_notice,
    confirm_appointment,
    reschedule_appointment,
    upcoming_appointments,
)
from frontdesk.scheduling.matching import match_provider
from frontdesk.scheduling.models import AppointmentStatus
from frontdesk.scheduling.slots import OpenSlot, is_slot_open
from tests.conftest import NOW

TUE_9 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # Tuesday 1 Dec, 9:00 in New York


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


def _book(
    session: Session,
    practice: Practice,
    start: datetime,
    *,
    patient: Patient | None = None,
    code: str = "sick-visit",
    surname: str = "patel",
) -> Appointment:
    return book_appointment(
        session=session,
        practice=practice,
        patient=patient or _patients(session, practice)[0],
        visit_type=_visit(session, practice, code),
        provider_id=_provider(session, practice, surname).id,
        start=start,
        now=NOW,
    )


def _blocks(session: Session, appointment: Appointment) -> list[tuple[int, datetime]]:
    return sorted(
        (pid, start)
        for pid, start in session.execute(
            select(AppointmentBlock.provider_id, AppointmentBlock.block_start).where(
                AppointmentBlock.appointment_id == appointment.id
            )
        ).all()
    )


def _key(provider: Provider, start: datetime) -> str:
    return OpenSlot(provider.id, "", 0, "", start, start).key


def _is_open(session: Session, practice: Practice, start: datetime, surname: str = "patel") -> bool:
    return is_slot_open(
        session=session,
        practice=practice,
        visit_type=_visit(session, practice, "sick-visit"),
        provider_id=_provider(session, practice, surname).id,
        start=start,
        now=NOW,
    )


def test_reschedule_moves_the_same_appointment_and_frees_the_old_time(
    session: Session, practice: Practice
) -> None:
    appointment = _book(session, practice, TUE_9)
    nguyen = _provider(session, practice, "nguyen")
    new_start = TUE_9 + timedelta(days=1, hours=2)
    moved = reschedule_appointment(
        session=session,
        appointment_id=appointment.id,
        patient_id=appointment.patient_id,  # type: ignore[arg-type]
        slot_key=_key(nguyen, new_start),
        now=NOW,
    )
    assert moved.id == appointment.id
    assert (moved.provider_id, moved.start_at) == (nguyen.id, new_start)
    assert moved.end_at - moved.start_at == timedelta(minutes=20)
    assert _blocks(session, moved) == [
        (nguyen.id, new_start + timedelta(minutes=5 * i)) for i in range(4)
    ]
    assert _is_open(session, practice, TUE_9)
    assert not _is_open(session, practice, new_start, "nguyen")


def test_reschedule_may_overlap_its_own_old_time(session: Session, practice: Practice) -> None:
    appointment = _book(session, practice, TUE_9)
    patel = _provider(session, practice, "patel")
    later = TUE_9 + timedelta(minutes=15)
    moved = reschedule_appointment(
        session=session,
        appointment_id=appointment.id,
        patient_id=appointment.patient_id,  # type: ignore[arg-type]
        slot_key=_key(patel, later),
        now=NOW,
    )
    assert moved.start_at == later
    assert _blocks(session, moved) == [
        (patel.id, later + timedelta(minutes=5 * i)) for i in range(4)
    ]
    assert _is_open(session, practice, TUE_9 - timedelta(minutes=15))


def test_reschedule_to_a_taken_slot_leaves_the_old_one_untouched(
    session: Session, practice: Practice
) -> None:
    first, second = _patients(session, practice)[:2]
    mine = _book(session, practice, TUE_9, patient=first)
    taken = _book(session, practice, TUE_9 + timedelta(hours=2), patient=second)
    before = _blocks(session, mine)
    with pytest.raises(SlotUnavailableError) as refused:
        reschedule_appointment(
            session=session,
            appointment_id=mine.id,
            patient_id=first.id,
            slot_key=_key(_provider(session, practice, "patel"), taken.start_at),
            now=NOW,
        )
    assert refused.value.alternatives
    assert taken.start_at not in {s.start for s in refused.value.alternatives}
    session.refresh(mine)
    assert mine.start_at == TUE_9 and mine.status == AppointmentStatus.BOOKED
    assert _blocks(session, mine) == before


def test_reschedule_that_loses_the_race_in_the_database_keeps_the_old_slot(
    session: Session, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python check said "open"; the unique constraint still refuses, atomically."""
    first, second = _patients(session, practice)[:2]
    mine = _book(session, practice, TUE_9, patient=first)
    target = TUE_9 + timedelta(hours=4)  # 13:00, after lunch
    _book(session, practice, target, patient=second)
    before = _blocks(session, mine)
    monkeypatch.setattr("frontdesk.scheduling.booking.is_slot_open", lambda **_: True)
    with pytest.raises(SlotUnavailableError) as refused:
        reschedule_appointment(
            session=session,
            appointment_id=mine.id,
            patient_id=first.id,
            slot_key=_key(_provider(session, practice, "patel"), target),
            now=NOW,
        )
    assert "just taken" in str(refused.value)
    session.refresh(mine)
    assert mine.start_at == TUE_9
    assert _blocks(session, mine) == before


def test_reschedule_refuses_what_cannot_change(session: Session, practice: Practice) -> None:
    first, second = _patients(session, practice)[:2]
    appointment = _book(session, practice, TUE_9, patient=first)
    key = _key(_provider(session, practice, "patel"), TUE_9 + timedelta(days=1))
    with pytest.raises(AppointmentNotFoundError):
        reschedule_appointment(
            session=session,
            appointment_id=appointment.id,
            patient_id=second.id,
            slot_key=key,
            now=NOW,
        )
    with pytest.raises(AppointmentNotFoundError):
        reschedule_appointment(
            session=session, appointment_id=999_999, patient_id=first.id, slot_key=key, now=NOW
        )
    with pytest.raises(AppointmentNotChangeableError) as too_late:
        reschedule_appointment(
            session=session,
            appointment_id=appointment.id,
            patient_id=first.id,
            slot_key=key,
            now=TUE_9 - timedelta(minutes=30),
        )
    assert too_late.value.reason == "too_late"
    with pytest.raises(SlotUnavailableError):
        reschedule_appointment(
            session=session,
            appointment_id=appointment.id,
            patient_id=first.id,
            slot_key="🙂",
            now=NOW,
        )
    cancel_appointment(session=session, appointment_id=appointment.id, patient_id=first.id, now=NOW)
    with pytest.raises(AppointmentNotChangeableError) as cancelled:
        reschedule_appointment(
            session=session,
            appointment_id=appointment.id,
            patient_id=first.id,
            slot_key=key,
            now=NOW,
        )
    assert cancelled.value.reason == "cancelled"


def test_cancel_frees_the_time_and_flags_late_cancellations(
    session: Session, practice: Practice
) -> None:
    early = _book(session, practice, TUE_9)
    outcome = cancel_appointment(
        session=session,
        appointment_id=early.id,
        patient_id=early.patient_id,
        now=NOW,
        reason="feeling better " * 100,
    )
    assert outcome.late is False
    assert outcome.appointment.status == AppointmentStatus.CANCELLED
    assert outcome.appointment.cancelled_at == NOW
    assert len(outcome.appointment.cancel_reason or "") == 500
    assert _blocks(session, early) == []
    assert _is_open(session, practice, TUE_9)
    with pytest.raises(AppointmentNotChangeableError):
        cancel_appointment(
            session=session, appointment_id=early.id, patient_id=early.patient_id, now=NOW
        )

    late = _book(session, practice, TUE_9 + timedelta(hours=2))
    outcome = cancel_appointment(
        session=session,
        appointment_id=late.id,
        patient_id=None,  # staff
        now=late.start_at - timedelta(hours=23),
        by="staff",
    )
    assert outcome.late is True and outcome.appointment.cancelled_by == "staff"
    assert outcome.appointment.late_cancel is True


def test_past_appointments_cannot_be_cancelled_or_confirmed(
    session: Session, practice: Practice
) -> None:
    appointment = _book(session, practice, TUE_9)
    after = TUE_9 + timedelta(hours=1)
    for change in (cancel_appointment, confirm_appointment):
        with pytest.raises(AppointmentNotChangeableError) as refused:
            change(
                session=session,
                appointment_id=appointment.id,
                patient_id=appointment.patient_id,  # type: ignore[arg-type]
                now=after,
            )
        assert refused.value.reason == "past"


def test_confirmed_visits_still_hold_their_time(session: Session, practice: Practice) -> None:
    appointment = _book(session, practice, TUE_9)
    confirmed = confirm_appointment(
        session=session,
        appointment_id=appointment.id,
        patient_id=appointment.patient_id,  # type: ignore[arg-type]
        now=NOW,
    )
    assert confirmed.status == AppointmentStatus.CONFIRMED and confirmed.confirmed_at == NOW
    assert not _is_open(session, practice, TUE_9)
    assert upcoming_appointments(
        session=session,
        patient_id=appointment.patient_id,  # type: ignore[arg-type]
        now=NOW,
    ) == [appointment]
    moved = reschedule_appointment(
        session=session,
        appointment_id=appointment.id,
        patient_id=appointment.patient_id,  # type: ignore[arg-type]
        slot_key=_key(_provider(session, practice, "patel"), TUE_9 + timedelta(days=1)),
        now=NOW,
    )
    assert moved.status == AppointmentStatus.BOOKED and moved.confirmed_at is None


def test_cancellation_notice_tells_the_policy_before_the_patient_confirms(
    session: Session, practice: Practice
) -> None:
    appointment = _book(session, practice, TUE_9)
    early = cancellation_notice(session=session, appointment=appointment, now=NOW)
    assert "free until Mon, Nov 30 at 9:00 AM" in early
    assert "$25" in early
    late = cancellation_notice(
        session=session, appointment=appointment, now=TUE_9 - timedelta(hours=3)
    )
    assert "less than 24 hours away" in late and "$25" in late
    practice.late_cancel_hours = 0
    assert (
        cancellation_notice(session=session, appointment=appointment, now=NOW)
        == practice.cancellation_policy
    )


def test_cancellation_notice_in_spanish_names_the_deadline_in_spanish(
    session: Session, practice: Practice
) -> None:
    appointment = _book(session, practice, TUE_9)
    early = cancellation_notice(
        session=session, appointment=appointment, now=NOW, language=Language.ES
    )
    assert "sin costo hasta el lunes 30 de noviembre a las 9:00 a. m." in early
    assert "$25" in early
    late = cancellation_notice(
        session=session,
        appointment=appointment,
        now=TUE_9 - timedelta(hours=3),
        language=Language.ES,
    )
    assert late.startswith("Faltan menos de 24 horas") and "cancelación tardía" in late
    # The fee and the policy are the practice's own words, as its file translates them.
    assert "(puede aplicarse un cargo de $25 por cancelación tardía)" in early
    assert "fee" not in early and "fee" not in late
    practice.late_cancel_hours = 0
    policy = cancellation_notice(
        session=session, appointment=appointment, now=NOW, language=Language.ES
    )
    assert policy.startswith("Por favor cancele o cambie su cita con al menos 24 horas")


def test_untranslated_practice_texts_are_quoted_as_the_practice_wrote_them(
    session: Session, practice: Practice
) -> None:
    appointment = _book(session, practice, TUE_9)
    practice.translations = None  # a practice file with no `translations`
    early = cancellation_notice(
        session=session, appointment=appointment, now=NOW, language=Language.ES
    )
    assert "sin costo hasta el lunes" in early
    assert "(a $25 late-cancellation fee may apply)" in early


def test_ehr_busy_time_is_never_offered_and_updates_in_place(
    session: Session, practice: Practice
) -> None:
    patel = _provider(session, practice, "patel")
    start = TUE_9 + timedelta(hours=1)
    held = record_external_appointment(
        session=session,
        practice_id=practice.id,
        provider_id=patel.id,
        start=start,
        end=start + timedelta(minutes=30),
        external_id="ehr-123",
        status="booked",
        now=NOW,
    )
    assert held is not None and held.patient_id is None and held.source == "ehr"
    assert not _is_open(session, practice, start)
    again = record_external_appointment(
        session=session,
        practice_id=practice.id,
        provider_id=patel.id,
        start=start + timedelta(hours=1),
        end=start + timedelta(hours=1, minutes=30),
        external_id="ehr-123",
        status="booked",
        now=NOW,
    )
    assert again is held
    assert session.scalars(select(Appointment).where(Appointment.source == "ehr")).all() == [held]
    assert _is_open(session, practice, start)
    assert not _is_open(session, practice, start + timedelta(hours=1))
    gone = record_external_appointment(
        session=session,
        practice_id=practice.id,
        provider_id=patel.id,
        start=start,
        end=start + timedelta(minutes=30),
        external_id="ehr-123",
        status="cancelled",
        now=NOW,
    )
    assert gone is held and held.status == AppointmentStatus.CANCELLED
    assert _is_open(session, practice, start + timedelta(hours=1))
    assert (
        record_external_appointment(
            session=session,
            practice_id=practice.id,
            provider_id=patel.id,
            start=start,
            end=start + timedelta(minutes=30),
            external_id="never-seen",
            status="cancelled",
            now=NOW,
        )
        is None
    )
    other = record_external_appointment(
        session=session,
        practice_id=practice.id,
        provider_id=patel.id,
        start=start,
        end=start + timedelta(minutes=30),
        external_id="ehr-456",
        status="booked",
        now=NOW,
    )
    assert other is not None
    with pytest.raises(AppointmentNotChangeableError) as refused:
        cancel_appointment(session=session, appointment_id=other.id, patient_id=None, now=NOW)
    assert refused.value.reason == "not_ours"  # the EHR owns it; cancel it there


def test_ehr_time_that_overlaps_our_booking_is_held_where_free(
    session: Session, practice: Practice, caplog: pytest.LogCaptureFixture
) -> None:
    ours = _book(session, practice, TUE_9)
    patel = _provider(session, practice, "patel")
    with caplog.at_level(logging.WARNING):
        theirs = record_external_appointment(
            session=session,
            practice_id=practice.id,
            provider_id=patel.id,
            start=TUE_9 + timedelta(minutes=10),
            end=TUE_9 + timedelta(minutes=40),
            external_id="ehr-overlap",
            status="booked",
            now=NOW,
        )
    assert theirs is not None
    assert len(_blocks(session, ours)) == 4
    assert [b for _, b in _blocks(session, theirs)] == [
        TUE_9 + timedelta(minutes=m) for m in (20, 25, 30, 35)
    ]
    assert "overlaps time already booked" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"status": "maybe"}, "status"),
        ({"external_id": ""}, "external_id"),
        ({"end": TUE_9 - timedelta(hours=1)}, "order"),
    ],
)
def test_ehr_input_is_checked(
    session: Session, practice: Practice, kwargs: dict[str, object], problem: str
) -> None:
    arguments: dict[str, object] = {
        "session": session,
        "practice_id": practice.id,
        "provider_id": _provider(session, practice, "patel").id,
        "start": TUE_9,
        "end": TUE_9 + timedelta(minutes=30),
        "external_id": "x",
        "status": "booked",
        "now": NOW,
    }
    with pytest.raises(ValueError, match=problem):
        record_external_appointment(**{**arguments, **kwargs})  # type: ignore[arg-type]
