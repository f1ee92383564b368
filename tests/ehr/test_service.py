"""The running service syncs with the EHR in the background, and only when one is configured."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from frontdesk.app import create_app
from frontdesk.db import make_session_factory, session_scope
from frontdesk.ehr import OutboxStatus, sync_state_for
from frontdesk.ehr.interface import PractitionerRecord
from frontdesk.ehr.worker import identifier_system
from frontdesk.runtime import Services
from frontdesk.scheduling.slots import find_open_slots
from frontdesk.scheduling.timeprefs import TimePreference
from frontdesk.settings import Settings
from tests.conftest import AT_NOW, NOW
from tests.doubles import ScriptedBot
from tests.ehr.conftest import FhirServer
from tests.ehr.helpers import TUESDAY_1030, book, clinic, provider, visit


def _settings(tmp_path: Path, **ehr: object) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path,
        internal_token="internal-test-token",
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        allowed_hosts="testserver",  # the TestClient's Host header
        **ehr,  # type: ignore[arg-type]
    )


def _eventually(check: Callable[[], bool], *, within: float = 20.0) -> bool:
    """Wait for background work (not a timing assertion: the bound only avoids hanging)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def test_the_service_writes_bookings_back_and_pulls_ehr_bookings(
    sqlite_engine: Engine, tmp_path: Path, fhir_server: FhirServer, prefix: str
) -> None:
    settings = _settings(
        tmp_path,
        ehr_fhir_url=fhir_server.base_url,
        ehr_identifier_system=prefix,
        ehr_worker_poll_seconds=0.05,
        ehr_pull_interval_seconds=0.1,
    )
    app = create_app(settings, engine=sqlite_engine, bot=ScriptedBot(), clock=lambda: NOW)
    with TestClient(app):
        services = _services(app)
        with services.unit_of_work() as session:
            practice = clinic(session)
            appointment_id = book(session, practice).id
            system = identifier_system(prefix=prefix, practice_slug=practice.slug)
            doctor = provider(session, practice)
            record = PractitionerRecord(local_id=doctor.id, display_name=doctor.display_name)

        def synced() -> bool:
            with services.unit_of_work() as session:
                state = sync_state_for(session=session, appointment_ids=[appointment_id])
            return state[appointment_id].status is OutboxStatus.DONE

        assert _eventually(synced)
        found = fhir_server.search(
            "Appointment", identifier=f"{system}|appointment-{appointment_id}"
        )
        assert len(found) == 1

        local = TUESDAY_1030.astimezone(ZoneInfo(practice.timezone))

        def blocked() -> bool:
            with services.unit_of_work() as session:
                practice = clinic(session)
                slots = find_open_slots(
                    session=session,
                    practice=practice,
                    visit_type=visit(session, practice),
                    preference=TimePreference(days=(local.date(),), exact=local.time()),
                    now=NOW,
                    provider_id=doctor.id,
                )
            return all(slot.start != TUESDAY_1030 for slot in slots)

        assert not blocked()
        practitioner_id = app.state.ehr_sync.ehr.ensure_practitioner(
            system=system, practitioner=record
        )
        fhir_server.create(
            {
                "resourceType": "Appointment",
                "status": "booked",
                "start": "2026-12-01T15:30:00Z",
                "end": "2026-12-01T16:00:00Z",
                "participant": [
                    {
                        "actor": {"reference": f"Practitioner/{practitioner_id}"},
                        "status": "accepted",
                    }
                ],
            }
        )

        assert _eventually(blocked)


def test_with_no_ehr_configured_nothing_runs_and_bookings_still_work(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    app = create_app(
        _settings(tmp_path), engine=sqlite_engine, bot=ScriptedBot(), clock=lambda: NOW
    )
    with TestClient(app):
        assert app.state.ehr_sync.ehr.configured is False
        assert app.state.ehr_sync._tasks == []
        with session_scope(make_session_factory(sqlite_engine, clock=AT_NOW)) as session:
            appointment = book(session, clinic(session))
        with session_scope(make_session_factory(sqlite_engine, clock=AT_NOW)) as session:
            state = sync_state_for(session=session, appointment_ids=[appointment.id])
        # Recorded (an EHR connected later gets it) but never attempted.
        assert (state[appointment.id].status, state[appointment.id].attempts) == (
            OutboxStatus.PENDING,
            0,
        )
