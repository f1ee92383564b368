"""Write-back against Medplum's real FHIR engine: create, retry, reschedule, cancel, failures."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import session_scope
from frontdesk.ehr import OutboxStatus, dead_letters, sync_state_for
from frontdesk.ehr.fhir import FhirEhr
from frontdesk.ehr.interface import PractitionerRecord
from frontdesk.ehr.models import EhrOutboxEntry
from frontdesk.ehr.worker import CLAIM_LEASE, RetryPolicy, drain_once, identifier_system
from frontdesk.models import Appointment
from frontdesk.scheduling.booking import cancel_appointment, reschedule_appointment
from tests.conftest import NOW
from tests.ehr.conftest import FhirServer, ValidatingTransport
from tests.ehr.helpers import (
    TUESDAY_9,
    TUESDAY_1030,
    book,
    clinic,
    outbox_row,
    patient,
    provider,
    visit,
)

POLICY = RetryPolicy(max_attempts=3, base_seconds=5, cap_seconds=60, jitter=0)


def _book(
    sessions: sessionmaker[Session], *, start: datetime = TUESDAY_9, index: int = 0
) -> tuple[int, int, str]:
    """Book through scheduling and commit; returns (appointment id, practice id, slug)."""
    with session_scope(sessions) as session:
        practice = clinic(session)
        appointment = book(session, practice, start=start, index=index)
        return appointment.id, practice.id, practice.slug


def _drain(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, now: datetime = NOW
) -> dict[OutboxStatus, int]:
    return drain_once(sessions=sessions, ehr=ehr, identifier_prefix=prefix, now=now, policy=POLICY)


def _ours(
    fhir_server: FhirServer, prefix: str, slug: str, appointment_id: int
) -> list[dict[str, Any]]:
    system = identifier_system(prefix=prefix, practice_slug=slug)
    return fhir_server.search("Appointment", identifier=f"{system}|appointment-{appointment_id}")


def _row(sessions: sessionmaker[Session], appointment_id: int) -> EhrOutboxEntry:
    with session_scope(sessions) as session:
        row = outbox_row(session, appointment_id)
        assert row is not None
        return row


def test_a_booking_appears_in_the_ehr_with_our_identifier(
    sessions: sessionmaker[Session],
    ehr: FhirEhr,
    prefix: str,
    fhir_server: FhirServer,
    transport: ValidatingTransport,
) -> None:
    appointment_id, _, slug = _book(sessions)
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DONE: 1}

    [stored] = _ours(fhir_server, prefix, slug, appointment_id)
    assert stored["status"] == "booked"
    assert stored["start"] == "2026-12-01T14:00:00Z"
    actors = {p["actor"]["reference"].split("/")[0]: p["status"] for p in stored["participant"]}
    assert actors == {"Patient": "accepted", "Practitioner": "accepted"}
    system = identifier_system(prefix=prefix, practice_slug=slug)
    practitioners = fhir_server.search("Practitioner", identifier=f"{system}|provider-1")
    assert len(practitioners) <= 1  # created on demand, never twice
    row = _row(sessions, appointment_id)
    assert (row.status, row.remote_id, row.attempts) == (OutboxStatus.DONE, stored["id"], 1)
    # Only what the EHR needs left: no email, no internal notes, and every body was R4B-valid.
    patients = [b for b in transport.bodies if b["resourceType"] == "Patient"]
    for body in patients:
        assert set(body) <= {"resourceType", "identifier", "name", "birthDate", "telecom"}


def test_a_retry_after_a_crash_still_leaves_one_appointment(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    appointment_id, _, slug = _book(sessions)
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DONE: 1}
    # The worker died after the EHR answered but before recording it: the row is still in
    # flight, and once its lease runs out another worker sends the same write again.
    with session_scope(sessions) as session:
        row = outbox_row(session, appointment_id)
        assert row is not None
        row.status, row.claimed_at = OutboxStatus.IN_FLIGHT, NOW
    assert _drain(sessions, ehr, prefix, NOW + timedelta(minutes=1)) == {}  # lease still held
    assert _drain(sessions, ehr, prefix, NOW + CLAIM_LEASE + timedelta(seconds=1)) == {
        OutboxStatus.DONE: 1
    }
    assert len(_ours(fhir_server, prefix, slug, appointment_id)) == 1
    # And a fresh client (no cached practitioner) sending it again changes nothing either.
    fresh = FhirEhr(fhir_server.base_url)
    try:
        with session_scope(sessions) as session:
            row = outbox_row(session, appointment_id)
            assert row is not None
            row.status = OutboxStatus.PENDING
        assert _drain(sessions, fresh, prefix) == {OutboxStatus.DONE: 1}
    finally:
        fresh.close()
    assert len(_ours(fhir_server, prefix, slug, appointment_id)) == 1
    system = identifier_system(prefix=prefix, practice_slug=slug)
    with session_scope(sessions) as session:
        patient_id = patient(session, clinic(session)).id
    assert len(fhir_server.search("Patient", identifier=f"{system}|patient-{patient_id}")) <= 1


def test_reschedule_and_cancel_update_the_same_ehr_appointment(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    appointment_id, _, slug = _book(sessions)
    _drain(sessions, ehr, prefix)
    [created] = _ours(fhir_server, prefix, slug, appointment_id)

    with session_scope(sessions) as session:
        practice = clinic(session)
        reschedule_appointment(
            session=session,
            appointment_id=appointment_id,
            patient_id=patient(session, practice).id,
            slot_key=f"{provider(session, practice).id}@{TUESDAY_1030:%Y%m%dT%H%MZ}",
            now=NOW,
        )
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DONE: 1}
    [moved] = _ours(fhir_server, prefix, slug, appointment_id)
    assert moved["id"] == created["id"]
    assert (moved["start"], moved["end"]) == ("2026-12-01T15:30:00Z", "2026-12-01T15:50:00Z")

    with session_scope(sessions) as session:
        cancel_appointment(
            session=session, appointment_id=appointment_id, patient_id=None, now=NOW, by="staff"
        )
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DONE: 1}
    [cancelled] = _ours(fhir_server, prefix, slug, appointment_id)
    assert cancelled["id"] == created["id"]
    assert cancelled["status"] == "cancelled"
    patient_part = next(
        p for p in cancelled["participant"] if "Patient/" in p["actor"]["reference"]
    )
    assert patient_part["status"] == "declined"


def test_a_change_while_in_flight_is_sent_next(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    appointment_id, _, slug = _book(sessions)
    # The worker claimed the row (version 1) when the patient cancelled (version 2).
    with session_scope(sessions) as session:
        row = outbox_row(session, appointment_id)
        assert row is not None
        row.status, row.claimed_at = OutboxStatus.IN_FLIGHT, NOW
    with session_scope(sessions) as session:
        cancel_appointment(session=session, appointment_id=appointment_id, patient_id=None, now=NOW)
    row = _row(sessions, appointment_id)
    assert (row.status, row.version) == (OutboxStatus.IN_FLIGHT, 2)
    assert _drain(sessions, ehr, prefix, NOW + CLAIM_LEASE + timedelta(seconds=1)) == {
        OutboxStatus.DONE: 1
    }
    [stored] = _ours(fhir_server, prefix, slug, appointment_id)
    assert stored["status"] == "cancelled"


def test_an_invalid_resource_refused_by_the_ehr_is_dead_lettered(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    # A visit type named with blanks only: R4B's models let it through, Medplum's validator
    # answers 400 with an OperationOutcome.
    with session_scope(sessions) as session:
        practice = clinic(session)
        visit_type = visit(session, practice)
        visit_type.name = "   "
    appointment_id, practice_id, slug = _book(sessions)
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DEAD: 1}

    row = _row(sessions, appointment_id)
    assert row.attempts == 1  # permanent: not retried
    assert row.last_error == "400 structure"  # status and issue code only, never resource text
    with session_scope(sessions) as session:
        assert [
            e.appointment_id for e in dead_letters(session=session, practice_id=practice_id)
        ] == [appointment_id]
        state = sync_state_for(session=session, appointment_ids=[appointment_id])
        assert state[appointment_id].status is OutboxStatus.DEAD
    assert _ours(fhir_server, prefix, slug, appointment_id) == []
    # Later drains leave it alone: dead letters wait for staff.
    assert _drain(sessions, ehr, prefix, NOW + timedelta(days=1)) == {}


def test_a_resource_our_own_validation_refuses_never_leaves(
    sessions: sessionmaker[Session],
    ehr: FhirEhr,
    prefix: str,
    fhir_server: FhirServer,
    transport: ValidatingTransport,
) -> None:
    with session_scope(sessions) as session:
        practice = clinic(session)
        patient(session, practice, 1).last_name = ""  # FHIR strings may not be empty
    appointment_id, _, _ = _book(sessions, start=TUESDAY_9)  # books patient 0
    with session_scope(sessions) as session:
        appointment = session.get_one(Appointment, appointment_id)
        appointment.patient_id = patient(session, clinic(session), 1).id
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DEAD: 1}
    assert _row(sessions, appointment_id).last_error == "no-response local-invalid"
    assert not [b for b in transport.bodies if b["resourceType"] == "Patient"]


def test_an_outage_is_retried_with_backoff_until_the_ehr_is_back(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    appointment_id, _, slug = _book(sessions)
    fhir_server.outage(status=503, count=1)
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.PENDING: 1}
    row = _row(sessions, appointment_id)
    assert (row.attempts, row.last_error) == (1, "503 transient")
    assert row.next_attempt_at == NOW + timedelta(seconds=5)
    assert _drain(sessions, ehr, prefix, NOW + timedelta(seconds=4)) == {}  # not due yet

    # The server is unreachable altogether: a connection error is transient too.
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    down = FhirEhr(f"http://127.0.0.1:{closed_port}/fhir/R4", timeout=2)
    try:
        assert _drain(sessions, down, prefix, NOW + timedelta(seconds=5)) == {
            OutboxStatus.PENDING: 1
        }
    finally:
        down.close()
    row = _row(sessions, appointment_id)
    assert row.attempts == 2
    assert row.last_error == "no-response ConnectError"
    assert row.next_attempt_at == NOW + timedelta(seconds=15)  # 5 s later, then 10 s wait

    assert _drain(sessions, ehr, prefix, NOW + timedelta(seconds=15)) == {OutboxStatus.DONE: 1}
    assert len(_ours(fhir_server, prefix, slug, appointment_id)) == 1
    assert _row(sessions, appointment_id).last_error is None


def test_too_many_transient_failures_end_in_the_dead_letters(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    appointment_id, practice_id, _ = _book(sessions)
    fhir_server.outage(status=429, count=POLICY.max_attempts)
    now = NOW
    for _attempt in range(POLICY.max_attempts):
        outcome = _drain(sessions, ehr, prefix, now)
        now = _row(sessions, appointment_id).next_attempt_at
    assert outcome == {OutboxStatus.DEAD: 1}
    row = _row(sessions, appointment_id)
    assert (row.attempts, row.last_error) == (POLICY.max_attempts, "429 transient")
    with session_scope(sessions) as session:
        assert len(dead_letters(session=session, practice_id=practice_id)) == 1


def test_a_patient_already_in_the_ehr_is_matched_not_duplicated(
    sessions: sessionmaker[Session],
    ehr: FhirEhr,
    prefix: str,
    fhir_server: FhirServer,
    transport: ValidatingTransport,
) -> None:
    # A made-up patient only this test uses: the EHR has them already, without our identifier.
    with session_scope(sessions) as session:
        practice = clinic(session)
        newcomer = patient(session, practice, 2)
        newcomer.first_name, newcomer.last_name = "Quinn", f"Fixture{prefix[-12:]}"
        family, birth_date = newcomer.last_name, newcomer.date_of_birth.isoformat()
    existing = fhir_server.create(
        {
            "resourceType": "Patient",
            "name": [{"family": family, "given": ["Quinn"]}],
            "birthDate": birth_date,
        }
    )
    appointment_id, _, slug = _book(sessions, index=2)
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DONE: 1}

    [stored] = _ours(fhir_server, prefix, slug, appointment_id)
    assert {"reference": f"Patient/{existing['id']}"} in [p["actor"] for p in stored["participant"]]
    assert len(fhir_server.search("Patient", family=family)) == 1
    # The name and birth date travelled in a POST body, never in a URL.
    assert not [b for b in transport.bodies if b.get("resourceType") == "Patient"]
    assert all(family not in url for url in transport.urls)


def test_slots_the_ehr_exposes_are_marked_busy_then_free(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    with session_scope(sessions) as session:
        practice = clinic(session)
        doctor = provider(session, practice)
        system = identifier_system(prefix=prefix, practice_slug=practice.slug)
        record = PractitionerRecord(local_id=doctor.id, display_name=doctor.display_name)
    practitioner_id = ehr.ensure_practitioner(system=system, practitioner=record)
    schedule = fhir_server.create(
        {
            "resourceType": "Schedule",
            "actor": [{"reference": f"Practitioner/{practitioner_id}"}],
        }
    )

    def slot(start: str, end: str) -> dict[str, Any]:
        return fhir_server.create(
            {
                "resourceType": "Slot",
                "schedule": {"reference": f"Schedule/{schedule['id']}"},
                "status": "free",
                "start": start,
                "end": end,
            }
        )

    covered = slot("2026-12-01T14:00:00Z", "2026-12-01T14:20:00Z")
    after = slot("2026-12-01T14:20:00Z", "2026-12-01T14:40:00Z")
    appointment_id, _, _ = _book(sessions)  # 14:00-14:20 UTC
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DONE: 1}

    def status(resource: dict[str, Any]) -> str:
        [found] = fhir_server.search("Slot", _id=resource["id"])
        return str(found["status"])

    assert (status(covered), status(after)) == ("busy", "free")
    with session_scope(sessions) as session:
        cancel_appointment(session=session, appointment_id=appointment_id, patient_id=None, now=NOW)
    assert _drain(sessions, ehr, prefix) == {OutboxStatus.DONE: 1}
    assert (status(covered), status(after)) == ("free", "free")
