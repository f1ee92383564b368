"""Appointments made or cancelled directly in the EHR hold or free our providers' time."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import make_session_factory, session_scope
from frontdesk.ehr.fhir import FhirEhr
from frontdesk.ehr.interface import PractitionerRecord, RemoteAppointment
from frontdesk.ehr.pull import PullCursor, pull_all
from frontdesk.ehr.worker import drain_once, identifier_system
from frontdesk.models import Appointment
from frontdesk.scheduling.slots import find_open_slots
from frontdesk.scheduling.timeprefs import TimePreference
from tests.conftest import AT_NOW, NOW
from tests.ehr.conftest import FhirServer
from tests.ehr.helpers import TUESDAY_1030, book, clinic, provider, visit

NY = ZoneInfo("America/New_York")


def _offered(sessions: sessionmaker[Session]) -> bool:
    """Whether the provider's Tuesday 10:30 visit is offered to patients."""
    with session_scope(sessions) as session:
        practice = clinic(session)
        local = TUESDAY_1030.astimezone(NY)
        slots = find_open_slots(
            session=session,
            practice=practice,
            visit_type=visit(session, practice),
            preference=TimePreference(days=(local.date(),), exact=local.time()),
            now=NOW,
            provider_id=provider(session, practice).id,
            limit=3,
        )
        return any(slot.start == TUESDAY_1030 for slot in slots)


def _pull(sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, cursor: PullCursor) -> int:
    return pull_all(sessions=sessions, ehr=ehr, identifier_prefix=prefix, now=NOW, cursor=cursor)


def test_time_taken_in_the_ehr_is_not_offered_and_freed_when_cancelled_there(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    with session_scope(sessions) as session:
        practice = clinic(session)
        doctor = provider(session, practice)
        system = identifier_system(prefix=prefix, practice_slug=practice.slug)
        record = PractitionerRecord(local_id=doctor.id, display_name=doctor.display_name)
    practitioner_id = ehr.ensure_practitioner(system=system, practitioner=record)
    assert _offered(sessions)

    # The practice's staff book the provider in the EHR itself, for a patient we never saw.
    made_there = fhir_server.create(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": "2026-12-01T15:30:00Z",
            "end": "2026-12-01T16:00:00Z",
            "participant": [
                {"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"}
            ],
        }
    )
    cursor = PullCursor()
    assert _pull(sessions, ehr, prefix, cursor) == 1
    assert not _offered(sessions)
    with session_scope(sessions) as session:
        [held] = session.query(Appointment).filter_by(external_id=made_there["id"]).all()
        assert (held.source, held.patient_id, held.start_at) == ("ehr", None, TUESDAY_1030)

    # Pulling again with nothing new changes nothing (and asks only for changes).
    _pull(sessions, ehr, prefix, cursor)
    with session_scope(sessions) as session:
        assert session.query(Appointment).filter_by(external_id=made_there["id"]).count() == 1

    fhir_server.update({**made_there, "status": "cancelled"})
    assert _pull(sessions, ehr, prefix, cursor) >= 1
    assert _offered(sessions)


def test_our_own_appointments_are_not_pulled_back_as_foreign(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str
) -> None:
    with session_scope(sessions) as session:
        ours = book(session, clinic(session), start=TUESDAY_1030).id
    drain_once(sessions=sessions, ehr=ehr, identifier_prefix=prefix, now=NOW)
    assert _pull(sessions, ehr, prefix, PullCursor()) == 0
    with session_scope(sessions) as session:
        pulled = session.query(Appointment).filter(Appointment.source == "ehr").count()
        assert pulled == 0
        assert session.get_one(Appointment, ours).start_at == TUESDAY_1030
    assert not _offered(sessions)


def test_the_pull_window_ignores_appointments_beyond_the_horizon(
    sessions: sessionmaker[Session], ehr: FhirEhr, prefix: str, fhir_server: FhirServer
) -> None:
    with session_scope(sessions) as session:
        practice = clinic(session)
        doctor = provider(session, practice)
        system = identifier_system(prefix=prefix, practice_slug=practice.slug)
        horizon = timedelta(days=practice.max_horizon_days + 2)
    practitioner_id = ehr.ensure_practitioner(
        system=system,
        practitioner=PractitionerRecord(local_id=doctor.id, display_name=doctor.display_name),
    )
    far = NOW + horizon
    fhir_server.create(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": far.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (far + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "participant": [
                {"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"}
            ],
        }
    )
    assert _pull(sessions, ehr, prefix, PullCursor()) == 0


def test_no_database_write_lock_is_held_while_the_ehr_is_asked(
    sqlite_engine: Engine,
    ehr: FhirEhr,
    prefix: str,
    fhir_server: FhirServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = make_session_factory(sqlite_engine, clock=AT_NOW)
    with session_scope(sessions) as session:
        practice = clinic(session)
        doctor = provider(session, practice)
        system = identifier_system(prefix=prefix, practice_slug=practice.slug)
        record = PractitionerRecord(local_id=doctor.id, display_name=doctor.display_name)
    practitioner_id = ehr.ensure_practitioner(system=system, practitioner=record)
    fhir_server.create(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": "2026-12-01T15:30:00Z",
            "end": "2026-12-01T16:00:00Z",
            "participant": [
                {"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"}
            ],
        }
    )
    database = sqlite_engine.url.database
    assert database is not None
    writes_during_requests: list[bool] = []
    real_find = ehr.find_appointments

    def find_while_a_patient_turn_writes(**kwargs: Any) -> list[RemoteAppointment]:
        # What a patient turn does meanwhile: take SQLite's write lock, briefly.
        other = sqlite3.connect(database, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            writes_during_requests.append(True)
        except sqlite3.OperationalError:  # "database is locked": the pull holds it
            writes_during_requests.append(False)
        finally:
            other.close()
        return real_find(**kwargs)

    monkeypatch.setattr(ehr, "find_appointments", find_while_a_patient_turn_writes)
    assert _pull(sessions, ehr, prefix, PullCursor()) == 1
    assert writes_during_requests == [True]
    with session_scope(sessions) as session:
        assert session.query(Appointment).filter(Appointment.source == "ehr").count() == 1


def test_a_provider_the_ehr_fails_for_is_asked_again_and_the_others_still_apply(
    sessions: sessionmaker[Session],
    ehr: FhirEhr,
    prefix: str,
    fhir_server: FhirServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with session_scope(sessions) as session:
        practice = clinic(session)
        doctor = provider(session, practice)
        system = identifier_system(prefix=prefix, practice_slug=practice.slug)
        record = PractitionerRecord(local_id=doctor.id, display_name=doctor.display_name)
    practitioner_id = ehr.ensure_practitioner(system=system, practitioner=record)
    fhir_server.create(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": "2026-12-01T15:30:00Z",
            "end": "2026-12-01T16:00:00Z",
            "participant": [
                {"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"}
            ],
        }
    )
    cursor = PullCursor()
    fhir_server.outage(status=503, count=10)
    assert _pull(sessions, ehr, prefix, cursor) == 0  # nothing applied, nothing lost
    assert cursor.seen == {}
    assert _offered(sessions)
    fhir_server.outage(status=503, count=0)
    assert _pull(sessions, ehr, prefix, cursor) == 1
    assert not _offered(sessions)
