"""The outbox is written with every appointment change, in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from frontdesk.ehr import (
    NotDeadLetterError,
    OutboxStatus,
    dead_letters,
    retry_dead_letter,
    sync_state_for,
)
from frontdesk.ehr.mirror import record_external_appointment
from frontdesk.ehr.worker import RetryPolicy
from frontdesk.models import Practice
from frontdesk.scheduling.booking import cancel_appointment, reschedule_appointment
from tests.conftest import NOW
from tests.ehr.helpers import TUESDAY_1030, book, outbox_row, patient, provider


def test_a_booking_queues_its_ehr_write_in_the_same_transaction(
    session: Session, practice: Practice
) -> None:
    appointment = book(session, practice)
    row = outbox_row(session, appointment.id)
    assert row is not None
    assert (row.status, row.operation, row.version, row.attempts) == (
        OutboxStatus.PENDING,
        "create",
        1,
        0,
    )
    assert row.practice_id == practice.id
    assert (
        sync_state_for(session=session, appointment_ids=[appointment.id])[appointment.id].status
        is OutboxStatus.PENDING
    )


def test_a_rolled_back_booking_leaves_no_outbox_row(session: Session, practice: Practice) -> None:
    savepoint = session.begin_nested()
    appointment = book(session, practice)
    appointment_id = appointment.id
    savepoint.rollback()
    assert outbox_row(session, appointment_id) is None


def test_changes_before_sync_coalesce_into_one_newer_row(
    session: Session, practice: Practice
) -> None:
    appointment = book(session, practice)
    slot_key = f"{provider(session, practice).id}@{TUESDAY_1030:%Y%m%dT%H%MZ}"
    reschedule_appointment(
        session=session,
        appointment_id=appointment.id,
        patient_id=patient(session, practice).id,
        slot_key=slot_key,
        now=NOW,
    )
    row = outbox_row(session, appointment.id)
    assert row is not None
    session.refresh(row)
    assert (row.status, row.operation, row.version) == (OutboxStatus.PENDING, "reschedule", 2)
    cancel_appointment(
        session=session, appointment_id=appointment.id, patient_id=None, now=NOW, by="staff"
    )
    session.refresh(row)
    assert (row.status, row.operation, row.version) == (OutboxStatus.PENDING, "cancel", 3)


def test_busy_time_pulled_from_the_ehr_is_not_written_back(
    session: Session, practice: Practice
) -> None:
    pulled = record_external_appointment(
        session=session,
        practice_id=practice.id,
        provider_id=provider(session, practice).id,
        start=TUESDAY_1030,
        end=TUESDAY_1030.replace(minute=45),
        external_id="ehr-own-1",
        status="booked",
        now=NOW,
    )
    assert pulled is not None
    assert outbox_row(session, pulled.id) is None
    assert sync_state_for(session=session, appointment_ids=[pulled.id]) == {}


def test_a_dead_letter_is_listed_and_can_be_retried(session: Session, practice: Practice) -> None:
    appointment = book(session, practice)
    row = outbox_row(session, appointment.id)
    assert row is not None
    with pytest.raises(NotDeadLetterError):
        retry_dead_letter(session=session, entry_id=row.id, now=NOW)
    row.status, row.attempts, row.last_error = OutboxStatus.DEAD, 10, "400 invariant"
    session.flush()
    assert [entry.id for entry in dead_letters(session=session, practice_id=practice.id)] == [
        row.id
    ]
    retried = retry_dead_letter(session=session, entry_id=row.id, now=NOW)
    assert (retried.status, retried.attempts, retried.next_attempt_at) == (
        OutboxStatus.PENDING,
        0,
        NOW,
    )
    assert dead_letters(session=session, practice_id=practice.id) == []


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_seconds=5, cap_seconds=60, jitter=0)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == [
        5,
        10,
        20,
        40,
        60,
        60,
    ]
